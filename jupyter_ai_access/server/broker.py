"""The single-user server's token broker: the user's short-lived tokens, fresh, from the Hub.

The Hub is the broker's built-in source. Another source (:class:`TokenSource`, e.g. the
standalone login of :mod:`.standalone`) can take its place: set :attr:`TokenBroker.source`, and
the broker asks it instead of the Hub, with the same caching, renewal and listeners.

- caches the access and ID tokens fetched from the Hub endpoint (``hub/tokens_api.py``; the
  contract is :mod:`jupyter_ai_access.protocol`);
- one fetch in flight at a time, however many kernels ask;
- renews ahead of expiry in the background (``renew_before`` seconds), backing off on failures;
- keeps serving a still-valid token while the Hub is unreachable; after expiry it raises
  :class:`~jupyter_ai_access.errors.TokensUnavailableError`, and when the session is over
  :class:`~jupyter_ai_access.errors.SessionEndedError` (with the login URL);
- tells listeners (the kernels' token files) about every new token set, and observers (the
  status API's long-poll, the audit events of :mod:`.events`) about every change of state:
  ``observer(kind, detail)`` with kind ``installed``, ``failed`` or ``ended``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from traitlets import Float, Unicode, default
from traitlets.config import LoggingConfigurable

from ..errors import SessionEndedError, TokensUnavailableError, WatchSupersededError
from ..protocol import (
    ERROR_IDP_UNAVAILABLE,
    ERROR_LOGIN_REQUIRED,
    ERROR_WATCH_SUPERSEDED,
    TOKENS_SCOPE,
    HubTokens,
    hub_tokens_url,
)
from ..retry import Backoff, SingleFlight
from .tokenset import TokenSet, TokenSource
from .watch import watch_forever

__all__ = ["TokenBroker", "TokenSet", "TokenSource"]


class TokenBroker(LoggingConfigurable):
    """Fetches the user's tokens from the Hub and keeps them fresh."""

    hub_api_url = Unicode(
        config=True,
        help="JupyterHub's API URL. Default: $JUPYTERHUB_API_URL (set by JupyterHub).",
    )
    api_token = Unicode(
        config=True,
        help="""The server's Hub API token. Default: $JUPYTERHUB_API_TOKEN (set by JupyterHub).
        Do not put it in a config file: jupyter_server logs its config at DEBUG level.""",
    )
    user = Unicode(
        config=True,
        help="Whose tokens to fetch. Default: $JUPYTERHUB_USER (set by JupyterHub).",
    )
    login_url = Unicode(
        config=True,
        help="""Where to send a user whose session has ended. Default:
        $JUPYTERHUB_PUBLIC_HUB_URL + "login" when JupyterHub sets it, else the Hub's answer.""",
    )
    renew_before = Float(
        120.0,
        config=True,
        help="""Renew when the tokens expire within this many seconds. Keep it below
        CognitoOAuthenticator.refresh_margin so that the Hub has refreshed by then.
        Default: 120.""",
    )
    http_timeout = Float(
        10.0, config=True, help="Timeout of a request to the Hub (s). Default: 10."
    )
    max_backoff = Float(
        60.0,
        config=True,
        help="Longest wait between renewal attempts while the Hub is unreachable (s). Default: 60.",
    )

    watch_wait = Float(
        240.0,
        config=True,
        help="""How long (s) each session-watch request may wait at the Hub for a change. The
        watch is one open request per server through which a logout reaches every kernel within
        a second; the Hub caps it at CognitoOAuthenticator.session_wait_max. 0 turns the watch
        off (kernels then learn of a logout at the next renewal). Default: 240.""",
    )

    @default("hub_api_url")
    def _hub_api_url_default(self) -> str:
        return os.environ.get("JUPYTERHUB_API_URL", "").rstrip("/")

    @default("api_token")
    def _api_token_default(self) -> str:
        return os.environ.get("JUPYTERHUB_API_TOKEN", "")

    @default("user")
    def _user_default(self) -> str:
        return os.environ.get("JUPYTERHUB_USER", "")

    @default("login_url")
    def _login_url_default(self) -> str:
        public = os.environ.get("JUPYTERHUB_PUBLIC_HUB_URL", "")
        return f"{public.rstrip('/')}/login" if public else ""

    def __init__(self, clock: Callable[[], float] = time.time, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock = clock
        self.tokens: TokenSet | None = None
        self.fetches = 0  # token requests to the Hub (the watch's long-polls not included)
        self.watches = 0  # session-watch requests
        self.watching = False  # set by the session watch while it runs
        self.last_renewal: float | None = None
        self.last_error: str | None = None
        self.last_failure: str | None = None  # kind of the last failure (see _failed)
        self.session_ended: SessionEndedError | None = None
        self.listeners: list[Callable[[TokenSet | None], None]] = []
        self.observers: list[Callable[[str, dict[str, Any]], None]] = []
        self.version = 0  # bumped at every change an observer hears of
        self._flight: SingleFlight[TokenSet] = SingleFlight()
        self._task: asyncio.Task[None] | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._http: AsyncHTTPClient | None = None
        #: A source to ask instead of the Hub (None: the Hub); set before the first request.
        self.source: TokenSource | None = None

    def _client(self) -> AsyncHTTPClient:
        # A client of our own: kernels waiting on the broker must not be able to fill the
        # shared client's connection slots that the broker's own Hub request needs.
        if self._http is None:
            self._http = AsyncHTTPClient(force_instance=True)
        return self._http

    @property
    def enabled(self) -> bool:
        """Whether there is a Hub (or another source) to fetch tokens from."""
        if self.source is not None:
            return self.source.enabled
        return bool(self.hub_api_url and self.api_token and self.user)

    # ---------------------------------------------------------------- fetching
    async def get(self, min_valid: float = 0.0, *, force: bool = False) -> TokenSet:
        """Tokens valid for at least ``min_valid`` seconds when the Hub can give them."""
        current = self.tokens
        now = self.clock()
        if current is not None and not force and current.expires_at - now > min_valid:
            return current
        try:
            return await self._fetch()
        except TokensUnavailableError:
            if current is not None and current.expires_at > self.clock():
                return current  # still valid: keep serving it while the Hub is away
            raise

    async def _fetch(self) -> TokenSet:
        if self.session_ended is not None and self.watching:
            # The session watch tells us when the user logs in again: no Hub request per kernel.
            raise self.session_ended
        return await self._flight.run(self._request)

    async def _request(self, wait: float = 0.0, have: str = "") -> TokenSet:
        if self.source is not None:
            return await self._from_source(self.source)
        if not self.enabled:
            raise TokensUnavailableError(
                "Not running under JupyterHub: no Hub to get tokens from "
                "(TokenBroker.hub_api_url, api_token and user are empty)."
            )
        url = hub_tokens_url(self.hub_api_url, self.user)
        started = time.monotonic()
        via = "watch" if wait else "fetch"
        if wait:
            url += "?" + urlencode({"wait": f"{wait:g}", "have": have})
        else:
            self.fetches += 1
        request = HTTPRequest(
            url,
            headers={"Authorization": f"token {self.api_token}"},
            request_timeout=self.http_timeout + wait,
            connect_timeout=self.http_timeout,
            follow_redirects=False,
        )
        try:
            response = await self._client().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as e:
            self._failed(
                f"JupyterHub cannot be reached ({type(e).__name__})",
                result="hub_unreachable",
                via=via,
                started=started,
            )
            raise TokensUnavailableError(
                "JupyterHub cannot be reached to renew your tokens; retrying."
            ) from None
        try:
            body = json.loads(response.body or b"{}")
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if response.code == 200:
            answer = cast(HubTokens, body)
            tokens = TokenSet(
                access_token=answer["access_token"],
                id_token=answer["id_token"],
                access_expires_at=float(answer["access_token_expires_at"]),
                id_expires_at=float(answer["id_token_expires_at"]),
                username=answer.get("username", self.user),
                groups=tuple(answer.get("groups", ())),
                scope=tuple(answer.get("scope", ())),
                cognito_username=answer.get("cognito_username"),
            )
            self._installed(tokens, via=via, started=started)
            return tokens
        message = str(body.get("message") or f"JupyterHub answered HTTP {response.code}")
        if response.code == 401 and body.get("error") == ERROR_LOGIN_REQUIRED:
            ended = SessionEndedError(message, self.login_url or str(body.get("login_url", "")))
            self._ended(ended, via=via, started=started)
            raise ended
        if via == "watch" and response.code == 409 and body.get("error") == ERROR_WATCH_SUPERSEDED:
            # a newer watch of this user or token (a kernel calling the Hub with the server's
            # token): not a failure; the watch reconnects after a back-off
            self.log.info("The Hub ended this server's session watch: %s", message)
            raise WatchSupersededError(message)
        if response.code in (401, 403, 404):
            self._failed(
                f"JupyterHub refused the token request (HTTP {response.code})",
                result="refused",
                via=via,
                started=started,
            )
            raise TokensUnavailableError(
                f"JupyterHub refused the token request (HTTP {response.code}): the server's "
                f"role needs the scope {TOKENS_SCOPE}!user."
            )
        cognito = body.get("error") == ERROR_IDP_UNAVAILABLE
        result = "cognito_unreachable" if cognito else "hub_error"
        self._failed(message, result=result, via=via, started=started)
        raise TokensUnavailableError(message)

    async def _from_source(self, source: TokenSource) -> TokenSet:
        self.fetches += 1
        try:
            tokens = await source.fetch()
        except SessionEndedError as e:
            if self.tokens is None and self.session_ended is not None:
                self.session_ended = e  # still signed out: nothing to withdraw or log again
            else:
                self._ended(e)
            raise
        except TokensUnavailableError as e:
            self._failed(str(e))
            raise
        self._installed(tokens)
        return tokens

    def install(self, tokens: TokenSet) -> None:
        """Tokens a source pushes (a sign-in): kernels get them at once, renewal is scheduled."""
        self._installed(tokens)
        self.start()

    def withdraw(self, error: SessionEndedError) -> None:
        """A source ended the session (sign-out): every kernel's tokens are withdrawn."""
        self._ended(error)

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

    def _failed(
        self,
        reason: str,
        result: str = "hub_error",
        via: str = "fetch",
        started: float | None = None,
    ) -> None:
        self.last_error = reason
        self.last_failure = result  # cognito_unreachable, hub_unreachable, hub_error, refused
        self.log.warning("Could not renew tokens: %s", reason)
        self._observe("failed", via, started, result=result, reason=reason)

    def _ended(
        self, error: SessionEndedError, via: str = "fetch", started: float | None = None
    ) -> None:
        first = self.session_ended is None
        self.last_error = str(error)
        self.session_ended = error
        self.tokens = None
        self.log.warning(
            "The %s session of %s has ended; tokens withdrawn",
            "JupyterHub" if self.source is None else "Cognito",
            self.user or "the user",
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
        """Start renewing ahead of expiry, and the session watch, in the background (idempotent)."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._renew_forever())
        watch = self.watch_wait > 0 and self.source is None  # the watch is the Hub's
        if watch and (self._watch_task is None or self._watch_task.done()):
            self._watch_task = loop.create_task(watch_forever(self))

    async def stop(self) -> None:
        """Stop the background renewal and the session watch."""
        for task in (self._task, self._watch_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._watch_task = None
        if self._http is not None:
            self._http.close()
            self._http = None

    async def _renew_forever(self) -> None:
        backoff = Backoff(2.0, max(2.0, self.max_backoff))
        while True:
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
                self._wake.clear()  # the session watch wakes us when the user logs in again
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.max_backoff)
            except TokensUnavailableError:
                await asyncio.sleep(backoff.failed())

    def wake(self) -> None:
        """Re-evaluate the renewal schedule now (e.g. after a kernel asked with force)."""
        self._wake.set()
