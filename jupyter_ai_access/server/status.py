"""The extension's browser-facing handlers: info, and the token status (never a token value).

``GET /ai-access/api/status?wait=<s>&since=<version>`` is a long-poll: it answers as soon as the
broker's ``version`` differs from ``since`` or the state changes by itself (renewal due, expiry),
else after ``wait`` seconds (at most ``AIAccessApp.status_wait_max``). The JupyterLab status-bar
item holds one such request, so it learns of a logout or a new login at once without polling.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .._version import __version__
from ..protocol import TokenState
from .state import token_state

if TYPE_CHECKING:
    from .app import AIAccessApp
    from .broker import TokenBroker

__all__ = ["InfoHandler", "StatusHandler", "session_state", "status_model"]

AUTH_RESOURCE = "ai_access"


def session_state(broker: TokenBroker, now: float) -> tuple[str, str]:
    """One state and one sentence for people: fresh, renewing, unreachable, ended, unavailable."""
    tokens = broker.tokens
    if not broker.source.signed_in and tokens is None and broker.enabled:
        return "signed-out", (
            "This server is not signed in to Amazon Cognito: kernels get no tokens until you "
            "sign in."
        )
    if broker.session_ended is not None:
        return "ended", str(broker.session_ended)
    if not broker.enabled:
        return "unavailable", (
            f"This server's token source ({broker.source.kind}) is not configured (not running "
            "under JupyterHub with jupyter_ai_access?): no tokens are delivered to kernels."
        )
    if tokens is None:
        if broker.last_error:
            return "unreachable", f"No tokens yet: {broker.last_error}. Retrying."
        return "renewing", "Tokens are fetched when the first kernel starts."
    left = tokens.expires_at - now
    if broker.last_error:
        if left > 0:
            return "unreachable", (
                f"{broker.last_error}. Your tokens stay valid for {left:.0f} s; retrying."
            )
        return "unreachable", f"{broker.last_error}. Your tokens have expired; retrying."
    if left <= broker.renew_before:
        return "renewing", "Your tokens are being renewed."
    return "fresh", "Your tokens are fresh and renew themselves before they expire."


def login_url(app: AIAccessApp) -> str | None:
    """Where to log in again (absolute when the Hub's public URL is known), coming back to the
    status page; None when the source does not say."""
    broker = app.broker
    url = broker.session_ended.login_url if broker.session_ended else broker.source.login_url
    if not url:
        return None
    if broker.source.kind == "hub" and not urlsplit(url).query:  # back to this page after it
        base = getattr(app.serverapp, "base_url", "/") or "/"
        url += "?" + urlencode({"next": base.rstrip("/") + "/ai-access/status"})
    return str(url)


def status_model(app: AIAccessApp) -> dict[str, Any]:
    """Who I am, my groups, when my tokens expire, last renewal, kernels holding tokens, and the
    state the status-bar item shows (see :mod:`.state`)."""
    broker, store = app.broker, app.store
    tokens = broker.tokens
    now = time.time()
    state, changes_at = token_state(broker, now)
    headline, message = session_state(broker, now)
    if headline == TokenState.SIGNED_OUT:  # a standalone server nobody signed in yet
        state = TokenState.SIGNED_OUT
    return {
        "state": state,
        "headline": headline,
        "message": message,
        "state_changes_at": changes_at,
        "version": broker.version,
        "now": now,
        "under_jupyterhub": broker.enabled and broker.source.kind == "hub",
        "token_source": broker.source.kind,
        "user": tokens.username if tokens else (broker.source.user or None),
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
        "signed_in": tokens is not None,
        "aws": _aws_status(app),
    }


def _aws_status(app: AIAccessApp) -> dict[str, Any] | None:
    """The AWS credentials' state: who, until when, how many exchanges (never a key)."""
    aws = getattr(app, "aws", None)
    if aws is None or not aws.enabled:
        return None
    held = aws.credentials
    return {
        "exchange": aws.exchange,
        "principal": held.principal if held else None,
        "expires_at": held.expires_at if held else None,
        "exchanges": aws.exchanges,
        "last_error": str(aws.last_error) if aws.last_error else None,
    }


class InfoHandler(APIHandler):
    """``GET /ai-access/api/info``: version and whether a Hub delivers tokens."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    def get(self) -> None:
        """Return the version and the token source."""
        app: AIAccessApp = self.settings["jupyter_ai_access"]
        source = app.broker.source
        self.finish(
            {
                "version": __version__,
                "under_jupyterhub": app.broker.enabled and source.kind == "hub",
                "token_source": source.kind,
                "hub_api_url": getattr(source, "hub_api_url", "") or None,
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
        app: AIAccessApp = self.settings["jupyter_ai_access"]
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
    TokenState.SCOPE_MISSING: "token scope missing (the server's role)",
    "ended": "session ended",
    "off": "not under JupyterHub",
}


def _follow(app: AIAccessApp) -> None:
    """Someone looks at the status (a Lab is open): the broker fetches and renews from now on,
    as it does once a kernel starts (idempotent)."""
    if app.broker.enabled:
        app.broker.start()
