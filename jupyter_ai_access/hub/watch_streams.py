"""The session watch held as one stream per server: idle costs no SQL and (almost) no CPU.

A server that asks ``?wait=<s>&have=<fingerprint>&stream=1`` gets, once its token is
authenticated (JupyterHub's own check, the only SQL of an idle watch), a ``200`` response of
``application/x-ndjson`` lines held open for ``CognitoOAuthenticator.session_wait_max`` seconds
(``wait`` is the longest silence the server accepts: the keep-alive interval):

- ``{"status": <code>, "body": {...}}``: the answer the plain long-poll would have given
  (200 with the tokens, 401 ``login_required``, 503 ``idp_unavailable``), written each time the
  user's session changes (login, refresh, logout, ...); the stream stays open after it;
- an empty line every ``wait`` seconds (at most ``session_watch_keepalive``) while nothing
  changes: the idle cycle of the watch, written from memory by one ticker for all streams
  (:class:`KeepAlives`): no database, no authentication;
- every ``recheck_interval`` the session is checked at Cognito (a refresh; a changed answer is
  written as any change), as the long-poll's reconnections made JupyterHub do;
- a last line ``{"status": 204}`` when the hold ends (reconnect at once), 409
  ``watch_superseded`` when a newer watch ended this one, 403 when the token that opened the
  stream was deleted or expired meanwhile (checked before any change is written).

Two headers tell the server how to behave: ``X-AI-Access-Keepalive`` (seconds between keep-alive
lines: silence for three of them means the Hub is gone) and ``X-AI-Access-Reconnect-Spread``
(seconds over which to spread the reconnection after losing the stream: the number of streams the
Hub holds divided by ``session_watch_reconnect_rate``), so that a Hub restart is not answered by
every server at the same instant.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import math
import time
from dataclasses import dataclass
from datetime import timezone
from typing import Any

from jupyterhub import orm

__all__ = [
    "KEEPALIVE_HEADER",
    "SPREAD_HEADER",
    "STREAM_TYPE",
    "KeepAlives",
    "StreamWriter",
    "recheck_due",
    "start_stream",
    "stream_deadline",
    "token_still_valid",
]

STREAM_TYPE = "application/x-ndjson"
KEEPALIVE_HEADER = "X-AI-Access-Keepalive"
SPREAD_HEADER = "X-AI-Access-Reconnect-Spread"


@dataclass(eq=False)
class StreamWriter:
    """One open watch stream: writes lines to its tornado handler while it is open."""

    handler: Any
    open: bool = True
    started: bool = False

    def start(self, keepalive: float, spread: float) -> None:
        """Send the headers now: the server knows it holds a stream."""
        h = self.handler
        h.set_status(200)
        h.set_header("Content-Type", STREAM_TYPE)
        h.set_header("Cache-Control", "no-store")
        h.set_header("X-Accel-Buffering", "no")
        h.set_header(KEEPALIVE_HEADER, f"{keepalive:g}")
        h.set_header(SPREAD_HEADER, f"{spread:.1f}")
        self.started = True
        self.write(b"\n")

    def line(self, status: int, body: Any) -> None:
        """Write one answer line."""
        self.write(json.dumps({"status": status, "body": body}).encode() + b"\n")

    def write(self, data: bytes) -> None:
        """Write and flush (nothing once the handler finished or the client went away)."""
        h = self.handler
        if not self.open or h._finished or h.request.connection.stream.closed():
            self.open = False
            return
        h.write(data)
        h.flush()


class KeepAlives:
    """One ticker writes every open stream's keep-alive lines, each at its own interval.

    Streams wait in a heap by the time their next line is due; each tick writes those whose time
    came. A closed stream is dropped when its turn comes.
    """

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self._due: list[tuple[float, int, float, StreamWriter]] = []
        self._seq = itertools.count()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0

    def add(self, stream: StreamWriter, interval: float) -> None:
        """Keep ``stream`` alive every ``interval`` seconds until it closes."""
        heapq.heappush(self._due, (self.clock() + interval, next(self._seq), interval, stream))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def __len__(self) -> int:
        return len(self._due)

    async def _run(self) -> None:
        while self._due:
            now = self.clock()
            while self._due and self._due[0][0] <= now:
                _, _, interval, stream = heapq.heappop(self._due)
                if not stream.open:
                    continue
                stream.write(b"\n")
                self.sent += 1
                if stream.open:
                    heapq.heappush(self._due, (now + interval, next(self._seq), interval, stream))
            if self._due:
                await asyncio.sleep(min(1.0, max(0.02, self._due[0][0] - self.clock())))


def start_stream(handler: Any, stream: StreamWriter, keepalive: float) -> None:
    """Send the stream's headers (keep-alive, reconnection spread) and start its keep-alives."""
    auth = handler.authenticator
    spread = max(1.0, auth.watch_board.total / auth.session_watch_reconnect_rate)
    stream.start(keepalive, spread)
    auth.keepalives.add(stream, keepalive)


def stream_deadline(handler: Any, wait: float) -> float:
    """When (monotonic s) the stream ends: after ``wait``, or when the API token that opened it
    expires, if it does (read at the request's authentication: no SQL)."""
    deadline = time.monotonic() + wait
    expires = getattr(handler.get_token(), "expires_at", None)
    if expires:
        left = expires.replace(tzinfo=timezone.utc).timestamp() - time.time()
        deadline = min(deadline, time.monotonic() + left)
    return deadline


def token_still_valid(handler: Any) -> bool:
    """Before a held stream writes a change: the token that opened it still exists, unexpired."""
    orm_token = orm.APIToken.find(handler.db, handler.get_auth_token() or "")
    if orm_token is None:
        return False
    expires = orm_token.expires_at
    return expires is None or expires.replace(tzinfo=timezone.utc).timestamp() > time.time()


def recheck_due(auth: Any, answer: Any, checked: float) -> float:
    """When (monotonic s) a stream re-checks its user's session at Cognito (inf: never).

    ``CognitoOAuthenticator.recheck_interval`` after the last refresh (the answer's
    ``refreshed_at``), and not again within that interval of this stream's last re-check
    (Cognito down: the refresh's own back-off decides, not a loop here).
    """
    interval = float(auth.recheck_interval or 0)
    body = answer.body if answer.status == 200 else None
    if not interval or not isinstance(body, dict) or not body.get("refreshed_at"):
        return math.inf
    due = time.monotonic() + float(body["refreshed_at"]) + interval - auth.clock()
    return float(max(due, checked + interval))
