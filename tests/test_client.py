"""The kernel client's auth helpers and endpoint rules, run in the test process (fast).

The client talks to the extension's real loopback endpoint on a real Jupyter server
(pytest-jupyter); tokens come from the stand-in for the Hub's token endpoint
(jupyter_ai_access_testing.fake_hub). The client is synchronous: tests call it in a thread while
the endpoint answers on the event loop. Protected resources are small loopback HTTP servers; a
"foreign" host is 127.0.0.2 (loopback, but another host to a browser or an HTTP client).
"""

from __future__ import annotations

import asyncio
import base64
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from jupyter_ai_access import client
from jupyter_ai_access.errors import TokensUnavailableError
from jupyter_ai_access.protocol import KernelEnv
from jupyter_ai_access.server.app import AIAccessApp


@pytest.fixture
def jp_server_config(fake_hub_tokens, tmp_path):
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_ai_access": True}},
        "TokenBroker": {"hub_api_url": fake_hub_tokens.url, "user": "alice"},
        "KernelTokenStore": {"token_dir": str(tmp_path / "kernel-tokens")},
    }


@pytest.fixture
def as_kernel(jp_serverapp, monkeypatch) -> Callable[[], Awaitable[dict[str, str]]]:
    """Set this process up like a kernel of the server (the provisioner's variables).

    A coroutine to await in the test: pytest-jupyter runs async tests but not async fixtures.
    """

    async def setup() -> dict[str, str]:
        ext = AIAccessApp.active
        assert ext is not None
        await ext.broker.get()
        env = ext.store.add_kernel("client-test", ext.broker.tokens)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for name in ("http_proxy", "HTTP_PROXY", "no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        return env

    return setup


Behaviour = Callable[[http.server.BaseHTTPRequestHandler], None]


class Site:
    """A loopback HTTP server that records the Authorization header of every request."""

    def __init__(self, host: str, behaviour: Behaviour) -> None:
        self.seen: list[str | None] = []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.seen.append(self.headers.get("Authorization"))
                behaviour(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def answer(status: int, location: str | None = None) -> Behaviour:
    def behave(handler: http.server.BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        if location:
            handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return behave


@pytest.fixture
def sites() -> Iterator[Callable[[str, Behaviour], Site]]:
    started: list[Site] = []

    def start(host: str, behaviour: Behaviour) -> Site:
        started.append(Site(host, behaviour))
        return started[-1]

    yield start
    for site in started:
        site.stop()


def with_requests(url: str) -> int:
    return requests.get(url, auth=client.RequestsAuth(), timeout=30).status_code


def with_httpx(url: str) -> int:
    return httpx.get(url, auth=client.HttpxAuth(), follow_redirects=True, timeout=30).status_code


HELPERS = [pytest.param(with_requests, id="RequestsAuth"), pytest.param(with_httpx, id="HttpxAuth")]


# ---------------------------------------------------------------- auth helpers
@pytest.mark.parametrize("get", HELPERS)
async def test_no_bearer_token_reaches_another_host_after_a_redirect(
    as_kernel, sites, fake_hub_tokens, get
):
    """The other host answers 401: the retry with a fresh token must not go there.

    Found by this test (issue #17): RequestsAuth re-sent a fresh token to the redirect target.
    """
    await as_kernel()
    other = sites("127.0.0.2", answer(401))
    first = sites("127.0.0.1", answer(302, location=other.url + "data"))
    status = await asyncio.to_thread(get, first.url)
    assert status == 401
    assert all(h is None for h in other.seen), other.seen
    assert other.seen  # the redirect was followed
    assert all(h and h.startswith("Bearer ey") for h in first.seen)


@pytest.mark.parametrize("get", HELPERS)
async def test_a_persistent_401_is_retried_once_with_a_fresh_token(
    as_kernel, sites, fake_hub_tokens, get
):
    await as_kernel()
    resource = sites("127.0.0.1", answer(401))
    before = fake_hub_tokens.fetches
    status = await asyncio.to_thread(get, resource.url)
    assert status == 401
    assert len(resource.seen) == 2
    assert resource.seen[0] != resource.seen[1]  # the retry carried a freshly fetched token
    assert fake_hub_tokens.fetches == before + 1


# ---------------------------------------------------------------- the endpoint the client calls
@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://192.0.2.7:8888/token", id="another-address"),
        pytest.param("https://127.0.0.1:8888/token", id="https"),
        pytest.param("http://hub.example.org/token", id="a-name"),
    ],
)
async def test_the_endpoint_must_be_loopback_http(as_kernel, monkeypatch, url):
    await as_kernel()
    monkeypatch.setenv(KernelEnv.URL, url)
    with pytest.raises(TokensUnavailableError, match="must be the server's loopback endpoint"):
        await asyncio.to_thread(client.get_token, force=True)


async def test_proxy_settings_are_not_used_for_the_endpoint(as_kernel):
    """A kernel whose environment names a proxy (read when the client is imported)."""
    await as_kernel()
    code = "from jupyter_ai_access.client import get_token; print(get_token(force=True).count('.'))"
    dead_proxy = "http://127.0.0.1:9"  # nothing listens there
    env = {**os.environ, "http_proxy": dead_proxy, "HTTP_PROXY": dead_proxy}
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "2"


async def test_asking_for_more_validity_than_the_file_has_fetches_fresh_tokens(
    as_kernel, fake_hub_tokens
):
    fake_hub_tokens.lifetime = 100  # what the server holds (and the kernel's file)
    ext = AIAccessApp.active
    assert ext is not None
    await ext.broker.get(force=True)
    await as_kernel()
    fake_hub_tokens.lifetime = 3600
    before = fake_hub_tokens.fetches
    token = await asyncio.to_thread(client.get_token, 1000)
    assert claims_of(token)["exp"] - time.time() > 1000
    assert fake_hub_tokens.fetches == before + 1
    again = await asyncio.to_thread(client.get_token, 1000)  # now the file has it
    assert again == token
    assert fake_hub_tokens.fetches == before + 1


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.mark.parametrize(
    ("get", "use"), [(client.get_token, "access"), (client.get_id_token, "id")]
)
async def test_each_kind_comes_from_the_endpoint_as_asked(as_kernel, get, use):
    env = await as_kernel()
    token = await asyncio.to_thread(get, force=True)  # force: the endpoint, not the file
    assert claims_of(token)["token_use"] == use
    assert Path(env[KernelEnv.DIR]).is_dir()
