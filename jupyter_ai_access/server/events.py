"""Audit events of the user's server, on the Jupyter server's event bus (``jupyter_events``).

Schemas (versioned, shipped in ``event_schemas/<name>/v<N>.yaml``; ``additionalProperties:
false``, so no field outside the schema can slip in) and when they are emitted:

========================  ====================================================================
``tokens_delivered``      tokens reached a kernel: at launch, after a renewal, from the endpoint
                          (user, kernel id, expiry, SHA-256 of the session's ``origin_jti``)
``renewal``               every fetch from the Hub (result, duration) and every change the
                          session watch brings
``kernel_refusal``        the loopback endpoint refused a request (reason, status)
``session_ended``         the Hub said the session is over (first time only)
``aws_credentials_issued`` temporary AWS credentials issued (role, expiry):
                          :meth:`ServerEvents.aws_credentials_issued`, for the AWS delivery
========================  ====================================================================

No field ever holds a token, a secret or a request's headers. Route them with the server's
``EventLogger`` (``c.EventLogger.handlers``) or listen with ``event_logger.add_listener``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from .broker import TokenBroker, TokenSet
from .store import KernelTokenStore

if TYPE_CHECKING:
    from jupyter_events import EventLogger

__all__ = ["SCHEMAS_DIR", "SCHEMA_IDS", "ServerEvents", "origin_jti_sha256", "schema_id"]

SCHEMAS_DIR: Final = Path(__file__).parent / "event_schemas"
_ROOT: Final = "https://github.com/jupyter-ai-access/jupyter_ai_access/events"
_NAMES: Final = (
    "tokens_delivered",
    "renewal",
    "kernel_refusal",
    "session_ended",
    "aws_credentials_issued",
)


def schema_id(name: str, version: int = 1) -> str:
    """The ``$id`` of one of our event schemas."""
    return f"{_ROOT}/{name}/v{version}"


#: Every schema this package registers, by short name.
SCHEMA_IDS: Final = {name: schema_id(name) for name in _NAMES}


def origin_jti_sha256(access_token: str) -> str | None:
    """Hex SHA-256 of the access token's ``origin_jti``, read without verification (the server
    trusts its Hub, which verified the token); None when the token has none."""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return None
    value = claims.get("origin_jti") if isinstance(claims, dict) else None
    return hashlib.sha256(value.encode()).hexdigest() if isinstance(value, str) else None


class ServerEvents:
    """Emits this server's audit events on ``event_logger`` (the server's ``EventLogger``)."""

    def __init__(
        self,
        event_logger: EventLogger,
        broker: TokenBroker,
        store: KernelTokenStore,
        log: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        self.event_logger = event_logger
        self.broker = broker
        self.store = store
        self.log = log or logging.getLogger(__name__)
        for name in _NAMES:
            if SCHEMA_IDS[name] not in event_logger.schemas:  # a restarted extension: done
                event_logger.register_event_schema(SCHEMAS_DIR / name / "v1.yaml")
        broker.observers.append(self._broker_changed)
        broker.listeners.append(self._files_renewed)  # after the store's: files written first

    def close(self) -> None:
        """Stop following the broker."""
        for hooks, hook in (
            (self.broker.observers, self._broker_changed),
            (self.broker.listeners, self._files_renewed),
        ):
            if hook in hooks:
                hooks.remove(hook)  # type: ignore[arg-type]

    # ---------------------------------------------------------------- emitters
    def delivered(self, kernel_id: str, tokens: TokenSet, via: str, kind: str = "both") -> None:
        """Tokens reached ``kernel_id`` (``via`` launch, renewal or endpoint)."""
        expires = {"access": tokens.access_expires_at, "id": tokens.id_expires_at}
        self._emit(
            "tokens_delivered",
            {
                "user": self.broker.source.user,
                "kernel_id": kernel_id,
                "via": via,
                "kind": kind,
                "expires_at": float(expires.get(kind, tokens.expires_at)),
                "origin_jti_sha256": origin_jti_sha256(tokens.access_token),
            },
        )

    def refused(self, reason: str, status: int, kernel_id: str | None = None) -> None:
        """The loopback endpoint refused a request."""
        data = {"user": self.broker.source.user, "reason": reason, "status": status}
        self._emit("kernel_refusal", {**data, "kernel_id": kernel_id})

    def aws_credentials_issued(
        self,
        *,
        role_arn: str,
        expires_at: float,
        method: str,
        kernel_id: str | None = None,
    ) -> None:
        """Temporary AWS credentials were issued (``method``: ``identity_pool`` or
        ``assume_role_with_web_identity``). Pass the role and expiry, never a key."""
        self._emit(
            "aws_credentials_issued",
            {
                "user": self.broker.source.user,
                "role_arn": role_arn,
                "expires_at": float(expires_at),
                "method": method,
                "kernel_id": kernel_id,
            },
        )

    # ---------------------------------------------------------------- broker hooks
    def _broker_changed(self, kind: str, detail: dict[str, Any]) -> None:
        tokens = detail.get("tokens")
        self._emit(
            "renewal",
            {
                "user": self.broker.source.user,
                "result": detail["result"],
                "via": detail["via"],
                "duration_seconds": detail.get("duration"),
                "expires_at": float(tokens.expires_at) if isinstance(tokens, TokenSet) else None,
            },
        )
        if kind == "ended" and detail.get("first"):
            data: dict[str, Any] = {
                "user": self.broker.source.user,
                "via": detail["via"],
                "kernels": len(self.store.kernels),
            }
            login_url = getattr(detail.get("error"), "login_url", "")
            if login_url:
                data["login_url"] = login_url
            self._emit("session_ended", data)

    def _files_renewed(self, tokens: TokenSet | None) -> None:
        if tokens is None:
            return
        for kernel_id in list(self.store.kernels):
            self.delivered(kernel_id, tokens, via="renewal")

    def _emit(self, name: str, data: dict[str, Any]) -> None:
        try:
            self.event_logger.emit(schema_id=SCHEMA_IDS[name], data=data)
        except Exception:  # an audit sink's failure must not stop token delivery
            self.log.exception("Could not emit the %s event", name)
