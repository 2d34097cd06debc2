"""The Hub's login, callback and logout handlers for :class:`CognitoOAuthenticator`.

They extend oauthenticator's handlers:

- login: discovery first (a clear 503 page when Cognito cannot be reached), a per-login ``nonce``
  kept with ``state`` and the PKCE verifier in the signed, http-only state cookie (so it is bound to
  the browser and single use), and a ``next`` that can only point inside the Hub;
- callback: ``next`` sanitised again before redirecting; only ``code``, ``state`` and ``error`` are
  read, so tokens pushed into the callback URL (implicit or hybrid responses) are ignored;
- logout: revoke the refresh token, drop the tokens from ``auth_state`` (keeping the ``sub``
  binding), end the hosted-UI session through Cognito's ``/logout``;
- ``/logout-complete``: where Cognito sends the browser back after ``/logout``.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from jupyterhub.handlers import BaseHandler
from oauthenticator.oauth2 import OAuthCallbackHandler, OAuthLoginHandler, OAuthLogoutHandler
from tornado import web

from ..errors import IdentityProviderError
from ..net import safe_next_url
from ._compat import add_pkce, deserialize_state, serialize_state

if TYPE_CHECKING:  # type-only: the authenticator imports this module
    from .authenticator import CognitoOAuthenticator

__all__ = [
    "CognitoCallbackHandler",
    "CognitoLoginHandler",
    "CognitoLogoutCompleteHandler",
    "CognitoLogoutHandler",
    "safe_next_url",
]


class _ScrubbedSummary:
    """Log the request without its query values (tornado's warnings log the whole URI)."""

    request: Any

    def _request_summary(self) -> str:
        names = sorted({k for k in self.request.query_arguments})
        query = f"?[{','.join(names)}]" if names else ""
        return f"{self.request.method} {self.request.path}{query} ({self.request.remote_ip})"


class CognitoLoginHandler(_ScrubbedSummary, OAuthLoginHandler):
    """Redirect to Cognito's authorize endpoint with state, nonce and PKCE S256."""

    authenticator: CognitoOAuthenticator
    _nonce = ""
    _pkce_challenge: str | None = None  # set where oauthenticator does no PKCE (16)

    async def get(self) -> None:
        """Discover the pool (once), then redirect to Cognito."""
        try:
            await self.authenticator.discover()
        except IdentityProviderError as e:
            self.log.error("Cognito discovery failed: %s", e)
            cls = type(self.authenticator).__name__
            raise web.HTTPError(
                503,
                "Amazon Cognito cannot be reached right now. Try again in a minute; if this "
                f"persists, ask an administrator to check {cls}.issuer and {cls}.domain.",
            ) from None
        self._nonce = secrets.token_urlsafe(32)
        super().get()

    def _get_next_url(self) -> str | None:
        return safe_next_url(self.get_argument("next", None))

    def set_state_cookie(self, state_cookie_value: str) -> None:
        """Keep the nonce with state and the PKCE verifier (signed, http-only, one use)."""
        state = deserialize_state(state_cookie_value)
        state["nonce"] = self._nonce
        self._pkce_challenge = add_pkce(state)
        super().set_state_cookie(serialize_state(state))

    def authorize_redirect(self, *args: Any, **kwargs: Any) -> None:
        """Add the nonce (and identity_provider, if configured) to the authorize request."""
        extra = dict(kwargs.get("extra_params") or {})
        extra["nonce"] = self._nonce
        if self._pkce_challenge:
            extra["code_challenge"] = self._pkce_challenge
            extra["code_challenge_method"] = "S256"
        kwargs["extra_params"] = extra
        super().authorize_redirect(*args, **kwargs)


class CognitoCallbackHandler(_ScrubbedSummary, OAuthCallbackHandler):
    """The OAuth callback: oauthenticator's checks, plus a sanitised ``next``."""

    verified_claims: Any = None  # set by CognitoOAuthenticator.get_token_info once verified

    async def get(self) -> None:
        """oauthenticator's callback, with every refusal in the audit records and metrics."""
        try:
            await super().get()
        except web.HTTPError as e:
            not_allowed = e.log_message == self.authenticator.custom_403_message
            self.authenticator.audit.login_refused(e, self._subject(), not_allowed=not_allowed)
            raise

    def _subject(self) -> str | None:
        """Who tried, once Cognito's tokens were verified (None before that)."""
        if self.verified_claims is None:
            return None
        try:
            return str(self.authenticator.user_info_to_username(dict(self.verified_claims.id)))
        except Exception:  # no name to give: the record says who only when it knows
            return None

    async def login_user(self, data: Any = None) -> Any:
        """Log in, then wake the user's servers: their kernels get the new session's tokens."""
        user = await super().login_user(data)
        if user is not None:
            self.authenticator.session_events.changed(user.name)
            self.authenticator.audit.login_allowed(user.name, user.admin)
        return user

    def get_next_url(self, user: Any = None) -> str:
        """The ``next`` from the state cookie when it stays on the Hub, else the Hub's home."""
        state = self.get_state_cookie()
        next_url = safe_next_url(deserialize_state(state).get("next_url")) if state else None
        return next_url or BaseHandler.get_next_url(self, user)


class CognitoLogoutHandler(OAuthLogoutHandler):
    """Revoke, forget the tokens, then end the Cognito hosted-UI session."""

    authenticator: CognitoOAuthenticator

    async def handle_logout(self) -> None:
        """Revoke the refresh token and drop the tokens from auth_state."""
        await super().handle_logout()
        user = self.current_user
        if user is not None:
            await self.authenticator.logout_user(user)

    async def render_logout_page(self) -> None:
        """Redirect to Cognito's /logout (which returns to /hub/logout-complete)."""
        url = self.authenticator.cognito_logout_url(self)
        if url:
            self.redirect(url)
            return
        await super().render_logout_page()


class CognitoLogoutCompleteHandler(BaseHandler):
    """Where Cognito sends the browser after /logout: a signed-out page with a login link."""

    async def get(self) -> None:
        """Render JupyterHub's logout page."""
        html = await self.render_template("logout.html")
        self.finish(html)
