"""Session changes inside the Hub process: who is waiting for them, and which sessions ended.

- :class:`SessionEvents` wakes the user's server when that user's session changes (login, refresh,
  logout, ``invalid_grant``, removal from the allowed groups, deletion). Each user server holds one
  watch on the Hub's token endpoint (``?wait=``: a stream, :mod:`.watch_streams`, or a
  long-poll); nothing polls per kernel, and an idle stream costs no SQL.
- :class:`EndedSessions` remembers the ``origin_jti`` of sessions that ended until their access
  tokens expire, for the revocation feed (``GET /hub/api/ai-access/revocations``) that resources
  follow with ``CognitoTokenVerifier(denied_origin_jtis=RevocationFeed(...))``.

The waiters live in the Hub's memory: a Hub restart drops every watch (servers reconnect spread
over the window the Hub announced, then with a jittered backoff, and get the current state).
The ended sessions are also written to :class:`~.revocation_store.RevocationFile`
(``CognitoOAuthenticator.revocations_file``) before a logout answers, and read back at start: a
restart, even by SIGKILL, forgets none of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from .revocation_store import RevocationFile

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
    """``origin_jti`` of ended sessions, each kept until its last access token expires.

    With a ``store`` the entries are loaded from it (expired ones dropped) and every change is
    written to it before :meth:`add` returns.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        store: RevocationFile | None = None,
        log: logging.Logger | None = None,
    ) -> None:
        self.clock = clock
        self.log = log or logging.getLogger(__name__)
        self.store = store
        now = clock()
        loaded = store.load() if store is not None else {}
        self._until: dict[str, float] = {j: t for j, t in loaded.items() if t > now}

    def add(self, origin_jti: str | None, until: float | None) -> None:
        """Remember an ended session (``until``: when its access token expires)."""
        if not origin_jti or not until or until <= self.clock():
            return
        if self._until.get(origin_jti, 0.0) >= until:
            return
        self._until[origin_jti] = until
        if self.store is not None:
            entries = self.current()
            try:
                self.store.save(entries)
            except OSError as e:  # the session still ends; the feed serves it from memory
                self.log.error(
                    "Cannot write the revocation file %s (%s): a Hub restart would forget "
                    "this ended session",
                    self.store.path,
                    e.strerror or type(e).__name__,
                )

    def current(self) -> dict[str, float]:
        """Ended sessions whose access tokens may still be presented, with their expiry."""
        now = self.clock()
        for jti in [j for j, until in self._until.items() if until <= now]:
            del self._until[jti]
        return dict(self._until)
