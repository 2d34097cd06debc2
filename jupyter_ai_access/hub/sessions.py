"""Session changes inside the Hub process: who is waiting for them, and which sessions ended.

- :class:`SessionEvents` wakes the user's server when that user's session changes (login, refresh,
  logout, ``invalid_grant``, removal from the allowed groups, deletion). Each user server holds one
  long-poll on the Hub's token endpoint (``?wait=``); nothing polls per kernel.
- :class:`EndedSessions` remembers the ``origin_jti`` of sessions that ended until their access
  tokens expire, for the revocation feed (``GET /hub/api/ai-access/revocations``) that resources
  follow with ``CognitoTokenVerifier(denied_origin_jtis=RevocationFeed(...))``.

Both live in the Hub's memory: a Hub restart wakes every long-poll (they reconnect and get the
current state) and forgets the ended sessions (resources then refuse them at ``exp``, as they do
without the feed).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

__all__ = ["EndedSessions", "SessionEvents"]


class SessionEvents:
    """One :class:`asyncio.Event` per user with waiters; :meth:`changed` wakes them all."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self._generations: dict[str, int] = {}

    def changed(self, name: str) -> None:
        """The session of ``name`` changed: wake everyone waiting on it."""
        self._generations[name] = self._generations.get(name, 0) + 1
        event = self._events.pop(name, None)
        if event is not None:
            event.set()

    async def wait(self, name: str, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a change of ``name``'s session; True if one came."""
        event = self._events.setdefault(name, asyncio.Event())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=max(0.0, timeout))
            return True
        return False

    def generation(self, name: str) -> int:
        """How many changes of ``name``'s session this Hub has seen (answers are shared per one)."""
        return self._generations.get(name, 0)

    @property
    def waiting(self) -> int:
        """Users with at least one waiter (for the cost figures)."""
        return len(self._events)


class EndedSessions:
    """``origin_jti`` of ended sessions, each kept until its last access token expires."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._until: dict[str, float] = {}

    def add(self, origin_jti: str | None, until: float | None) -> None:
        """Remember an ended session (``until``: when its access token expires)."""
        if not origin_jti or not until or until <= self.clock():
            return
        self._until[origin_jti] = max(until, self._until.get(origin_jti, 0.0))

    def current(self) -> dict[str, float]:
        """Ended sessions whose access tokens may still be presented, with their expiry."""
        now = self.clock()
        for jti in [j for j, until in self._until.items() if until <= now]:
            del self._until[jti]
        return dict(self._until)
