"""JupyterHub authenticator for Amazon Cognito user pools (entry point name ``cognito``).

A subclass of oauthenticator's ``GenericOAuthenticator`` that overrides its documented hooks (the
few private names it needs go through :mod:`._compat`):

- configuration from a few settings (region + user pool id or issuer, the user-pool domain, client
  id and secret); endpoints from OIDC discovery (the issuer must match exactly);
- login: code flow, PKCE S256, a per-login nonce; the ID token (and the access token) verified
  with :class:`~jupyter_ai_access.cognito.verify.CognitoTokenVerifier`: signature by ``kid``, exact
  issuer, ``aud`` / ``client_id``, ``exp``, ``iat``, ``token_use``, nonce. userinfo is never called;
- identity: username from a configurable claim (``email`` only when ``email_verified``), bound to
  ``sub`` so that another identity cannot take an existing name;
- groups: ``cognito:groups`` from the verified ID token drive ``allowed_groups``, ``admin_groups``
  and JupyterHub group membership, at login and at every refresh;
- auth_state (encrypted by JupyterHub): tokens and their expiry times, ``sub``, username, groups;
- refresh before expiry, once per user at a time; ``invalid_grant`` → log in again; an IdP outage
  keeps the session while the tokens are valid and retries with backoff;
- logout: revoke the refresh token, drop the tokens, end the hosted-UI session.

Parts by responsibility (configured as ``c.CognitoOAuthenticator``): the settings are traitlets
mixins (:class:`~jupyter_ai_access.cognito.settings.CognitoSettings`, shared with the standalone
server, and the Hub's :class:`~.settings.HubSettings`); the authenticator *holds* the core's
:class:`~jupyter_ai_access.cognito.client.CognitoClient` (``self.cognito``: discovery, the token
endpoint, verification, revocation) and a :class:`~.refresh.HubSessions` (``self.sessions``:
refresh, backoff, session ends); :mod:`.cognito` maps the login's failures onto pages; this
module keeps the user model, logout and the Hub handlers. Private names of JupyterHub and
oauthenticator are reached only through :mod:`._compat`. Per-resource tokens (RFC 8693) are
:class:`~.exchange.Exchanger` (``self.exchanger``, settings in :mod:`.exchange_settings`, served
by :mod:`.exchange_api`).
"""

from __future__ import annotations

import html
import time
from typing import Any

from jupyterhub.utils import url_path_join
from oauthenticator.generic import GenericOAuthenticator

from ..cognito.client import CognitoClient
from ..errors import ConfigurationError
from ..protocol import CognitoEnv, SessionEnd
from . import _compat
from .audit import HubAudit, RefusedLogin
from .aws_deny import AWSSessionEndDeny
from .cognito import (
    LOGIN_FAILURES,
    TokenResponse,
    VerifiedClaims,
    discover,
    exchange_code,
    login_refusal,
)
from .endpoint_limits import Buckets, TokenEndpointLimits
from .exchange import Exchanger
from .exchange_api import EXCHANGE_ROUTE, ExchangeAPIHandler
from .exchange_settings import ExchangeSettings
from .handlers import (
    CognitoCallbackHandler,
    CognitoLoginHandler,
    CognitoLogoutCompleteHandler,
    CognitoLogoutHandler,
)
from .refresh import HubSessions
from .revocations_api import REVOCATIONS_ROUTE, RevocationsAPIHandler
from .sealing import RefreshTokenSeal
from .sessions import EndedSessions, SessionEvents
from .settings import HubSettings
from .tokens_api import HANDLER_ROUTE, TokensAPIHandler

__all__ = ["CognitoOAuthenticator"]


