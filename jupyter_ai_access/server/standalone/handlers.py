"""The standalone sign-in's pages: ``/ai-access/login``, ``callback`` and ``logout``.

All three need the Jupyter server's own authentication (its token or password, or the Hub's
cookie on Binder): nobody else can sign this server in as *their* Cognito user, or out.

- login: the pool discovered (a clear 503 when Cognito cannot be reached), a new sign-in
  (:meth:`~.source.StandaloneSource.begin_login`), its ``state`` in a signed, http-only cookie
  for ``<base_url>ai-access/`` (binds it to this browser), then the redirect to Cognito. ``next``
  (a path, or relative to the base URL) stays under this server's base URL;
- callback: only ``state``, ``code`` and ``error`` are read (tokens pushed into the URL are
  ignored); the cookie's ``state`` must equal the query's and is taken once; the code is exchanged
  and both tokens verified; errors are pages that say what to do, never token text. Jupyter's
  request log scrubs ``code`` and ``state`` from URLs;
- logout: a POST with Jupyter's ``_xsrf`` (the status page's Sign out button; a GET answers 405):
  tokens withdrawn from every kernel, refresh token revoked, then Cognito's ``/logout`` (which
  returns to the status page, where the sign-in link is).
"""

from __future__ import annotations

import hmac
import html
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from tornado import web

from ...errors import (
    IdentityProviderError,
    LoginRequiredError,
    TokenEndpointError,
    TokenError,
)
from ...net import safe_next_url
from ..status import AUTH_RESOURCE
from .source import StandaloneSource

__all__ = ["STATE_COOKIE", "CallbackHandler", "LoginHandler", "LogoutHandler"]

STATE_COOKIE = "jupyter-ai-access-login"


class _Base(JupyterHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def source(self) -> StandaloneSource:
        source = self.settings["jupyter_ai_access"].source
        if not isinstance(source, StandaloneSource):
            raise web.HTTPError(404)
        return source

    def _origin_url(self, path: str) -> str:
        """``<origin><base_url><path>`` as registered on the app client."""
        if self.source.serve_domain:  # the browser never sees it: the proxy rewrites it
            origin = f"http://127.0.0.1:{self.source.server_port}"
        else:
            origin = f"{self.request.protocol}://{self.request.host}"
        return f"{origin}{self.base_url}{path}"

    def _cookie_path(self) -> str:
        return f"{self.base_url}ai-access/"


class LoginHandler(_Base):
    """``GET /ai-access/login?next=<path>``: redirect to Cognito's sign-in page."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Start a sign-in."""
        source = self.source
        try:
            await source.discover()
        except IdentityProviderError as e:
            self.log.error("Cognito discovery failed: %s", e)
            cls = type(source).__name__
            raise web.HTTPError(
                503,
                "Amazon Cognito cannot be reached right now. Try again in a minute; if this "
                f"persists, check {cls}.issuer and {cls}.domain "
                "($COGNITO_ISSUER or $COGNITO_REGION + $COGNITO_USER_POOL_ID, $COGNITO_DOMAIN).",
            ) from None
        wanted = self.get_query_argument("next", "")
        if wanted and not wanted.startswith("/"):  # relative to this server, e.g. from Binder's
            wanted = self.base_url + wanted  # urlpath, which cannot know the per-user prefix
        next_url = safe_next_url(wanted)
        if not next_url or not next_url.startswith(self.base_url):
            next_url = f"{self.base_url}lab"
        redirect_uri = source.callback_url or self._origin_url("ai-access/callback")
        state, url = source.begin_login(redirect_uri, next_url)
        self.set_signed_cookie(
            STATE_COOKIE,
            state,
            expires_days=None,
            path=self._cookie_path(),
            httponly=True,
            secure=self.request.protocol == "https",
            samesite="Lax",
        )
        self.set_header("Cache-Control", "no-store")
        self.redirect(url)


class CallbackHandler(_Base):
    """``GET /ai-access/callback?code&state``: finish the sign-in."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Check state, exchange the code, verify, deliver the tokens, go on to ``next``."""
        source = self.source
        self.set_header("Cache-Control", "no-store")
        again = f"Start again at {source.login_url}"
        held = self.get_signed_cookie(STATE_COOKIE, max_age_days=1)
        self.clear_cookie(STATE_COOKIE, path=self._cookie_path())
        state = self.get_query_argument("state", "")
        if not held or not state or not hmac.compare_digest(held, state.encode()):
            raise web.HTTPError(
                400,
                f"This sign-in was not started in this browser, or it was used already. {again}",
            )
        pending = source.take_pending(state)
        if pending is None:
            raise web.HTTPError(400, f"This sign-in has expired or was used already. {again}")
        error = self.get_query_argument("error", "")
        if error:
            code = "".join(c for c in error[:64] if c.isalnum() or c == "_")
            raise web.HTTPError(403, f"Amazon Cognito refused the sign-in ({code}). {again}")
        code = self.get_query_argument("code", "")
        if not code:
            raise web.HTTPError(400, f"Amazon Cognito sent no sign-in code. {again}")
        await self._complete(source, pending, code, again)
        self.redirect(pending.next_url)

    async def _complete(
        self, source: StandaloneSource, pending: Any, code: str, again: str
    ) -> None:
        try:
            await source.complete_login(pending, code)
        except LoginRequiredError:
            raise web.HTTPError(
                400, f"Amazon Cognito refused the sign-in code (used already or expired). {again}"
            ) from None
        except TokenEndpointError as e:
            raise web.HTTPError(403, f"Amazon Cognito refused the sign-in ({e.error}).") from None
        except TokenError as e:
            self.log.warning("Refused a sign-in: a token failed verification: %s", e)
            raise web.HTTPError(403, f"The sign-in could not be verified ({e}). {again}") from None
        except IdentityProviderError as e:
            self.log.error("Cognito unavailable during sign-in: %s", e)
            raise web.HTTPError(
                503, "Amazon Cognito cannot be reached right now. Try again in a minute."
            ) from None


class LogoutHandler(_Base):
    """``POST /ai-access/logout`` (with Jupyter's ``_xsrf``): sign out; kernels lose their tokens.

    A GET changes nothing (a link, an ``<img>`` or a prefetch must not sign anyone out): it
    answers 405 and points to the Sign out button on the status page.
    """

    @web.authenticated
    @authorized
    def get(self) -> None:
        """Refuse: signing out is a POST, from the status page's button."""
        status = f"{self.base_url}ai-access/status"
        message = (
            "Signing out is a POST with this server's _xsrf token: use the Sign out button on "
            f"the token status page, {status}"
        )
        self.set_status(405)
        self.set_header("Allow", "POST")
        self.set_header("Cache-Control", "no-store")
        if "application/json" in self.request.headers.get("Accept", ""):
            self.finish({"error": "method_not_allowed", "message": message, "status_url": status})
            return
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        self.finish(
            '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            "<title>Sign out with the button</title></head><body><p>"
            f'{html.escape(message)}: <a href="{html.escape(status)}">token status</a></p>'
            "</body></html>"
        )

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Withdraw, revoke, then end the hosted-UI session through Cognito's /logout."""
        source = self.source
        await source.sign_out()
        self.set_header("Cache-Control", "no-store")
        status = f"{self.base_url}ai-access/status"
        if not source.end_cognito_session:
            self.redirect(status, status=303)
            return
        self.redirect(
            source.logout_redirect(source.logout_uri or self._origin_url("ai-access/status")),
            status=303,
        )
