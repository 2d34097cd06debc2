"""The broker only caches, renews and hands out: any :class:`TokenSource` plugs in behind it.

A third source written here (no Hub, no Cognito, no network) gets the broker's whole service:
one fetch however many callers, the cache, renewal ahead of expiry in the background, the
session's end and a pushed sign-in reaching the listeners, the status states. The Hub's settings
keep their old names (``c.TokenBroker.hub_api_url`` ...) as the Hub source's.
"""

from __future__ import annotations

import asyncio

import pytest
from traitlets.config import Config

from jupyter_ai_access.errors import SessionEndedError, TokensUnavailableError
from jupyter_ai_access.server.broker import TokenBroker
from jupyter_ai_access.server.hub_source import HubSource
from jupyter_ai_access.server.state import token_state
from jupyter_ai_access.server.tokenset import TokenSet, TokenSink

LIFETIME = 300.0


class Clock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class VaultSource:
    """A third token source: tokens from a "vault", minted on demand (no Hub)."""

    kind = "vault"
    enabled = True
    login_url = "https://vault.example/login"
    user = "carol"
    signed_in = True
    watching = False

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.fetches = 0
        self.sink: TokenSink | None = None
        self.started = 0
        self.closed = False
        self.answer: Exception | None = None  # raised by the next fetches instead of tokens
        self.gate: asyncio.Event | None = None  # holds fetches until set

    def attach(self, sink: TokenSink) -> None:
        self.sink = sink

    def start(self) -> None:
        self.started += 1

    def mint(self) -> TokenSet:
        expires = self.clock() + LIFETIME
        return TokenSet(
            access_token=f"access-{self.fetches}",
            id_token=f"id-{self.fetches}",
            access_expires_at=expires,
            id_expires_at=expires,
            username=self.user,
            groups=("ml",),
            scope=("openid",),
        )

    async def fetch(self) -> TokenSet:
        self.fetches += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.answer is not None:
            raise self.answer
        return self.mint()

    async def close(self) -> None:
        self.closed = True


@pytest.fixture
def no_hub(monkeypatch):
    for name in ("JUPYTERHUB_API_URL", "JUPYTERHUB_API_TOKEN", "JUPYTERHUB_USER"):
        monkeypatch.delenv(name, raising=False)


async def test_a_source_of_our_own_is_cached_renewed_and_handed_out_without_a_hub(no_hub):
    clock = Clock()
    source = VaultSource(clock)
    broker = TokenBroker(clock=clock, source=source, renew_before=60)
    assert broker.source is source and source.sink is broker and broker.enabled
    heard: list[TokenSet | None] = []
    broker.listeners.append(heard.append)

    # ten callers at once: one fetch, the same tokens for all
    source.gate = asyncio.Event()
    callers = [asyncio.ensure_future(broker.get()) for _ in range(10)]
    await asyncio.sleep(0)
    source.gate.set()
    got = await asyncio.gather(*callers)
    assert source.fetches == 1
    assert {t.access_token for t in got} == {"access-1"}
    source.gate = None
    # cached while valid
    assert (await broker.get(min_valid=100)).access_token == "access-1"
    assert source.fetches == 1 and heard == [got[0]]
    assert token_state(broker, clock()) == ("fresh", got[0].expires_at - 60)

    # background renewal ahead of expiry: within renew_before, the broker asks again by itself
    broker.start()
    assert source.started == 1  # the source's own work started with the broker's
    clock.now += LIFETIME - 30
    broker.wake()
    for _ in range(200):  # bounded: the renewal runs on the loop
        if source.fetches == 2:
            break
        await asyncio.sleep(0.01)
    assert source.fetches == 2
    assert broker.tokens is not None and broker.tokens.access_token == "access-2"
    assert heard[-1] == broker.tokens

    # the source unreachable: still-valid tokens are served, the failure is the status's
    source.answer = TokensUnavailableError("vault down", failure="hub_unreachable")
    held = broker.tokens
    assert await broker.get(force=True) == held
    assert broker.last_failure == "hub_unreachable" and broker.last_error == "vault down"

    # the session ends: every listener hears None, callers are told where to sign in
    source.answer = SessionEndedError("vault session over", source.login_url)
    with pytest.raises(SessionEndedError, match=r"vault\.example/login"):
        await broker.get(force=True)
    assert broker.tokens is None and heard[-1] is None
    assert token_state(broker, clock())[0] == "ended"

    # a sign-in pushed by the source: kernels get tokens at once, no fetch needed
    source.answer = None
    fetches = source.fetches
    source.sink.install(source.mint())
    assert broker.tokens is not None and heard[-1] == broker.tokens
    assert source.fetches == fetches and broker.session_ended is None

    assert source.started == 2  # a pushed sign-in (re)starts the renewal and the source

    await broker.stop()  # right after the push: Python 3.11's wait_for could lose this cancel
    assert source.closed
    broker.start()  # after stop: nothing restarts
    assert source.started == 2


def test_the_hub_is_the_default_source_and_keeps_the_old_setting_names(no_hub):
    old = TokenBroker(hub_api_url="http://hub/api/", api_token="t", user="alice", watch_wait=0)
    assert isinstance(old.source, HubSource) and old.source.kind == "hub"
    assert old.source.hub_api_url == "http://hub/api"
    assert (old.source.api_token, old.source.user, old.source.watch_wait) == ("t", "alice", 0)
    assert old.enabled
    old.user = "bob"  # set on the broker later: still reaches the Hub source
    assert old.source.user == "bob"

    config = Config()
    config.TokenBroker.user = "from-old-name"
    config.TokenBroker.watch_wait = 5.0
    config.HubSource.user = "from-new-name"
    broker = TokenBroker(config=config)
    assert broker.source.user == "from-new-name"  # HubSource wins
    assert broker.source.watch_wait == 5.0  # the old name when the new one is not set
    assert broker.source.http_timeout == 10.0  # defaults unchanged
    assert not broker.enabled  # no Hub: no URL, no token


def test_the_hub_source_reads_what_jupyterhub_sets(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_API_URL", "http://127.0.0.1:1/hub/api/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "server-token")
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_HUB_URL", "https://hub.example/hub/")
    source = TokenBroker().source
    assert isinstance(source, HubSource)
    assert source.hub_api_url == "http://127.0.0.1:1/hub/api"
    assert (source.user, source.login_url) == ("alice", "https://hub.example/hub/login")
    assert source.enabled