class CognitoOAuthenticator(
    HubSettings, ExchangeSettings, GenericOAuthenticator, TokenEndpointLimits
):
    """Log in to JupyterHub with an Amazon Cognito user pool (OpenID Connect, verified)."""

    login_handler = CognitoLoginHandler
    callback_handler = CognitoCallbackHandler
    logout_handler = CognitoLogoutHandler
    client_id_env = CognitoEnv.CLIENT_ID
    client_secret_env = CognitoEnv.CLIENT_SECRET
    user_auth_state_key = "cognito_user"
    #: wall-clock seconds for expiry and recheck decisions (tests move it instead of sleeping)
    clock = staticmethod(time.time)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cognito: CognitoClient | None = None
        self.sessions = HubSessions(self)
        #: per-resource tokens (RFC 8693): withdrawn with everything else at session end
        self.exchanger = Exchanger(self)
        self.exchange_buckets = Buckets()
        self.sessions.on_session_end.append(self.exchanger.drop_user)
        #: opt-in (AWSSessionEndDeny.enabled): the person's AWS credentials denied by IAM
        self.aws_session_deny = AWSSessionEndDeny(parent=self, audit=self.sessions.audit)
        self.sessions.on_session_end.append(self.aws_session_deny.session_ended)

    # ---------------------------------------------------------------- the parts it holds
    @property
    def cognito(self) -> CognitoClient:
        """The core's client for this pool and app client (built once the settings are valid)."""
        if self._cognito is None:
            self.validate_settings()
            explicit = "token_url" in self.explicit_endpoints()
            self._cognito = self.make_cognito_client(
                token_url=self.token_url if explicit else "",
                validate_cert=self.validate_server_cert,
            )
        return self._cognito

    @property
    def session_events(self) -> SessionEvents:
        """Wakes a user's servers when their session changes (see :class:`.HubSessions`)."""
        return self.sessions.session_events

    @property
    def ended_sessions(self) -> EndedSessions:
        """The revocation feed's ended sessions."""
        return self.sessions.ended_sessions

    @property
    def audit(self) -> HubAudit:
        """The audit records."""
        return self.sessions.audit

    @property
    def seal(self) -> RefreshTokenSeal:
        """Seals the refresh token in auth_state."""
        return self.sessions.seal

    def check_allow_config(self) -> None:
        """Refuse to start with wrong settings, no sealing key or no revocation file."""
        super().check_allow_config()
        self.check_settings_at_start()
        try:
            self.check_exchange_settings()
        except ConfigurationError as e:
            self.log.error("%s", e)
            raise SystemExit(1) from None
        self.sessions.check_at_start()

    async def discover(self) -> dict[str, Any]:
        """The pool's discovery document (once); fills the endpoint URLs not configured."""
        return await discover(self, self.cognito)

    async def revoke(self, refresh_token: str | None) -> bool:
        """Revoke a refresh token at Cognito (False, logged without token text, on failure)."""
        try:
            await self.discover()
        except LOGIN_FAILURES as e:
            self.log.warning("Could not revoke the refresh token: %s", e)
            return False
        return await self.cognito.revoke(refresh_token)

    def needs_refresh(self, auth_state: dict[str, Any], now: float | None = None) -> bool:
        """Whether the tokens are due for a refresh (see :meth:`.HubSessions.needs_refresh`)."""
        return self.sessions.needs_refresh(auth_state, now)

    async def end_session(
        self, user: Any, auth_state: dict[str, Any], reason: SessionEnd, *, revoke: bool
    ) -> None:
        """End the user's session everywhere (see :meth:`.HubSessions.end_session`)."""
        await self.sessions.end_session(user, auth_state, reason, revoke=revoke)

    async def refresh_user(self, user: Any, handler: Any = None, **kwargs: Any) -> Any:
        """Refresh the tokens ahead of expiry, once per user at a time (JupyterHub's hook)."""
        return await self.sessions.refresh_user(user)

    # ---------------------------------------------------------------- login
    async def authenticate(self, handler: Any, data: Any = None, **kwargs: Any) -> Any:
        """The login's code → the user model: oauthenticator 17's steps on every supported
        version (see :mod:`._compat`)."""
        return await _compat.authenticate(self, handler, data)

    async def get_token_info(self, handler: Any, params: dict[str, Any]) -> TokenResponse:
        """Exchange the login's code; verify the ID (with the nonce) and access tokens.

        Errors never contain token text; they become clear login pages.
        """
        params = _compat.pkce_token_params(handler, params)  # oauthenticator 16 sends none
        try:
            await self.discover()
            token_info = await exchange_code(self.cognito, handler, params)
        except LOGIN_FAILURES as e:
            raise login_refusal(e, self.log) from None
        handler.verified_claims = token_info.verified  # names a refused user in the audit
        return token_info

    # ---------------------------------------------------------------- user model hooks
    async def _verified(self, token_info: dict[str, Any]) -> VerifiedClaims:
        if isinstance(token_info, TokenResponse) and token_info.verified is not None:
            return token_info.verified
        verified = await self.cognito.verify_answer(token_info, nonce=None)
        if isinstance(token_info, TokenResponse):
            token_info.verified = verified
        return verified

    async def token_to_user(self, token_info: dict[str, Any]) -> dict[str, Any]:
        """The verified ID token's claims (userinfo is never called: it has no groups)."""
        verified = await self._verified(token_info)
        return dict(verified.id)

    def user_info_to_username(self, user_info: dict[str, Any]) -> str:
        """Username from ``username_claim``; ``email`` only when ``email_verified`` is true."""
        if self.username_claim == "email" and user_info.get("email_verified") is not True:
            raise RefusedLogin(
                403,
                "email_unverified",
                "Your email address is not verified in Amazon Cognito, so "
                "it cannot be your username here. Verify it and log in again.",
            )
        if callable(self.username_claim):
            username = self.username_claim(user_info)
        else:
            username = user_info.get(self.username_claim)
        if not isinstance(username, str) or not username:
            raise RefusedLogin(
                403,
                "no_username",
                f"The ID token has no {self.username_claim!s} to use as a "
                "username; ask an administrator to check username_claim.",
            )
        return username

    def build_auth_state_dict(
        self, token_info: dict[str, Any], user_info: dict[str, Any]
    ) -> dict[str, Any]:
        """Only what later steps need: tokens, their expiry, sub, username, groups, scopes."""
        verified = token_info.verified if isinstance(token_info, TokenResponse) else None
        if verified is None:
            raise TypeError("build_auth_state_dict needs a verified TokenResponse")
        access = verified.access
        refresh_token = token_info.get("refresh_token")
        return {
            "access_token": token_info["access_token"],
            "id_token": token_info["id_token"],
            # without auth_state nothing is stored, and there may be no key to seal with
            "refresh_token": self.seal.seal(refresh_token) if self.enable_auth_state else None,
            "access_token_expires_at": access["exp"],
            "id_token_expires_at": verified.id["exp"],
            "scope": access.get("scope", "").split(),
            "sub": user_info["sub"],
            "cognito_username": user_info.get("cognito:username"),
            "cognito_groups": list(user_info.get("cognito:groups", [])),
            "origin_jti": access.get("origin_jti"),
            "refreshed_at": self.clock(),
        }

    async def is_allowed(self, username: str, auth_model: dict[str, Any]) -> bool:
        """oauthenticator's decision (allowed_users, allowed_groups, allow_all, ...), as a bool."""
        return await _compat.check_allowed(self, username, auth_model)

    async def check_allowed(self, username: str, auth_model: dict[str, Any]) -> bool:
        """At login: allowed, or a 403 page that says why and offers another account.

        "Sign in as someone else" goes through /hub/logout, which also ends the Cognito
        session, so the hosted page asks for a password instead of signing the same person in.
        """
        if await self.is_allowed(username, auth_model):
            return True
        groups = (auth_model.get("auth_state") or {}).get("cognito_groups") or []
        allowed = ", ".join(sorted(self.allowed_groups)) or "(none configured)"
        message = (
            f"{username} signed in to Amazon Cognito, but is not in a group allowed to use this "
            f"JupyterHub (allowed: {allowed}; {username}'s groups: {', '.join(groups) or 'none'}). "
            "Ask an administrator to add you to a group, or sign in as someone else."
        )
        self.log.info("Refused login of %s: not in an allowed group", username)
        error = RefusedLogin(403, "not_allowed", "Not in an allowed group")
        error.jupyterhub_message = message  # type: ignore[attr-defined]
        logout = url_path_join(getattr(self.parent, "base_url", "/") or "/", "hub/logout")
        error.jupyterhub_html_message = (  # type: ignore[attr-defined]
            f"{html.escape(message)}</p><p><a class='btn btn-primary' href='{html.escape(logout)}'>"
            "Sign in as someone else</a>"
        )
        raise error

    async def update_auth_model(self, auth_model: dict[str, Any]) -> dict[str, Any]:
        """Bind the username to ``sub``: another identity cannot take an existing name."""
        name = auth_model["name"]
        sub = auth_model["auth_state"]["sub"]
        bound = await self._bound_sub(name)
        if bound is not None and bound != sub:
            self.log.warning(
                "Refused login as %s: the name is bound to another Cognito identity", name
            )
            raise RefusedLogin(
                403,
                "identity_conflict",
                f"The name {name!r} belongs to another account. Ask an "
                "administrator if you think this is wrong.",
            )
        return auth_model

    async def _bound_sub(self, name: str) -> str | None:
        users = getattr(self.parent, "users", None)
        if users is None:
            return None
        try:
            user = users[name]
        except KeyError:
            return None
        state = await user.get_auth_state()
        return state.get("sub") if state else None

    # ---------------------------------------------------------------- logout
    async def logout_user(self, user: Any) -> None:
        """End the session: revoke the refresh token, drop the tokens, refuse the kernels."""
        auth_state = await user.get_auth_state()
        if not auth_state:
            self.session_events.changed(user.name)
            return
        await self.end_session(user, auth_state, SessionEnd.LOGOUT, revoke=self.revoke_on_logout)

    async def delete_user(self, user: Any) -> None:
        """An admin deleted the user: end the session first (JupyterHub's documented hook)."""
        super().delete_user(user)
        auth_state = await user.get_auth_state()
        if auth_state:
            await self.end_session(user, auth_state, SessionEnd.USER_DELETED, revoke=True)
        else:
            self.session_events.changed(user.name)

    def hub_url(self, handler: Any, path: str) -> str:
        """An absolute URL on the Hub: from ``JupyterHub.public_url`` when configured.

        Only without a configured public URL is the request's own protocol and ``Host`` used
        (as JupyterHub itself does then).
        """
        public = getattr(self.parent, "public_url", "") or ""
        if public:
            base = getattr(self.parent, "base_url", "/") or "/"
            origin = public[: len(public) - len(base)] if public.endswith(base) else public
            return str(origin.rstrip("/") + url_path_join(handler.hub.base_url, path))
        request = handler.request
        return f"{request.protocol}://{request.host}" + str(
            url_path_join(handler.hub.base_url, path)
        )

    def cognito_logout_url(self, handler: Any) -> str | None:
        """Cognito's /logout URL for this client, or None when not ending the Cognito session."""
        if not self.end_cognito_session or not self.domain:
            return None
        logout_uri = self.logout_uri or self.hub_url(handler, "logout-complete")
        return self.cognito.logout_url(logout_uri)

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        """oauthenticator's handlers, /logout-complete and the token endpoint for servers."""
        return [
            *super().get_handlers(app),
            (r"/logout-complete", CognitoLogoutCompleteHandler),
            (HANDLER_ROUTE, TokensAPIHandler),
            (EXCHANGE_ROUTE, ExchangeAPIHandler),
            (REVOCATIONS_ROUTE, RevocationsAPIHandler),
        ]
