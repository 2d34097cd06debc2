"""The Hub's audit records: one JSON object per line on the logger ``jupyter_ai_access.audit``.

JupyterHub has no event bus, so the Hub's side of the audit trail is structured log lines, each
also counted in :mod:`.metrics`. Records (``event`` field) and their other fields:

==================  ===========================================================================
``login``           ``result`` (allowed, refused), ``reason``, ``user`` (when known), ``status``
``refresh``         ``user``, ``result``, ``duration_seconds``
``revocation``      ``user``, ``result`` (revoked, failed, skipped)
``session_ended``   ``user``, ``cause``, ``origin_jti_sha256`` (the session on the revocation feed)
``tokens_handed``   ``user``, the token that asked (``requester``: its owner's name,
                    ``requester_kind``: user or service, ``token_id``: JupyterHub's id such as
                    ``a12``, ``token_note``, ``server``: the owner's server it was issued to, or
                    null), ``mode`` (fetch, watch), ``expires_at``, ``origin_jti_sha256``;
                    one line per session change and token, however many watches it wakes
``tokens_refused``  ``user``, the same token fields, ``reason`` (not_a_server_token)
``token_exchanged`` ``user``, ``audience``, ``scopes``, ``actor`` (the client id the token's
                    ``act`` names, or null), ``expires_at``, ``origin_jti_sha256``: one line per
                    exchange at Cognito (a cached token handed again writes none)
``exchange_failed`` ``user``, ``audience``, ``result`` (exchange_refused, idp_unavailable,
                    audience_refused), ``code`` (Cognito's error code, or empty)
aws_session_denied  ``user``, ``role_arn``, ``result`` (denied, failed), ``not_before`` (the
                    logout written: credentials issued earlier are denied), ``attempts``,
                    ``dropped`` (entries dropped to fit IAM's size limit), ``code`` (AWS's
                    error code on failure): :mod:`.aws_deny`, one line per role and session end
==================  ===========================================================================

Every record has ``ts`` (seconds since the epoch) and ``event``. No field ever holds a token, a
secret or text from a request; sessions are named by the SHA-256 of their ``origin_jti``. Route
the logger like any other (a ``FileHandler`` with ``Formatter("%(message)s")`` writes JSON lines);
with ``CognitoOAuthenticator.audit_to_hub_log`` (default) the lines also go to the Hub's log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any, Final

from tornado import web

from ..protocol import ErrorCode, SessionEnd
from . import metrics

__all__ = ["AUDIT_LOGGER", "HubAudit", "RefusedLogin", "session_cause"]

#: The dedicated logger's name.
AUDIT_LOGGER: Final = "jupyter_ai_access.audit"

#: oauthenticator's own refusals in the callback, by the start of their message.
_OAUTH_REFUSALS: Final = (
    ("OAuth state", "state_invalid"),
    ("OAuth error", "idp_error"),
    ("OAuth callback made without a code", "no_code"),
)


def session_cause(reason: SessionEnd | str) -> str:
    """The metric label (and audit ``cause``) for an ``end_session`` reason: its value."""
    try:
        return SessionEnd(reason).value
    except ValueError:
        return "other"


def _sha256(value: Any) -> str | None:
    return hashlib.sha256(value.encode()).hexdigest() if isinstance(value, str) and value else None


class RefusedLogin(web.HTTPError):
    """A refused login: the error page the browser sees, and the reason the audit names."""

    def __init__(self, status_code: int, audit_reason: str, message: str) -> None:
        super().__init__(status_code, message)
        self.audit_reason = metrics.label(audit_reason, metrics.LOGIN_REASONS)


class _ToHubLog(logging.Handler):
    """Hands audit records to the Hub's own log handlers (JupyterHub's log does not propagate)."""

    def __init__(self) -> None:
        super().__init__()
        self.target: logging.Logger | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.target is not None:
            self.target.handle(record)


_FORWARD = _ToHubLog()


class HubAudit:
    """Writes the Hub's audit records and counts them in the Prometheus metrics."""

    def __init__(self, hub_log: Any = None, *, to_hub_log: bool = True) -> None:
        self.logger = logging.getLogger(AUDIT_LOGGER)
        self.logger.setLevel(logging.INFO)
        target = getattr(hub_log, "logger", hub_log)  # a LoggerAdapter's logger
        if to_hub_log and isinstance(target, logging.Logger) and not target.propagate:
            _FORWARD.target = target
            if _FORWARD not in self.logger.handlers:
                self.logger.addHandler(_FORWARD)
        elif not to_hub_log and _FORWARD in self.logger.handlers:
            self.logger.removeHandler(_FORWARD)

    def record(self, event: str, **fields: Any) -> None:
        """Write one audit line: ``{"ts": ..., "event": ..., **fields}``."""
        self.logger.info(json.dumps({"ts": round(time.time(), 3), "event": event, **fields}))

    # ---------------------------------------------------------------- logins
    def login_allowed(self, user: str, admin: bool | None) -> None:
        """A login went through."""
        metrics.LOGINS.labels(result="allowed", reason="none").inc()
        self.record("login", result="allowed", reason="none", user=user, admin=bool(admin))

    def login_refused(self, error: Exception, user: str | None, *, not_allowed: bool) -> None:
        """A login was refused: ``error`` is the ``web.HTTPError`` shown to the browser."""
        reason = "not_allowed" if not_allowed else self.refusal_reason(error)
        metrics.LOGINS.labels(result="refused", reason=reason).inc()
        status = getattr(error, "status_code", None)
        self.record("login", result="refused", reason=reason, user=user, status=status)

    @staticmethod
    def refusal_reason(error: Exception) -> str:
        """The reason label of a refused login's error."""
        if isinstance(error, RefusedLogin):
            return error.audit_reason
        message = str(getattr(error, "log_message", "") or "")
        for prefix, name in _OAUTH_REFUSALS:
            if message.startswith(prefix):
                return name
        return "other"

    # ---------------------------------------------------------------- refresh and session end
    def refresh(self, user: str, result: str, started: float) -> None:
        """A refresh at Cognito ended with ``result`` (``started``: its ``time.monotonic()``)."""
        result = metrics.label(result, metrics.REFRESH_RESULTS)
        duration = time.monotonic() - started
        metrics.REFRESHES.labels(result=result).inc()
        metrics.REFRESH_SECONDS.labels(result=result).observe(duration)
        self.record("refresh", user=user, result=result, duration_seconds=round(duration, 4))

    def session_ended(
        self, user: str, reason: SessionEnd, origin_jti: Any, revoked: bool | None
    ) -> None:
        """A session ended (``revoked``: None when revocation was not attempted)."""
        cause = session_cause(reason)
        metrics.SESSION_ENDS.labels(cause=cause).inc()
        result = "skipped" if revoked is None else ("revoked" if revoked else "failed")
        self.record("revocation", user=user, result=result)
        self.record("session_ended", user=user, cause=cause, origin_jti_sha256=_sha256(origin_jti))

    # ---------------------------------------------------------------- the token endpoint
    def token_request(self, status: int, mode: str) -> None:
        """Count one answer of the token endpoint."""
        answers = {
            200: "tokens",
            400: "bad_request",
            401: ErrorCode.LOGIN_REQUIRED.value,
            403: "forbidden",
            404: "not_found",
            409: "superseded",
            429: ErrorCode.RATE_LIMITED.value,
            503: ErrorCode.IDP_UNAVAILABLE.value,
        }
        answer = answers.get(status, "error" if status >= 500 else "other")
        metrics.TOKEN_REQUESTS.labels(answer=answer, mode=mode).inc()

    def tokens_handed(
        self, user: str, caller: dict[str, Any], mode: str, state: dict[str, Any]
    ) -> None:
        """Tokens went to a server (or service) that did not hold them yet.

        ``caller``: the token's fields (:meth:`.callers.Caller.audit_fields`); ``state``: the
        handed auth_state's ``expires_at`` and ``origin_jti``.
        """
        self.record(
            "tokens_handed",
            user=user,
            **caller,
            mode=mode,
            expires_at=state.get("expires_at"),
            origin_jti_sha256=_sha256(state.get("origin_jti")),
        )

    def tokens_refused(self, user: str, caller: dict[str, Any], reason: str) -> None:
        """A token with the scope was refused the user's tokens (not the user's server's)."""
        self.record("tokens_refused", user=user, **caller, reason=reason)

    # ---------------------------------------------------------------- per-resource tokens
    def token_exchanged(
        self,
        user: str,
        *,
        audience: str,
        scopes: list[str],
        actor: str | None,
        expires_at: float,
        origin_jti: Any,
    ) -> None:
        """Cognito issued a per-resource token for ``user`` (one record per exchange)."""
        metrics.EXCHANGES.labels(result="exchanged").inc()
        self.record(
            "token_exchanged",
            user=user,
            audience=audience,
            scopes=list(scopes),
            actor=actor,
            expires_at=expires_at,
            origin_jti_sha256=_sha256(origin_jti),
        )

    def exchange_failed(self, user: str, audience: str, result: str, code: str) -> None:
        """An exchange was refused (by the policy or Cognito) or Cognito was unreachable."""
        result = metrics.label(str(result), metrics.EXCHANGE_RESULTS)
        metrics.EXCHANGES.labels(result=result).inc()
        self.record("exchange_failed", user=user, audience=audience, result=result, code=code[:64])
