"""The Hub token source: the user's tokens from JupyterHub's token endpoint, and the session watch.

:class:`HubSource` is the :class:`~.tokenset.TokenSource` of a server JupyterHub spawned (the
default). It is the Hub API client of the server extension:

- :meth:`HubSource.fetch` asks the Hub's endpoint (``hub/tokens_api.py``; the contract is
  :mod:`jupyter_ai_access.protocol`) with the server's API token;
- the **session watch**: one stream on the same endpoint (``?wait=&have=<fingerprint of the held
  access token>&stream=1``, :mod:`.hub_stream`) that the Hub holds for
  ``CognitoOAuthenticator.session_wait_max`` (1 h): each session change (new tokens, the session
  ended, a new login) arrives as one line at once, and a keep-alive line every ``watch_wait``
  seconds otherwise, written from the Hub's memory (an idle watch costs the Hub no SQL). A Hub
  without streams answers it as a long-poll, renewed every ``watch_wait``. A session end
  withdraws every kernel's tokens at once. One channel per user server, however many kernels it
  runs. The Hub holds a few watches per user and token
  (``CognitoOAuthenticator.session_watches_per_user``); when a newer one ends this one (409
  ``watch_superseded``), the watch reconnects after a back-off.

When the Hub goes away (a restart drops every watch at the same instant) the watch reconnects at
a random moment of the window the Hub announced with the stream (its number of watches divided by
``CognitoOAuthenticator.session_watch_reconnect_rate``), then after a backoff of 1 s doubling up
to ``TokenBroker.max_backoff``, each wait drawn at random down to a tenth of it (full jitter): the
servers come back spread out instead of all at once. Three keep-alives missed count as a Hub gone.

Settings are ``c.HubSource.*``; the names they had before the Hub source existed,
``c.TokenBroker.hub_api_url`` (``api_token``, ``user``, ``login_url``, ``http_timeout``,
``watch_wait``), still work (``HubSource`` wins when both are set).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
from typing import Any, cast
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from traitlets import Bool, Float, Unicode, default
from traitlets.config import LoggingConfigurable

from ..errors import SessionEndedError, TokensUnavailableError, WatchSupersededError
from ..protocol import (
    ERROR_IDP_UNAVAILABLE,
    ERROR_LOGIN_REQUIRED,
    ERROR_WATCH_SUPERSEDED,
    TOKENS_SCOPE,
    HubTokens,
    fingerprint,
    hub_tokens_url,
)
from ..retry import Backoff
from .exchanged import hub_exchange
from .hub_stream import HubGone, open_watch
from .tokenset import ExchangedSet, TokenSet, TokenSink

__all__ = ["HUB_SETTINGS", "WATCH_JITTER", "HubSource"]

#: The share of each reconnection wait drawn at random (see :class:`~..retry.Backoff`).
WATCH_JITTER = 0.9
#: The settings of the Hub source that ``c.TokenBroker.<name>`` still sets.
HUB_SETTINGS = ("hub_api_url", "api_token", "user", "login_url", "http_timeout", "watch_wait")


class HubSource(LoggingConfigurable):
    """The user's tokens from JupyterHub (the broker's source under JupyterHub)."""

    kind = "hub"

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
    http_timeout = Float(config=True, help="Timeout of a request to the Hub (s). Default: 10.")
    watch_wait = Float(
        config=True,
        help="""The session watch's idle cycle (s): how long the Hub may stay silent when nothing
        changes. With watch_stream, the Hub writes a keep-alive line from memory this often (at
        most CognitoOAuthenticator.session_watch_keepalive) on one stream it holds for
        CognitoOAuthenticator.session_wait_max; without, each long-poll request waits this long
        (capped by session_wait_max) and is renewed. A logout reaches every kernel within a
        second either way. 0 turns the watch off (kernels then learn of a logout at the next
        renewal). Default: 60 with watch_stream, else 240.""",
    )

    watch_stream = Bool(
        True,
        config=True,
        help="""Hold the session watch as one stream (the Hub writes each session change as a
        line, and keep-alives from memory in between: an idle watch costs the Hub no database
        query) instead of a long-poll renewed every watch_wait seconds. A Hub without streams
        answers as a long-poll; both work. Default: True.""",
    )

    def _old_name(self, name: str) -> Any:
        """The value set as ``c.TokenBroker.<name>`` (or ``TokenBroker(<name>=...)``), or None."""
        return getattr(self.parent, name, None) if name in HUB_SETTINGS else None

    @default("hub_api_url")
    def _hub_api_url_default(self) -> str:
        old = self._old_name("hub_api_url")
        return str(old if old is not None else os.environ.get("JUPYTERHUB_API_URL", "")).rstrip("/")

    @default("api_token")
    def _api_token_default(self) -> str:
        old = self._old_name("api_token")
        return str(old if old is not None else os.environ.get("JUPYTERHUB_API_TOKEN", ""))

    @default("user")
    def _user_default(self) -> str:
        old = self._old_name("user")
        return str(old if old is not None else os.environ.get("JUPYTERHUB_USER", ""))

    @default("login_url")
    def _login_url_default(self) -> str:
        old = self._old_name("login_url")
        if old is not None:
            return str(old)
        public = os.environ.get("JUPYTERHUB_PUBLIC_HUB_URL", "")
        return f"{public.rstrip('/')}/login" if public else ""

    @default("http_timeout")
    def _http_timeout_default(self) -> float:
        old = self._old_name("http_timeout")
        return float(old) if old is not None else 10.0

    @default("watch_wait")
    def _watch_wait_default(self) -> float:
        old = self._old_name("watch_wait")
        return float(old) if old is not None else (60.0 if self.watch_stream else 240.0)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.watches = 0  # session-watch requests
        self.watching = False  # True while the session watch runs
        self.max_backoff = 60.0  # the broker's TokenBroker.max_backoff, set by attach()
        self._sink: TokenSink | None = None
        self._watch_task: asyncio.Task[None] | None = None
        self._http: AsyncHTTPClient | None = None
        self._lost_spread = 0.0  # reconnection window the Hub asked for, once a stream held
        self._closing = False

    # ---------------------------------------------------------------- TokenSource
    @property
    def enabled(self) -> bool:
        """Whether there is a Hub to fetch tokens from (its URL, the API token and the user)."""
        return bool(self.hub_api_url and self.api_token and self.user)

    @property
    def signed_in(self) -> bool:
        """Always: the Hub's login made this server (a session end is told by the Hub)."""
        return True

    def attach(self, sink: TokenSink) -> None:
        """Push what the session watch hears into ``sink`` (the broker)."""
        self._sink = sink
        self.max_backoff = float(getattr(sink, "max_backoff", self.max_backoff))

    def start(self) -> None:
        """Start the session watch (idempotent; none when ``watch_wait`` is 0)."""
        if self.watch_wait <= 0 or self._sink is None:
            return
        if self._watch_task is None or self._watch_task.done():
            self._watch_task = asyncio.get_running_loop().create_task(self.watch_forever())

    async def fetch(self) -> TokenSet:
        """The user's tokens from the Hub's endpoint."""
        return await self._request()

    async def exchange(self, audience: str, scopes: tuple[str, ...]) -> ExchangedSet:
        """A token bound to ``audience`` from the Hub's exchange endpoint (:mod:`.exchanged`)."""
        return await hub_exchange(self, audience, scopes)

    async def close(self) -> None:
        """Stop the session watch and close the Hub client."""
        task, self._watch_task = self._watch_task, None
        if task is not None:
            self._closing = True  # asyncio.wait_for may swallow a cancellation (Python < 3.12)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self._closing = False
        if self._http is not None:
            self._http.close()
            self._http = None

    # ---------------------------------------------------------------- the session watch
    async def watch_once(self, wait: float) -> TokenSet:
        """One session-watch request: returns when the Hub's answer differs from the tokens held,
        after pushing it into the sink.

        Raises :class:`SessionEndedError` when the session ended (tokens withdrawn at once),
        :class:`WatchSupersededError` when the Hub ended this watch for a newer one, and
        :class:`TokensUnavailableError` when the Hub cannot be reached.
        """
        sink = self._sink
        assert sink is not None, "attach() first"
        self.watches += 1
        held = sink.tokens.access_token if sink.tokens is not None else None
        try:
            tokens = await self._request(wait=wait, have=fingerprint(held))
        except SessionEndedError as e:
            sink.withdraw(e, via="watch")
            raise
        except WatchSupersededError:
            raise
        except TokensUnavailableError as e:
            sink.failed(e, via="watch")
            raise
        sink.install(tokens, via="watch")
        return tokens

    async def watch_forever(self) -> None:
        """Hold one watch on the Hub; a session change (logout, re-login) arrives at once."""
        backoff = Backoff(1.0, max(1.0, self.max_backoff), jitter=WATCH_JITTER)
        self.watching = True
        try:
            while not self._closing:
                self._lost_spread = 0.0
                try:
                    if self.watch_stream:
                        await self.watch_stream_once(self.watch_wait)
                    else:
                        await self.watch_once(self.watch_wait)
                    backoff.reset()
                except SessionEndedError:
                    backoff.reset()  # withdrawn; keep watching for the next login
                except WatchSupersededError as e:
                    # the Hub holds a newer watch of this user (409 watch_superseded): the tokens
                    # held stay valid; reconnect after a back-off so that two never ping-pong
                    self.log.info("The Hub ended this server's session watch: %s", e)
                    await asyncio.sleep(backoff.failed())
                except TokensUnavailableError:
                    if self._lost_spread:
                        # a stream that was held is gone (a Hub restart drops them all at once):
                        # come back at a random moment of the window the Hub asked for
                        backoff.reset()
                        await asyncio.sleep(random.uniform(0.0, self._lost_spread))  # noqa: S311
                    else:
                        await asyncio.sleep(backoff.failed())
        finally:
            self.watching = False

    async def watch_stream_once(self, wait: float) -> None:
        """One streamed watch (:mod:`.hub_stream`): every answer line is pushed into the sink
        as it comes, until the Hub ends the hold (or answers at once, as a plain watch)."""
        sink = self._sink
        assert sink is not None, "attach() first"
        self.watches += 1
        held = sink.tokens.access_token if sink.tokens is not None else None
        query = {"wait": f"{wait:g}", "have": fingerprint(held), "stream": "1"}
        url = hub_tokens_url(self.hub_api_url, self.user) + "?" + urlencode(query)
        ssl_options = self.client().defaults.get("ssl_options")
        try:
            opened = await open_watch(
                url, self.api_token, timeout=self.http_timeout, wait=wait, ssl_options=ssl_options
            )
            if isinstance(opened, tuple):
                self._deliver(*opened, wait, stream=False)
                return
            self._lost_spread = opened.spread
            try:
                async for code, body in opened.answers():
                    if code == 204:  # the hold is over: reconnect at once
                        return
                    self._deliver(code, body, wait, stream=True)
            finally:
                opened.close()
        except HubGone as e:
            error = TokensUnavailableError(
                "JupyterHub cannot be reached to renew your tokens; retrying.",
                failure="hub_unreachable",
                reason=f"JupyterHub cannot be reached ({e})",
            )
            sink.failed(error, via="watch")
            raise error from None

    def _deliver(self, code: int, body: dict[str, Any], wait: float, *, stream: bool) -> None:
        sink = self._sink
        assert sink is not None
        try:
            tokens = self._interpret(code, body, wait)
        except SessionEndedError as e:
            sink.withdraw(e, via="watch")
            if not stream:
                raise
            return  # the stream stays open: the next login comes through it
        except WatchSupersededError:
            raise  # not a failure: the tokens held stay valid
        except TokensUnavailableError as e:
            sink.failed(e, via="watch")
            if not stream or code != 503:
                self._lost_spread = 0.0  # refused, not lost: back off
                raise
            return  # Cognito is down; the Hub writes the next change when it comes
        sink.install(tokens, via="watch")

    # ---------------------------------------------------------------- the Hub's endpoint
    def client(self) -> AsyncHTTPClient:
        # A client of our own: kernels waiting on the broker must not be able to fill the
        # shared client's connection slots that the Hub request needs.
        if self._http is None:
            self._http = AsyncHTTPClient(force_instance=True)
        return self._http

    async def get_json(self, url: str, what: str, wait: float = 0.0) -> tuple[int, dict[str, Any]]:
        """GET ``url`` at the Hub with the server's API token: (HTTP status, JSON object body).

        No redirect is followed; an unreadable body is ``{}``. Unreachable → a
        :class:`TokensUnavailableError` saying JupyterHub cannot be reached to ``what``.
        """
        request = HTTPRequest(
            url,
            headers={"Authorization": f"token {self.api_token}"},
            request_timeout=self.http_timeout + wait,
            connect_timeout=self.http_timeout,
            follow_redirects=False,
        )
        try:
            response = await self.client().fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as e:
            raise TokensUnavailableError(
                f"JupyterHub cannot be reached to {what}; retrying.",
                failure="hub_unreachable",
                reason=f"JupyterHub cannot be reached ({type(e).__name__})",
            ) from None
        try:
            body = json.loads(response.body or b"{}")
        except ValueError:
            body = {}
        return response.code, body if isinstance(body, dict) else {}

    async def _request(self, wait: float = 0.0, have: str = "") -> TokenSet:
        if not self.enabled:
            raise TokensUnavailableError(
                "Not running under JupyterHub: no Hub to get tokens from "
                "(HubSource.hub_api_url, api_token and user are empty)."
            )
        url = hub_tokens_url(self.hub_api_url, self.user)
        if wait:
            url += "?" + urlencode({"wait": f"{wait:g}", "have": have})
        code, body = await self.get_json(url, "renew your tokens", wait)
        return self._interpret(code, body, wait)

    def _interpret(self, code: int, body: dict[str, Any], wait: float = 0.0) -> TokenSet:
        """The tokens of a 200 answer of the Hub's endpoint, else the error it means."""
        if code == 200:
            return self._tokens(cast(HubTokens, body))
        message = str(body.get("message") or f"JupyterHub answered HTTP {code}")
        if code == 401 and body.get("error") == ERROR_LOGIN_REQUIRED:
            raise SessionEndedError(message, self.login_url or str(body.get("login_url", "")))
        if wait and code == 409 and body.get("error") == ERROR_WATCH_SUPERSEDED:
            # a newer watch of this user or token (a kernel calling the Hub with the server's
            # token): not a failure; the watch reconnects after a back-off
            raise WatchSupersededError(message)
        if code in (401, 403, 404):
            raise TokensUnavailableError(
                f"JupyterHub refused the token request (HTTP {code}): the server's "
                f"role needs the scope {TOKENS_SCOPE}!user.",
                failure="refused",
                reason=f"JupyterHub refused the token request (HTTP {code})",
            )
        cognito = body.get("error") == ERROR_IDP_UNAVAILABLE
        raise TokensUnavailableError(
            message, failure="cognito_unreachable" if cognito else "hub_error"
        )

    def _tokens(self, answer: HubTokens) -> TokenSet:
        return TokenSet(
            access_token=answer["access_token"],
            id_token=answer["id_token"],
            access_expires_at=float(answer["access_token_expires_at"]),
            id_expires_at=float(answer["id_token_expires_at"]),
            username=answer.get("username", self.user),
            groups=tuple(answer.get("groups", ())),
            scope=tuple(answer.get("scope", ())),
            cognito_username=answer.get("cognito_username"),
        )
