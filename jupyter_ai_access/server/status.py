"""The extension's browser-facing handlers: info, and the token status (never a token value)."""

from __future__ import annotations

import time
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .._version import __version__

__all__ = ["InfoHandler", "StatusHandler", "session_state", "status_model"]

AUTH_RESOURCE = "ai_access"


def session_state(broker: Any, now: float) -> tuple[str, str]:
    """One state and one sentence for people: fresh, renewing, unreachable, ended, unavailable."""
    tokens = broker.tokens
    if broker.source is not None and tokens is None and broker.enabled:
        return "signed-out", (
            "This server is not signed in to Amazon Cognito: kernels get no tokens until you "
            "sign in."
        )
    if broker.session_ended is not None:
        return "ended", str(broker.session_ended)
    if not broker.enabled:
        return "unavailable", (
            "This server is not running under JupyterHub with jupyter_ai_access: "
            "no tokens are delivered to kernels."
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


def status_model(app: Any) -> dict[str, Any]:
    """Who I am, my groups, when my tokens expire, last renewal, kernels holding tokens."""
    broker, store = app.broker, app.store
    tokens = broker.tokens
    now = time.time()
    state, message = session_state(broker, now)
    return {
        "state": state,
        "message": message,
        "under_jupyterhub": broker.enabled and broker.source is None,
        "token_source": "standalone" if broker.source is not None else "hub",
        "user": tokens.username if tokens else (broker.user or None),
        "groups": list(tokens.groups) if tokens else [],
        "scope": list(tokens.scope) if tokens else [],
        "access_token_expires_at": tokens.access_expires_at if tokens else None,
        "id_token_expires_at": tokens.id_expires_at if tokens else None,
        "seconds_left": round(tokens.expires_at - now) if tokens else None,
        "last_renewal": broker.last_renewal,
        "last_error": broker.last_error,
        "session_ended": broker.session_ended is not None,
        "login_url": (
            broker.session_ended.login_url if broker.session_ended else broker.login_url or None
        ),
        "signed_in": tokens is not None,
        "hub_fetches": broker.fetches,
        "kernels_with_tokens": len(store.kernels),
        "aws": _aws_status(app),
    }


def _aws_status(app: Any) -> dict[str, Any] | None:
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
        app = self.settings["jupyter_ai_access"]
        self.finish(
            {
                "version": __version__,
                "under_jupyterhub": app.broker.enabled and app.broker.source is None,
                "token_source": "standalone" if app.broker.source is not None else "hub",
                "hub_api_url": app.broker.hub_api_url or None,
            }
        )


class StatusHandler(APIHandler):
    """``GET /ai-access/api/status``: the token status as JSON (no token values)."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    def get(self) -> None:
        """Return :func:`status_model`."""
        self.set_header("Cache-Control", "no-store")
        self.finish(status_model(self.settings["jupyter_ai_access"]))
