"""Retry machinery shared by every process: exponential backoff and single flight.

Standard library only (the resource side's JWKS cache uses it too).

- :class:`Backoff` — "wait ``start`` seconds after the first failure, doubling up to ``cap``";
  the JWKS cache, the Hub's refresh retries and the server's renewal loop each hold one.
- :class:`SingleFlight` — one coroutine in flight per key; callers arriving meanwhile await the
  same result (or exception). Used for the server's Hub fetch, the Hub's per-user refresh and the
  JWKS fetch, so many kernels, requests or forged ``kid`` s make one upstream request.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["Backoff", "SingleFlight"]

T = TypeVar("T")


class Backoff:
    """Exponential backoff: ``start``, ``2 * start``, … up to ``cap`` seconds; reset on success.

    With ``jitter`` (0 to 1) each wait is drawn at random between ``(1 - jitter) * delay`` and
    ``delay``, so that clients that failed together (a Hub restart drops every watch at once) do
    not all come back at the same instant.
    """

    def __init__(self, start: float, cap: float, *, jitter: float = 0.0) -> None:
        if start <= 0 or cap < start:
            raise ValueError(f"Backoff needs 0 < start <= cap (got start={start}, cap={cap})")
        if not 0.0 <= jitter <= 1.0:
            raise ValueError(f"Backoff jitter must be between 0 and 1 (got {jitter})")
        self.start = start
        self.cap = cap
        self.jitter = jitter
        self.failures = 0

    @property
    def delay(self) -> float:
        """The wait after the failures so far (0 when there were none)."""
        if self.failures == 0:
            return 0.0
        return min(self.cap, self.start * 2.0 ** (self.failures - 1))

    def failed(self) -> float:
        """Count a failure and return how long to wait before the next attempt."""
        self.failures += 1
        if not self.jitter:
            return self.delay
        return self.delay * (1.0 - self.jitter * random.random())  # noqa: S311 - not a secret

    def reset(self) -> None:
        """A success: the next failure waits ``start`` again."""
        self.failures = 0


class SingleFlight(Generic[T]):
    """At most one ``fn()`` in flight per key and event loop; concurrent callers share it.

    A caller that is cancelled does not cancel the shared call for the others (it is shielded).
    """

    def __init__(self) -> None:
        self._inflight: dict[tuple[asyncio.AbstractEventLoop, Hashable], asyncio.Future[T]] = {}

    def in_flight(self, key: Hashable = None) -> bool:
        """Whether a call for ``key`` is running on the current loop."""
        return (asyncio.get_running_loop(), key) in self._inflight

    async def run(self, fn: Callable[[], Awaitable[T]], key: Hashable = None) -> T:
        """Run ``fn()`` unless a call for ``key`` is in flight; either way, return its result."""
        slot = (asyncio.get_running_loop(), key)
        pending = self._inflight.get(slot)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[T] = slot[0].create_future()
        future.add_done_callback(lambda f: f.cancelled() or f.exception())  # no "never retrieved"
        self._inflight[slot] = future
        try:
            result = await fn()
        except BaseException as e:
            future.set_exception(e)
            raise
        else:
            future.set_result(result)
            return result
        finally:
            self._inflight.pop(slot, None)
