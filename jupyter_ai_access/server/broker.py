"""The server's token broker: the user's short-lived tokens, cached, renewed and handed out.

The broker always has a :class:`~.tokenset.TokenSource` to ask: under JupyterHub the Hub
(:class:`~.hub_source.HubSource`, the default), without one the standalone sign-in
(:mod:`.standalone`), or a source of your own. It does the same for all of them:

- caches the access and ID tokens the source gives;
- one fetch in flight at a time, however many kernels ask;
- renews ahead of expiry in the background (``renew_before`` seconds), backing off on failures;
- keeps serving a still-valid token while the source is unreachable; after expiry it raises
  :class:`~jupyter_ai_access.errors.TokensUnavailableError`, and when the session is over
  :class:`~jupyter_ai_access.errors.SessionEndedError` (with the login URL);
- per-resource tokens (an audience, scopes: :meth:`TokenBroker.get_exchanged`) from the
  source's exchange, cached per ``(audience, scope_key)`` the same way (:mod:`.exchanged`) and
  withdrawn with the session;
- tells listeners (the kernels' token files) about every new token set, and observers (the
  status API's long-poll, the audit events of :mod:`.events`) about every change of state:
  ``observer(kind, detail)`` with kind ``installed``, ``failed`` or ``ended``.

A source pushes what it learns by itself (a sign-in, the Hub's session watch) through
:meth:`TokenBroker.install`, :meth:`~TokenBroker.withdraw` and :meth:`~TokenBroker.failed`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from traitlets import Float, Unicode
from traitlets.config import LoggingConfigurable

from ..errors import SessionEndedError, TokensUnavailableError
from ..retry import Backoff, SingleFlight
from .exchanged import ExchangedTokens
from .hub_source import HUB_SETTINGS, HubSource
from .tokenset import ExchangedSet, TokenSet, TokenSink, TokenSource

__all__ = ["TokenBroker", "TokenSet", "TokenSink", "TokenSource"]

_OLD_NAME = (
    "Old name of HubSource.{0} (a setting of the Hub source): still honoured, HubSource wins."
)


class TokenBroker(LoggingConfigurable):
    """Caches the user's tokens from its source, renews them ahead of expiry, hands them out."""

    renew_before = Float(
        120.0,
        config=True,
        help="""Renew when the tokens expire within this many seconds. Keep it below
        CognitoOAuthenticator.refresh_margin so that the Hub has refreshed by then.
        Default: 120.""",
    )
    max_backoff = Float(
        60.0,
        config=True,
        help="""Longest wait between renewal attempts while the source (the Hub) is unreachable,
        and between the session watch's reconnections (s). Default: 60.""",
    )

    # The Hub's settings moved to HubSource; their old names keep working (see HubSource).
    hub_api_url = Unicode(None, allow_none=True, config=True, help=_OLD_NAME.format("hub_api_url"))
    api_token = Unicode(None, allow_none=True, config=True, help=_OLD_NAME.format("api_token"))
    user = Unicode(None, allow_none=True, config=True, help=_OLD_NAME.format("user"))
    login_url = Unicode(None, allow_none=True, config=True, help=_OLD_NAME.format("login_url"))
    http_timeout = Float(None, allow_none=True, config=True, help=_OLD_NAME.format("http_timeout"))
    watch_wait = Float(None, allow_none=True, config=True, help=_OLD_NAME.format("watch_wait"))

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        source: TokenSource | None = None,
        **kwargs: Any,
    ) -> None:
        """``source``: where tokens come from (default: a :class:`HubSource` configured from
        ``c.HubSource.*`` and the old ``c.TokenBroker.*`` names)."""
        super().__init__(**kwargs)
        self.clock = clock
        self.tokens: TokenSet | None = None
        self.fetches = 0  # token requests to the source (the Hub's session watch not included)
        self.last_renewal: float | None = None
        self.last_error: str | None = None
        self.last_failure: str | None = None  # kind of the last failure (see failed)
        self.session_ended: SessionEndedError | None = None
        self.listeners: list[Callable[[TokenSet | None], None]] = []
        self.observers: list[Callable[[str, dict[str, Any]], None]] = []
        self.version = 0  # bumped at every change an observer hears of
        self._flight: SingleFlight[TokenSet] = SingleFlight()
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopped = False
        #: Where the tokens come from (the broker's only collaborator upstream).
        self.source: TokenSource = source or HubSource(parent=self)
        self.source.attach(self)
        #: Per-resource tokens, per (audience, scope_key): :meth:`get_exchanged`.
        self.exchanged = ExchangedTokens(
            self.source, self._now, lambda: self.renew_before, self.withdraw
        )
        for name in HUB_SETTINGS:
            self.observe(self._forward_old_name, name)

    def _now(self) -> float:
        return self.clock()

    def _forward_old_name(self, change: Any) -> None:
        """``broker.<old name> = value`` after creation still reaches the Hub source."""
        if isinstance(self.source, HubSource) and change["new"] is not None:
            setattr(self.source, change["name"], change["new"])

    @property
    def enabled(self) -> bool:
        """Whether the source is configured (token delivery is on)."""
        return self.source.enabled

    # ---------------------------------------------------------------- fetching
    async def get(self, min_valid: float = 0.0, *, force: bool = False) -> TokenSet:
        """Tokens valid for at least ``min_valid`` seconds when the source can give them."""
        current = self.tokens
        now = self.clock()
        if current is not None and not force and current.expires_at - now > min_valid:
            return current
        try:
            return await self._fetch()
        except TokensUnavailableError:
            if current is not None and current.expires_at > self.clock():
                return current  # still valid: keep serving it while the source is away
            raise

    async def get_exchanged(
        self,
        audience: str,
        scopes: tuple[str, ...] = (),
        min_valid: float = 0.0,
        *,
        force: bool = False,
    ) -> ExchangedSet:
        """A token bound to ``audience`` (and ``scopes``; empty: all the user may have), valid for
        at least ``min_valid`` seconds when the source can give it; one request per key at once.

        Raises SessionEndedError, AudienceRefusedError, ExchangeRefusedError or
        TokensUnavailableError (nothing valid held and the source cannot be reached).
        """
        if self.session_ended is not None and self.source.watching:
            raise self.session_ended
        return await self.exchanged.get(audience, scopes, min_valid, force=force)

    async def _fetch(self) -> TokenSet:
        if self.session_ended is not None and self.source.watching:
            # The source tells us when the user logs in again: no request per kernel.
            raise self.session_ended
        return await self._flight.run(self._request)

    async def _request(self) -> TokenSet:
        self.fetches += 1
        started = time.monotonic()
        try:
            tokens = await self.source.fetch()
        except SessionEndedError as e:
            if self.tokens is None and self.session_ended is not None:
                self.session_ended = e  # still signed out: nothing to withdraw or log again
            else:
                self._ended(e, started=started)
            raise
        except TokensUnavailableError as e:
            self.failed(e, started=started)
            raise
        self._installed(tokens, started=started)
        return tokens

    def install(self, tokens: TokenSet, via: str = "fetch") -> None:
        """Tokens a source pushes (a sign-in, the watch): kernels get them at once, renewal is
        scheduled."""
        self._installed(tokens, via=via)
        self.start()

    def withdraw(self, error: SessionEndedError, via: str = "fetch") -> None:
        """A source ended the session (sign-out, the Hub's logout): every kernel's tokens are
        withdrawn."""
        self._ended(error, via=via)

    def failed(
        self, error: TokensUnavailableError, via: str = "fetch", started: float | None = None
    ) -> None:
        """The source could not be asked (the tokens held are served until they expire)."""
        self.last_error = error.reason
        self.last_failure = error.failure  # cognito_unreachable, hub_unreachable, hub_error, ...
        self.log.warning("Could not renew tokens: %s", error.reason)
        self._observe("failed", via, started, result=error.failure, reason=error.reason)

    def _installed(
        self, tokens: TokenSet, via: str = "fetch", started: float | None = None
    ) -> None:
        if self.tokens == tokens and self.session_ended is None:
            return  # the watch's unchanged answer
        self.tokens = tokens
        self.last_renewal = self.clock()
        self.last_error = None
        self.session_ended = None
        self.log.info(
            "Renewed the Cognito tokens of %s (valid for %.0f s)",
            tokens.username,
            tokens.expires_at - self.clock(),
        )
        self._notify(tokens)
        self._observe("installed", via, started, result="ok", tokens=tokens)
        self.wake()

    def _ended(
        self, error: SessionEndedError, via: str = "fetch", started: float | None = None
    ) -> None:
        first = self.session_ended is None
        self.last_error = str(error)
        self.session_ended = error
        self.tokens = None
        self.exchanged.clear()
        self.log.warning(
            "The session of %s (token source: %s) has ended; tokens withdrawn",
            self.source.user or "the user",
            self.source.kind,
        )
        self._notify(None)
        self._observe("ended", via, started, result="session_ended", first=first, error=error)

    def _observe(self, kind: str, via: str, started: float | None, **detail: Any) -> None:
        """Tell the observers of a change (``duration`` only for plain fetches, in seconds)."""
        self.version += 1
        duration = time.monotonic() - started if started is not None and via == "fetch" else None
        detail.update(via=via, duration=duration)
        for observer in list(self.observers):
            try:
                observer(kind, detail)
            except Exception:  # an observer's failure must not stop token delivery
                self.log.exception("Token broker observer failed")

    def _notify(self, tokens: TokenSet | None) -> None:
        for listener in list(self.listeners):
            try:
                listener(tokens)
            except Exception:  # a broken kernel folder must not stop the others
                self.log.exception("Token listener failed")

    # ---------------------------------------------------------------- background renewal
    def start(self) -> None:
        """Start renewing ahead of expiry, and the source's own work (the Hub's session watch),
        in the background (idempotent; nothing once stopped)."""
        if self._stopped:
            return  # a push or a kernel arriving during shutdown must not restart the renewal
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._renew_forever())
        self.source.start()

    async def stop(self) -> None:
        """Stop the background renewal and close the source (for good)."""
        self._stopped = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.source.close()

    async def _renew_forever(self) -> None:
        backoff = Backoff(2.0, max(2.0, self.max_backoff))
        # Not `while True`: Python 3.11's wait_for loses a cancellation that arrives as the
        # awaited event is set (a sign-in just before shutdown); stop() sets _stopped first.
        while not self._stopped:
            tokens = self.tokens
            if tokens is None:
                delay = backoff.delay if self.last_error else 0.0
            else:
                delay = tokens.expires_at - self.renew_before - self.clock()
            if delay > 0:
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
            try:
                await self.get(min_valid=self.renew_before)
                backoff.reset()
                tokens = self.tokens
                if tokens is not None and tokens.expires_at - self.clock() <= self.renew_before:
                    # The Hub handed back tokens that are already within our margin: it has not
                    # refreshed (yet). Wait a little rather than asking again at once.
                    left = max(tokens.expires_at - self.clock(), 1)
                    await asyncio.sleep(min(backoff.start, left))
            except SessionEndedError:
                self._wake.clear()  # a push from the source (a new login) wakes us
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.max_backoff)
            except TokensUnavailableError:
                await asyncio.sleep(backoff.failed())

    def wake(self) -> None:
        """Re-evaluate the renewal schedule now (e.g. after a kernel asked with force)."""
        self._wake.set()
