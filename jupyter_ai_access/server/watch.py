"""The server's session watch: one long-poll on the Hub through which a logout arrives at once.

The broker holds one request to the Hub's token endpoint with ``?wait=&have=<fingerprint of the
held access token>``; the Hub answers as soon as the answer changes (new tokens, or the session
ended) or after the wait. A session end withdraws every kernel's tokens immediately; a new login
brings them back. One channel per user server, however many kernels it runs. The Hub holds a
few watches per user and token (``CognitoOAuthenticator.session_watches_per_user``); when a newer
one ends this one (409 ``watch_superseded``), the watch reconnects after a back-off.

When the Hub goes away (a restart drops every watch at the same instant) the watch reconnects
after a backoff of 1 s doubling up to ``max_backoff``, each wait drawn at random down to a tenth
of it (full jitter): the servers come back spread out instead of all at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import SessionEndedError, TokensUnavailableError, WatchSupersededError
from ..protocol import fingerprint
from ..retry import Backoff
from .tokenset import TokenSet

__all__ = ["WATCH_JITTER", "watch_forever", "watch_once"]

#: The share of each reconnection wait drawn at random (see :class:`~..retry.Backoff`).
WATCH_JITTER = 0.9


async def watch_once(broker: Any, wait: float) -> TokenSet:
    """One session-watch request of ``broker`` (a TokenBroker, which imports this module).

    Returns when the Hub's answer differs from what the broker holds.

    Raises :class:`SessionEndedError` when the session ended (tokens withdrawn at once) and
    :class:`TokensUnavailableError` when the Hub cannot be reached.
    """
    broker.watches += 1
    held = broker.tokens.access_token if broker.tokens is not None else None
    tokens: TokenSet = await broker._request(wait=wait, have=fingerprint(held))
    return tokens


async def watch_forever(broker: Any) -> None:
    """Hold one long-poll on the Hub; a session change (logout, re-login) arrives at once."""
    backoff = Backoff(1.0, max(1.0, broker.max_backoff), jitter=WATCH_JITTER)
    broker.watching = True
    try:
        while True:
            try:
                await watch_once(broker, broker.watch_wait)
                backoff.reset()
            except SessionEndedError:
                backoff.reset()  # withdrawn; keep watching for the next login
            except WatchSupersededError:
                # the Hub holds a newer watch of this user (409 watch_superseded): the tokens
                # held stay valid; reconnect after a back-off so that two never ping-pong
                await asyncio.sleep(backoff.failed())
            except TokensUnavailableError:
                await asyncio.sleep(backoff.failed())
    finally:
        broker.watching = False
