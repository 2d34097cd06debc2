"""``<base_url>ai-access/cognito/…``: the user-pool domain's pages, served through this server.

Only with ``StandaloneSource.serve_domain`` — for a local Cognito emulator on loopback that the
browser cannot reach (on Binder the browser reaches nothing but the notebook server). The emulator
runs with ``--base-path <base_url>ai-access/cognito``, so every path, link and cookie path it makes
already has the prefix the browser sees; this handler forwards the request unchanged to the
emulator's loopback port, like a reverse proxy:

- only the emulator's own cookies (``_interaction*``, ``_session*``) are forwarded, never the
  Jupyter server's; its ``Set-Cookie`` with ``path=/`` is narrowed to the prefix;
- ``Location`` headers that point to a loopback origin under this server's base URL (the
  emulator's own pages, and the callback or sign-out URL registered as
  ``http://127.0.0.1:<port><base_url>ai-access/…``) become paths, so the browser stays on the
  origin it came from (ProxyPassReverse);
- no redirect is followed, bodies are capped, the browser must be signed in to Jupyter.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import JupyterHandler
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from ..net import is_loopback
from .standalone import StandaloneSource
from .standalone.settings import PROXY_PATH
from .status import AUTH_RESOURCE

__all__ = ["DomainProxyHandler", "browser_location"]

MAX_BODY = 1024 * 1024
_EMULATOR_COOKIES = ("_interaction", "_session")
_ROOT_PATH = re.compile(r"(;\s*path=)/(?=\s*(;|$))", re.IGNORECASE)
_PASSED_HEADERS = ("Content-Type", "Cache-Control", "Pragma", "Expires")


def browser_location(location: str, base_url: str) -> str:
    """A ``Location`` as the browser must follow it: loopback URLs under ``base_url`` → paths."""
    parts = urlsplit(location)
    if (
        parts.scheme in ("http", "https")
        and is_loopback(parts.hostname)
        and parts.path.startswith(base_url)
    ):
        return urlunsplit(("", "", parts.path, parts.query, parts.fragment))
    return location


class DomainProxyHandler(JupyterHandler):
    """Forwards the browser's hosted-UI requests to the user-pool domain on loopback."""

    auth_resource = AUTH_RESOURCE
    _client: AsyncHTTPClient | None = None

    def check_xsrf_cookie(self) -> None:
        """The emulator's sign-in form cannot carry Jupyter's ``_xsrf``: oidc-provider binds each
        form to its own interaction cookie instead, which a cross-site page cannot know."""
        return None

    @web.authenticated
    @authorized
    async def get(self, path: str) -> None:
        """Forward a page or redirect."""
        await self._forward()

    @web.authenticated
    @authorized
    async def post(self, path: str) -> None:
        """Forward a form (the sign-in)."""
        await self._forward()

    async def _forward(self) -> None:
        source = self.settings["jupyter_ai_access"].source
        if not isinstance(source, StandaloneSource) or not source.serve_domain:
            raise web.HTTPError(404)
        domain = urlsplit(source.domain)
        url = urlunsplit((domain.scheme, domain.netloc, self.request.path, self.request.query, ""))
        cookies = "; ".join(
            f"{name}={morsel.value}"
            for name, morsel in self.request.cookies.items()
            if name.startswith(_EMULATOR_COOKIES)
        )
        headers = {"Accept": self.request.headers.get("Accept", "text/html")}
        if cookies:
            headers["Cookie"] = cookies
        if self.request.method == "POST":
            headers["Content-Type"] = self.request.headers.get("Content-Type", "")
        request = HTTPRequest(
            url,
            method=self.request.method or "GET",
            headers=headers,
            body=self.request.body if self.request.method == "POST" else None,
            follow_redirects=False,
            request_timeout=source.http_timeout,
            connect_timeout=source.http_timeout,
        )
        if DomainProxyHandler._client is None:
            DomainProxyHandler._client = AsyncHTTPClient(
                force_instance=True, max_body_size=MAX_BODY
            )
        try:
            response = await DomainProxyHandler._client.fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as e:
            self.log.error("The user-pool domain %s cannot be reached: %s", source.domain, e)
            raise web.HTTPError(502, "The local Cognito emulator cannot be reached.") from None
        if response.code == 599:
            raise web.HTTPError(502, "The local Cognito emulator cannot be reached.")
        self.set_status(response.code, response.reason)
        for name in _PASSED_HEADERS:
            if name in response.headers:
                self.set_header(name, response.headers[name])
        prefix = f"{self.base_url}{PROXY_PATH}/"
        for cookie in response.headers.get_list("Set-Cookie"):
            self.add_header("Set-Cookie", _ROOT_PATH.sub(lambda m: m.group(1) + prefix, cookie))
        if "Location" in response.headers:
            self.set_header(
                "Location", browser_location(response.headers["Location"], self.base_url)
            )
        if response.code not in (204, 304):
            self.finish(response.body or b"")
        else:
            self.finish()
