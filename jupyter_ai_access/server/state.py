"""The token state the browser shows, and waiting until it changes (the status API's long-poll).

States, as the JupyterLab status-bar item names them:

=====================  ==========================================================================
``fresh``              tokens held, renewal not due yet
``renewing``           no tokens yet, or within ``TokenBroker.renew_before`` of expiry (renewal due)
``cognito_unreachable`` the Hub answered that Amazon Cognito cannot be reached to renew them
``hub_unreachable``    JupyterHub itself cannot be reached (or answers with an error)
``scope_missing``      the Hub refused the request (the server's role lacks the token scope)
``ended``              the JupyterHub session is over: log in again
``off``                not under JupyterHub (no token delivery)
=====================  ==========================================================================

A state changes either at one of the broker's change points (new tokens, a failure, the end of
the session: :attr:`TokenBroker.observers`) or when time passes a renewal or expiry instant;
:func:`token_state` returns that instant with the state, so that a waiting request ends then.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from .broker import TokenBroker

__all__ = ["STATES", "StatusChanges", "token_state"]

STATES = (
    "fresh",
    "renewing",
    "cognito_unreachable",
    "hub_unreachable",
    "scope_missing",
    "ended",
    "off",
)
_FAILURES = {
    "cognito_unreachable": "cognito_unreachable",
    "hub_unreachable": "hub_unreachable",
    "hub_error": "hub_unreachable",
}


def token_state(broker: TokenBroker, now: float) -> tuple[str, float | None]:
    """The broker's state at ``now``, and when it changes by itself next (None: only on events)."""
    if not broker.enabled:
        return "off", None
    if broker.session_ended is not None:
        return "ended", None
    tokens = broker.tokens
    failure = _FAILURES.get(broker.last_failure or "", "scope_missing")
    if tokens is None or tokens.expires_at <= now:
        return (failure if broker.last_error else "renewing"), None
    if broker.last_error:
        return failure, tokens.expires_at
    renew_at = tokens.expires_at - broker.renew_before
    if now < renew_at:
        return "fresh", renew_at
    return "renewing", tokens.expires_at


class StatusChanges:
    """Wakes the status API's waiting requests at every change the broker's observers hear of."""

    def __init__(self, broker: TokenBroker) -> None:
        self.broker = broker
        self._event = asyncio.Event()
        broker.observers.append(self._changed)

    def _changed(self, kind: str, detail: dict[str, Any]) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, since: int, timeout: float) -> bool:
        """Wait up to ``timeout`` s unless the broker's version already differs from ``since``.

        Returns True when a change came (or had come), False on timeout.
        """
        if self.broker.version != since:
            return True
        event = self._event
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=max(0.0, timeout))
            return True
        return False

    def close(self) -> None:
        """Stop observing the broker and release every waiter."""
        with contextlib.suppress(ValueError):
            self.broker.observers.remove(self._changed)
        self._event.set()
