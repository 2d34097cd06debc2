"""The extension's browser-facing handlers: info, and the token status (never a token value).

``GET /ai-access/api/status?wait=<s>&since=<version>`` is a long-poll: it answers as soon as the
broker's ``version`` differs from ``since`` or the state changes by itself (renewal due, expiry),
else after ``wait`` seconds (at most ``AIAccessApp.status_wait_max``). The JupyterLab status-bar
item holds one such request, so it learns of a logout or a new login at once without polling.
"""

from __future__ import annotations

import html
import math
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from tornado import web

from .._version import __version__
from .state import token_state

__all__ = ["InfoHandler", "StatusHandler", "StatusPageHandler", "status_model"]

AUTH_RESOURCE = "ai_access"


def login_url(app: Any) -> str | None:
    """Where to log in again (absolute when the Hub's public URL is known), coming back to the
    status page; None without a Hub."""
    broker = app.broker
    url = broker.session_ended.login_url if broker.session_ended else broker.login_url
    if not url:
        return None
    if not urlsplit(url).query:
        base = getattr(app.serverapp, "base_url", "/") or "/"
        url += "?" + urlencode({"next": base.rstrip("/") + "/ai-access/status"})
    return str(url)


def status_model(app: Any) -> dict[str, Any]:
    """Who I am, my groups, when my tokens expire, last renewal, kernels holding tokens, and the
    state the status-bar item shows (see :mod:`.state`)."""
    broker, store = app.broker, app.store
    tokens = broker.tokens
    now = time.time()
    state, changes_at = token_state(broker, now)
    return {
        "state": state,
        "state_changes_at": changes_at,
        "version": broker.version,
        "now": now,
        "under_jupyterhub": broker.enabled,
        "user": tokens.username if tokens else (broker.user or None),
        "cognito_username": tokens.cognito_username if tokens else None,
        "groups": list(tokens.groups) if tokens else [],
        "scope": list(tokens.scope) if tokens else [],
        "access_token_expires_at": tokens.access_expires_at if tokens else None,
        "id_token_expires_at": tokens.id_expires_at if tokens else None,
        "seconds_left": round(tokens.expires_at - now) if tokens else None,
        "expires_at": tokens.expires_at if tokens else None,
        "renew_at": tokens.expires_at - broker.renew_before if tokens else None,
        "last_renewal": broker.last_renewal,
        "last_error": broker.last_error,
        "session_ended": broker.session_ended is not None,
        "login_url": login_url(app),
        "hub_fetches": broker.fetches,
        "kernels_with_tokens": len(store.kernels),
    }


class InfoHandler(APIHandler):
    """``GET /ai-access/api/info``: version and whether a Hub delivers tokens."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    def get(self) -> None:
        """Return the version and the token source."""
        app = self.settings["jupyter_ai_access"]
        self.finish(
            {
                "version": __version__,
                "under_jupyterhub": app.broker.enabled,
                "hub_api_url": app.broker.hub_api_url or None,
            }
        )


class StatusHandler(APIHandler):
    """``GET /ai-access/api/status[?wait=<s>&since=<version>]``: the token status as JSON (no
    token values); with ``wait``, a long-poll that answers at the next change."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Return :func:`status_model`, once it differs from version ``since`` when waiting."""
        app = self.settings["jupyter_ai_access"]
        try:
            wait = float(self.get_query_argument("wait", "0"))
        except ValueError:
            raise web.HTTPError(400, "wait must be a number of seconds") from None
        since = self.get_query_argument("since", "")
        if not (math.isfinite(wait) and wait >= 0) or (since and not since.isdigit()):
            raise web.HTTPError(400, "wait must be seconds >= 0 and since a version number")
        self.set_header("Cache-Control", "no-store")
        _follow(app)
        if wait and since:
            timeout = min(wait, app.status_wait_max)
            changes_at = token_state(app.broker, time.time())[1]
            if changes_at is not None:
                timeout = min(timeout, max(0.0, changes_at - time.time()) + 0.25)
            await app.status_changes.wait(int(since), timeout)
        self.finish(status_model(app))


STATE_LABELS = {
    "fresh": "fresh",
    "renewing": "renewing",
    "cognito_unreachable": "Amazon Cognito unreachable (renewal retried)",
    "hub_unreachable": "JupyterHub unreachable (renewal retried)",
    "unavailable": "tokens unavailable",
    "ended": "session ended",
    "off": "not under JupyterHub",
}


def _follow(app: Any) -> None:
    """Someone looks at the status (a Lab is open): the broker fetches and renews from now on,
    as it does once a kernel starts (idempotent)."""
    if app.broker.enabled:
        app.broker.start()


def _when(timestamp: float | None) -> str:
    if not timestamp:
        return "never"
    delta = timestamp - time.time()
    stamp = time.strftime("%H:%M:%S", time.localtime(timestamp))
    return f"{stamp} (in {delta:.0f} s)" if delta > 0 else f"{stamp} ({-delta:.0f} s ago)"


class StatusPageHandler(JupyterHandler):
    """``GET /ai-access/status``: the same, as a small page."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    def get(self) -> None:
        """Render the status page."""
        app = self.settings["jupyter_ai_access"]
        _follow(app)
        m = status_model(app)
        rows = [
            ("User", m["user"] or "—"),
            ("State", STATE_LABELS.get(m["state"], m["state"])),
            ("Groups", ", ".join(m["groups"]) or "—"),
            ("Access token expires", _when(m["access_token_expires_at"])),
            ("ID token expires", _when(m["id_token_expires_at"])),
            ("Last renewal", _when(m["last_renewal"])),
            ("Kernels holding tokens", str(m["kernels_with_tokens"])),
            ("Problem", m["last_error"] or "none"),
        ]
        body = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows
        )
        login = ""
        if m["session_ended"]:
            url = html.escape(m["login_url"] or "/hub/login")
            login = (
                f'<p class="warn">Your session has ended. <a href="{url}" target="_blank" '
                'rel="noopener">Log in again</a>.</p>'
            )
        self.set_header("Cache-Control", "no-store")
        self.finish(f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<title>AI access: token status</title><style>body{{font-family:sans-serif;margin:2em}}
th{{text-align:left;padding-right:1em}}.warn{{color:#b3261e}}</style></head>
<body><h1>Token status</h1>{login}<table>{body}</table>
<p>Token values are never shown here.</p></body></html>""")
