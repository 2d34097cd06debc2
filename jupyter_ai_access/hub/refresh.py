"""Refreshing a user's Cognito tokens ahead of expiry, once per user, with backoff.

- due when the access or ID token expires within ``refresh_margin`` (stored expiry times: no
  expired token is decoded), or when the last refresh is ``recheck_interval`` old (a removal
  from the groups shows within that, not only at expiry);
- one refresh per user at a time however many requests race (:class:`~jupyter_ai_access.retry.
  SingleFlight` keyed by user), persisted before the flight lands so waiters see the new tokens;
- Cognito returns no refresh token → keep ours; rotation → store the new one;
- ``invalid_grant`` → tokens dropped, log in again; Cognito down → keep the session while the tokens
  are valid, retry after 5 s doubling to ``refresh_retry_max``;
- the user left the allowed groups → admin and managed groups removed, refresh token revoked;
- every session end (also logout and deletion, in :mod:`.authenticator`) goes through
  :meth:`HubSessions.end_session`: tokens dropped (per-resource ones too: ``on_session_end``),
  the session's ``origin_jti`` on the revocation feed, and the user's servers woken so that
  their kernels are refused within seconds.

:class:`HubSessions` is one object the authenticator holds (``authenticator.sessions``), not a
layer of its class: it asks the authenticator only for its settings, its Cognito client
(``authenticator.cognito``: the core's refresh grant and verification, as the standalone server's)
and its allow decision. The refresh token is kept sealed in auth_state (:mod:`.sealing`); only
this object unseals it.
Both the seal's key and the ended sessions survive a Hub restart: the key comes from the
deployment's crypt keys (never a throwaway one), the ended sessions from ``revocations_file``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any, Protocol

from tornado import web

from ..cognito.client import CognitoClient
from ..errors import (
    ConfigurationError,
    IdentityProviderError,
    LoginRequiredError,
    TokenEndpointError,
    TokenError,
)
from ..protocol import SessionEnd
from ..retry import Backoff, SingleFlight
from ._compat import commit_user, token_to_auth_model
from .audit import HubAudit
from .cognito import TokenResponse
from .revocation_store import RevocationFile
from .sealing import RefreshTokenSeal, seal_for_hub
from .sessions import EndedSessions, SessionEvents

__all__ = ["HubSessions", "SessionOwner"]


class SessionOwner(Protocol):
    """What :class:`HubSessions` uses of its authenticator (``CognitoOAuthenticator``)."""

    log: logging.Logger
    parent: Any  # the JupyterHub application
    cognito: CognitoClient
    audit_to_hub_log: bool
    enable_auth_state: bool
    manage_groups: bool
    refresh_token_key: str
    revocations_file: str
    refresh_margin: int
    recheck_interval: float
    refresh_retry_max: float

    def clock(self) -> float: ...

    async def discover(self) -> dict[str, Any]: ...

    async def revoke(self, refresh_token: str | None) -> bool: ...

    def check_blocked_users(self, username: str, auth_model: dict[str, Any]) -> bool: ...

    async def is_allowed(self, username: str, auth_model: dict[str, Any]) -> bool: ...


class HubSessions:
    """Refreshes and ends the sessions of one authenticator's users."""

    def __init__(self, auth: SessionOwner) -> None:
        self.auth = auth
        self.log = auth.log
        self._refresh_flight: SingleFlight[Any] = SingleFlight()
        self._refresh_backoff: dict[str, Backoff] = {}
        self._retry_at: dict[str, float] = {}  # user -> when the next attempt may run
        self._seal: RefreshTokenSeal | None = None
        self.session_events = SessionEvents()
        self.ended_sessions = EndedSessions()
        self.audit = HubAudit(self.log, to_hub_log=auth.audit_to_hub_log)
        #: called with the user's name at every session end (the per-resource token cache)
        self.on_session_end: list[Callable[[str], object]] = []

    @property
    def seal(self) -> RefreshTokenSeal:
        """Seals the refresh token in auth_state (refresh_token_key, else the crypt keys).

        Raises :class:`ConfigurationError` when there is no key (never a throwaway key).
        """
        if self._seal is None:
            from jupyterhub.crypto import CryptKeeper

            self._seal = seal_for_hub(
                self.auth.refresh_token_key,
                list(CryptKeeper.instance().keys),
                os.environ.get("JUPYTERHUB_CRYPT_KEY", ""),
                setting=f"{type(self.auth).__name__}.refresh_token_key",
            )
        return self._seal

    def revocations_path(self) -> str:
        """``revocations_file``, or its default beside the Hub's database (or cookie secret)."""
        if self.auth.revocations_file:
            return os.path.abspath(str(self.auth.revocations_file))
        hub = self.auth.parent
        db_url = str(getattr(hub, "db_url", "") or "")
        if db_url.startswith("sqlite:///") and db_url != "sqlite:///:memory:":
            folder = os.path.dirname(os.path.abspath(db_url[len("sqlite:///") :].split("?")[0]))
        else:
            secret = str(getattr(hub, "cookie_secret_file", "") or "jupyterhub_cookie_secret")
            folder = os.path.dirname(os.path.abspath(secret))
        return os.path.join(folder, "jupyter_ai_access_revocations.json")

    def check_at_start(self) -> None:
        """Refuse to start without a sealing key, or with an unusable revocation file."""
        try:
            if self.auth.enable_auth_state:
                _ = self.seal
            path = self.revocations_path()
            setting = f"{type(self.auth).__name__}.revocations_file"
            store = RevocationFile(path, setting=setting)
            self.ended_sessions = EndedSessions(store=store, log=self.log)
        except ConfigurationError as e:
            self.log.debug("Configuration refused", exc_info=True)
            self.log.error("%s", e)
            raise SystemExit(1) from None
        self.log.info(
            "Revocation feed kept in %s (%d ended sessions loaded)",
            path,
            len(self.ended_sessions.current()),
        )

    async def end_session(
        self, user: Any, auth_state: dict[str, Any], reason: SessionEnd, *, revoke: bool
    ) -> None:
        """End the user's session everywhere: tokens dropped, servers woken, feed updated.

        What kernels and resources hold ends first (the feed, auth_state without tokens, the
        servers' watches woken); then the refresh token is revoked at Cognito, so a slow or
        busy Cognito (a mass logout) does not delay the kernels' session end. The refresh token
        lives only in this ``auth_state`` copy by then: a revocation that fails is logged and
        audited, as before."""
        self.ended_sessions.add(
            auth_state.get("origin_jti"), auth_state.get("access_token_expires_at")
        )
        if any(auth_state.get(k) for k in ("access_token", "id_token", "refresh_token")):
            await user.save_auth_state(self._without_tokens(auth_state))
        for hook in self.on_session_end:
            hook(user.name)
        self.session_events.changed(user.name)
        revoked = None
        if revoke:
            revoked = await self.auth.revoke(self.seal.unseal(auth_state.get("refresh_token")))
        self.log.info(
            "Session of %s ended (%s): its servers' tokens are withdrawn", user.name, reason
        )
        self.audit.session_ended(user.name, reason, auth_state.get("origin_jti"), revoked)

    # ---------------------------------------------------------------- refresh
    def needs_refresh(self, auth_state: dict[str, Any], now: float | None = None) -> bool:
        """True when a token expires within ``refresh_margin`` seconds, or the last refresh
        (or login) is ``recheck_interval`` seconds old: the session is re-checked at Cognito."""
        now = self.auth.clock() if now is None else now
        soonest = min(
            auth_state.get("access_token_expires_at") or 0,
            auth_state.get("id_token_expires_at") or 0,
        )
        if soonest - now <= self.auth.refresh_margin:
            return True
        checked = auth_state.get("refreshed_at") or 0
        interval = self.auth.recheck_interval
        return bool(interval) and now - checked >= interval

    async def refresh_user(self, user: Any) -> Any:
        """Refresh the tokens ahead of expiry, once per user at a time.

        Returns True (nothing to do, or Cognito unreachable while tokens are still usable),
        False (the user must log in again) or a new auth model (new tokens, groups, admin).
        """
        auth_state = await user.get_auth_state()
        if not auth_state or not auth_state.get("refresh_token"):
            return False
        if not self.needs_refresh(auth_state):
            return True
        return await self._refresh_flight.run(lambda: self._refresh_once(user), key=user.name)

    async def _refresh_once(self, user: Any) -> Any:
        auth_state = await user.get_auth_state()  # a flight that just landed may have refreshed
        if not auth_state or not auth_state.get("refresh_token"):
            return False
        if not self.needs_refresh(auth_state):
            return True
        return await self._refresh_locked(user, auth_state)

    async def _refresh_locked(self, user: Any, auth_state: dict[str, Any]) -> Any:
        now = self.auth.clock()
        if now < self._retry_at.get(user.name, 0.0):
            return True
        refresh_token = self.seal.unseal(auth_state["refresh_token"])
        started = time.monotonic()
        if not refresh_token:
            self.log.warning("The sealed refresh token of %s cannot be opened", user.name)
            self.audit.refresh(user.name, "unreadable", started)
            await self.end_session(
                user, auth_state, SessionEnd.REFRESH_TOKEN_UNREADABLE, revoke=False
            )
            return False
        try:
            await self.auth.discover()
            answer, verified = await self.auth.cognito.refresh(refresh_token)  # keeps ours
            auth_model = await token_to_auth_model(self.auth, TokenResponse.of(answer, verified))
        except LoginRequiredError:
            self.log.info("Refresh token of %s refused (invalid_grant): login required", user.name)
            self.audit.refresh(user.name, "invalid_grant", started)
            await self.end_session(user, auth_state, SessionEnd.INVALID_GRANT, revoke=False)
            return False
        except (IdentityProviderError, TokenEndpointError) as e:
            failure = "refused" if isinstance(e, TokenEndpointError) else "idp_unavailable"
            self.audit.refresh(user.name, failure, started)
            backoff = self._refresh_backoff.setdefault(
                user.name, Backoff(5.0, max(5.0, self.auth.refresh_retry_max))
            )
            wait = backoff.failed()
            self._retry_at[user.name] = now + wait
            usable = (auth_state.get("access_token_expires_at") or 0) > now
            self.log.warning(
                "Refreshing tokens of %s failed (%s); %s; retrying in %.0f s",
                user.name,
                e,
                "keeping the current ones" if usable else "the current ones have expired",
                wait,
            )
            return True
        except (TokenError, web.HTTPError) as e:
            self.log.warning("Refreshed tokens of %s failed verification: %s", user.name, e)
            self.audit.refresh(user.name, "token_invalid", started)
            await self.end_session(user, auth_state, SessionEnd.REFRESH_REFUSED, revoke=True)
            return False
        self._retry_at.pop(user.name, None)
        self._refresh_backoff.pop(user.name, None)
        if auth_model["auth_state"]["sub"] != auth_state.get("sub"):
            self.log.warning("Refresh for %s returned another identity: login required", user.name)
            self.audit.refresh(user.name, "identity_changed", started)
            await self.end_session(user, auth_state, SessionEnd.IDENTITY_CHANGED, revoke=True)
            return False
        name = auth_model["name"]
        if not self.auth.check_blocked_users(name, auth_model) or not await self.auth.is_allowed(
            name, auth_model
        ):
            self.log.info("%s is no longer in an allowed group: access removed", user.name)
            self.audit.refresh(user.name, "not_allowed", started)
            await self._demote(user, auth_model, auth_state)
            return False
        # Persist before the per-user lock is released: JupyterHub saves the model only after
        # refresh_user returns, and a waiter must not read the old (maybe rotated) tokens.
        await user.save_auth_state(auth_model["auth_state"])
        self.session_events.changed(user.name)
        self.log.info("Refreshed Cognito tokens of %s", user.name)
        self.audit.refresh(user.name, "ok", started)
        return auth_model

    async def _demote(
        self, user: Any, auth_model: dict[str, Any], auth_state: dict[str, Any]
    ) -> None:
        """A user refused at refresh loses admin and managed groups and their tokens."""
        if auth_model.get("admin") is False and user.admin:
            user.admin = False
            commit_user(user)
        if self.auth.manage_groups and auth_model.get("groups") is not None:
            user.sync_groups(auth_model["groups"])
        await self.end_session(user, auth_state, SessionEnd.LEFT_ALLOWED_GROUPS, revoke=True)

    @staticmethod
    def _without_tokens(auth_state: dict[str, Any]) -> dict[str, Any]:
        """auth_state with every token removed; the sub binding stays."""
        keep = ("sub", "cognito_username", "cognito_groups")
        return {k: v for k, v in auth_state.items() if k in keep}
