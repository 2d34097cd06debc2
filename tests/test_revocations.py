"""RevocationFeed: a resource follows the Hub's ended sessions (a real HTTP server on loopback)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from jupyter_ai_access.errors import ConfigurationError, RevokedTokenError
from jupyter_ai_access.resource import CognitoTokenVerifier
from jupyter_ai_access.resource.revocations import RevocationFeed


class Feed:
    """A stand-in for ``GET /hub/api/ai-access/revocations`` with scripted answers."""

    def __init__(self) -> None:
        self.entries: dict[str, float] = {}
        self.status = 200
        self.body: bytes | None = None
        self.auth: list[str] = []
        feed = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                feed.auth.append(self.headers.get("Authorization", ""))
                payload = (
                    feed.body
                    or json.dumps(
                        {"origin_jti": feed.entries, "generated_at": time.time()}
                    ).encode()
                )
                self.send_response(feed.status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hub/api/ai-access/revocations"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def feed():
    f = Feed()
    yield f
    f.httpd.shutdown()
    f.httpd.server_close()


def wait_until(predicate, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_the_feed_is_followed_and_the_verifier_refuses_ended_sessions(feed, issuer_server):
    factory = issuer_server.factory
    follower = RevocationFeed(feed.url, "service-token", interval=0.2)
    try:
        verifier = CognitoTokenVerifier(
            issuer=issuer_server.issuer,
            client_ids=[factory.client_id],
            denied_origin_jtis=follower,
        )
        token = factory.mint("access", origin_jti="session-1")
        assert verifier.verify(token)["origin_jti"] == "session-1"
        feed.entries = {"session-1": time.time() + 600}
        assert wait_until(lambda: "session-1" in follower)
        with pytest.raises(RevokedTokenError):
            verifier.verify(token)  # the same token, cached as verified before: refused now
        assert feed.auth[-1] == "token service-token"
    finally:
        follower.stop()


def test_the_last_copy_keeps_serving_while_the_hub_is_down(feed):
    feed.entries = {"gone": time.time() + 600}
    follower = RevocationFeed(feed.url, "t", interval=0.1, max_backoff=0.5)
    try:
        assert wait_until(lambda: "gone" in follower)
        feed.status = 503
        fetched = follower.fetches
        assert wait_until(lambda: follower.fetches >= fetched + 2)
        assert "gone" in follower
    finally:
        follower.stop()


def test_expired_entries_no_longer_count(feed):
    feed.entries = {"old": time.time() - 3600}
    follower = RevocationFeed(feed.url, "t", start=False)
    follower.refresh()
    assert "old" not in follower


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[]", id="not-an-object"),
        pytest.param(b'{"origin_jti": []}', id="not-a-map"),
        pytest.param(b"{" * 10, id="not-json"),
        pytest.param(b" " * (1024 * 1024 + 10), id="too-large"),
    ],
)
def test_a_malformed_feed_is_refused_and_the_copy_kept(feed, body):
    feed.entries = {"kept": time.time() + 600}
    follower = RevocationFeed(feed.url, "t", start=False)
    follower.refresh()
    feed.body = body
    with pytest.raises(ValueError, match="the revocation feed is"):
        follower.refresh()
    assert "kept" in follower


@pytest.mark.parametrize(
    ("url", "token", "words"),
    [
        ("http://hub.example.org/hub/api/ai-access/revocations", "t", "https"),
        ("https://hub.example.org/x", "", "API token"),
    ],
)
def test_bad_settings_say_what_to_fix(url, token, words):
    with pytest.raises(ConfigurationError, match=words):
        RevocationFeed(url, token, start=False)


def test_for_hub_service_needs_the_hub_api_url(monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_API_URL", raising=False)
    with pytest.raises(ConfigurationError, match="JUPYTERHUB_API_URL"):
        RevocationFeed.for_hub_service(start=False)


def test_the_first_copy_is_fetched_before_the_constructor_returns(feed):
    """A resource restarted with the Hub refuses ended sessions from its first request."""
    feed.entries = {"ended-before-start": time.time() + 600}
    follower = RevocationFeed(feed.url, "t", interval=3600)
    try:
        assert "ended-before-start" in follower
        assert follower.fetches == 1
    finally:
        follower.stop()


def test_an_answer_without_an_unexpired_entry_does_not_forget_it(feed):
    """A Hub restarted without its revocation file answers less: the copy keeps what it knew."""
    feed.entries = {"ended": time.time() + 600, "old": time.time() - 3600}
    follower = RevocationFeed(feed.url, "t", start=False)
    follower.refresh()
    feed.entries = {}
    follower.refresh()
    assert "ended" in follower
    assert "old" not in follower
