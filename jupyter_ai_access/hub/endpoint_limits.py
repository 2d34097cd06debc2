"""Bounds on the Hub's token endpoint, so that one user's kernel cannot stall the Hub.

A kernel inherits its server's ``JUPYTERHUB_API_TOKEN`` and may call the token endpoint as often
as it likes. Three bounds keep that cost with its user:

- :class:`WatchBoard` holds at most ``session_watches_per_user`` open session watches per user
  (and ``session_watches_per_token`` per API token); a new watch beyond either ends the oldest
  one at once (409 ``watch_superseded``) without waking the others.
- :class:`SharedAnswers` computes one answer per user and session change (one auth_state read,
  one audit line per token) and hands it to every watch that wakes for that change.
- :class:`Buckets` rate-limits the answers given at once (plain fetches, and watches whose
  ``have`` is already out of date): a token bucket per user, 429 ``rate_limited`` with
  ``Retry-After`` when empty.

The settings are :class:`TokenEndpointLimits` traitlets of ``CognitoOAuthenticator``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from traitlets import Enum, Float, Integer, validate
from traitlets.config import LoggingConfigurable

from .callers import CallerCheck
from .watch_streams import KeepAlives

__all__ = ["Buckets", "SharedAnswer", "SharedAnswers", "TokenEndpointLimits", "Watch", "WatchBoard"]


class TokenEndpointLimits(LoggingConfigurable):
    """Settings of the token endpoint's bounds (configure as ``c.CognitoOAuthenticator.<name>``)."""

    session_watches_per_user = Integer(
        8,
        config=True,
        help="""Most session watches (the long-poll each user server holds on the token endpoint)
        the Hub keeps open for one user. A new watch beyond this ends that user's oldest one at
        once (409 watch_superseded; the server reconnects after a back-off). Each server holds
        one: raise it for users with more named servers. Default: 8.""",
    )
    session_watches_per_token = Integer(
        2,
        config=True,
        help="""Most session watches the Hub keeps open for one API token (a server's token,
        which its kernels inherit); a new one beyond this ends that token's oldest watch.
        Default: 2 (one, plus one reconnecting).""",
    )
    token_answers_per_second = Float(
        1.0,
        config=True,
        help="""Answers given at once per user (plain token requests, and session watches whose
        `have` is already out of date), on average, per second; beyond token_answers_burst the
        endpoint answers 429 rate_limited with Retry-After. A server asks about once per
        token lifetime. Default: 1.0.""",
    )
    token_answers_burst = Integer(
        20,
        config=True,
        help="""Answers given at once per user in a burst before token_answers_per_second
        applies. Default: 20.""",
    )
    token_endpoint_callers = Enum(
        ("servers", "scoped"),
        "servers",
        config=True,
        help="""Who may read a user's tokens. "servers": only the API token JupyterHub issued to
        one of that user's own servers (its kernels inherit it). "scoped": any token with the
        scope custom:ai-access:tokens!user=<name>, including tokens the user made and tokens a
        Hub admin made for them. Every answer's audit record names the token (id, owner, note).
        Default: "servers".""",
    )

    session_watch_keepalive = Float(
        60.0,
        config=True,
        help="""Seconds between the keep-alive lines of a streamed session watch (an empty line
        written from memory: no database, no authentication). The server takes three missing
        keep-alives as a Hub that is gone and reconnects. Keep it below the idle timeout of
        anything between the servers and the Hub. Default: 60.""",
    )
    session_watch_reconnect_rate = Float(
        50.0,
        config=True,
        help="""Reconnections per second the Hub asks its servers to spread themselves to after
        losing their watch streams (a Hub restart): each server waits a random time up to
        (open watches / this rate) seconds before reconnecting. Each reconnection costs the Hub
        one token authentication (its measured CPU and SQL: docs/scaling.md). Default: 50.""",
    )

    @validate("session_watch_keepalive", "session_watch_reconnect_rate")
    def _positive_seconds(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not 0 < value < math.inf:
            raise ValueError(
                f"{self.__class__.__name__}.{proposal['trait'].name} must be a positive number, "
                f"not {value!r}."
            )
        return value

    @validate("session_watches_per_user", "session_watches_per_token", "token_answers_burst")
    def _at_least_one(self, proposal: Any) -> int:
        value = int(proposal["value"])
        if value < 1:
            raise ValueError(
                f"{self.__class__.__name__}.{proposal['trait'].name} must be at least 1, "
                f"not {value}."
            )
        return value

    @validate("token_answers_per_second")
    def _positive_rate(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not 0 < value < math.inf:
            raise ValueError(
                f"{self.__class__.__name__}.token_answers_per_second must be a positive number "
                f"of answers per second, not {value!r}."
            )
        return value

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.watch_board = WatchBoard()
        self.keepalives = KeepAlives()
        self.shared_answers = SharedAnswers()
        self.answer_buckets = Buckets()
        self.token_callers = CallerCheck()


@dataclass(eq=False)
class Watch:
    """One open session watch: ``ended`` is set when a newer one superseded it."""

    user: str
    token: str
    ended: asyncio.Event = field(default_factory=asyncio.Event)


class WatchBoard:
    """The open session watches per user, oldest first; at most the configured numbers."""

    def __init__(self) -> None:
        self._open: dict[str, list[Watch]] = {}
        self._total = 0
        self.superseded = 0

    def open(self, user: str, token: str, *, per_user: int, per_token: int) -> Watch:
        """Register a new watch, ending the oldest of the user's (or the token's) beyond a cap."""
        watches = self._open.setdefault(user, [])
        same_token = [w for w in watches if w.token == token]
        while len(same_token) >= per_token:
            self.end(same_token.pop(0))
        while len(watches) >= per_user:
            self.end(watches[0])
        watch = Watch(user, token)
        watches.append(watch)
        self._total += 1
        return watch

    def end(self, watch: Watch) -> None:
        """End ``watch`` (it answers at once) and forget it; the others keep waiting."""
        if not watch.ended.is_set():
            watch.ended.set()
            self.superseded += 1
        self.close(watch)

    def close(self, watch: Watch) -> None:
        """Forget a watch that answered (or whose client went away)."""
        watches = self._open.get(watch.user)
        if watches is None:
            return
        if watch in watches:
            watches.remove(watch)
            self._total -= 1
        if not watches:
            del self._open[watch.user]

    @property
    def total(self) -> int:
        """Open watches of all users."""
        return self._total

    def count(self, user: str) -> int:
        """Open watches of ``user``."""
        return len(self._open.get(user, ()))


@dataclass
class SharedAnswer:
    """One computed answer of the endpoint, shared by every watch that wakes for it."""

    status: int
    body: Any
    fingerprint: str
    audit: dict[str, Any] = field(default_factory=dict)  # expires_at, origin_jti of the state
    audited: set[str] = field(default_factory=set)  # tokens whose handout is already audited

    def first_handout(self, token: str) -> bool:
        """True the first time this answer goes to ``token`` (write one audit line)."""
        if token in self.audited:
            return False
        self.audited.add(token)
        return True


class SharedAnswers:
    """One answer per user and session generation, reused for ``max_age`` seconds."""

    def __init__(self, max_age: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age = max_age
        self.clock = clock
        self._current: dict[str, tuple[int, float, asyncio.Future[SharedAnswer]]] = {}
        self.computed = 0

    async def get(
        self, user: str, generation: int, compute: Callable[[], Awaitable[SharedAnswer]]
    ) -> SharedAnswer:
        """The answer for ``user`` at session ``generation``: computed once, then shared."""
        now = self.clock()
        held = self._current.get(user)
        if held is not None and held[0] == generation and now - held[1] < self.max_age:
            return await asyncio.shield(held[2])
        if len(self._current) > 1024:
            for name, (_, at, _f) in list(self._current.items()):
                if now - at >= self.max_age:
                    del self._current[name]
        future: asyncio.Future[SharedAnswer] = asyncio.ensure_future(compute())
        self._current[user] = (generation, now, future)
        self.computed += 1
        try:
            return await asyncio.shield(future)
        except Exception:
            if self._current.get(user, (0, 0.0, None))[2] is future:
                del self._current[user]
            raise


class Buckets:
    """A token bucket per user: ``take`` returns 0 when allowed, else seconds to wait."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._level: dict[str, tuple[float, float]] = {}  # user -> (tokens, at)

    def take(self, user: str, rate: float, burst: int) -> float:
        """Take one answer from ``user``'s bucket; the seconds until one is free when empty."""
        now = self.clock()
        tokens, at = self._level.get(user, (float(burst), now))
        tokens = min(float(burst), tokens + (now - at) * rate)
        if len(self._level) > 4096:  # forget full buckets (they equal a fresh one)
            for name, (t, a) in list(self._level.items()):
                if t + (now - a) * rate >= burst:
                    del self._level[name]
        if tokens >= 1.0:
            self._level[user] = (tokens - 1.0, now)
            return 0.0
        self._level[user] = (tokens, now)
        return (1.0 - tokens) / rate
