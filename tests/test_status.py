"""The status API the JupyterLab item follows: its state, and the long-poll that ends at a change.

A real Jupyter server with the extension and the loopback stand-in for the Hub's token endpoint
(the fixtures of test_delivery.py).
"""

from __future__ import annotations

import asyncio
import json

import pytest
from jupyter_ai_access_testing.harness.inprocess import server_config
from tornado.httpclient import HTTPClientError

from jupyter_ai_access.errors import SessionEndedError
from jupyter_ai_access.server.state import token_state


@pytest.fixture
def jp_server_config(fake_hub_tokens, tmp_path):
    return server_config(fake_hub_tokens, tmp_path)


async def status(jp_fetch, **params: str) -> dict:
    return json.loads((await jp_fetch("ai-access", "api", "status", params=params)).body)


async def test_fresh_tokens_say_who_and_until_when_and_where_to_log_in(
    jp_fetch,
    ext,
    canaries,
):
    await ext.broker.get()
    body = await status(jp_fetch)
    assert body["state"] == "fresh"
    assert body["user"] == "alice" and body["cognito_username"] == "alice"
    assert body["expires_at"] == ext.broker.tokens.expires_at
    assert body["renew_at"] == body["expires_at"] - ext.broker.renew_before
    assert body["state_changes_at"] == body["renew_at"]  # fresh until renewal is due
    # Absolute, and back to the status page after logging in.
    assert body["login_url"] == (
        "https://hub.example.org/hub/login?next=%2Fa%2540b%2Fai-access%2Fstatus"
    )
    assert canaries.find(json.dumps(body)) == []


async def test_the_long_poll_answers_when_the_session_ends_then_when_it_is_back(
    jp_fetch,
    ext,
    fake_hub_tokens,
):
    await ext.broker.get()
    ext.broker.start()  # the session watch, as with a kernel running
    first = await status(jp_fetch)
    waiting = asyncio.ensure_future(status(jp_fetch, wait="300", since=str(first["version"])))
    done, _ = await asyncio.wait({waiting}, timeout=0.5)
    assert not done  # nothing changed: the request is held
    fake_hub_tokens.status = 401  # logout: the Hub answers the session watch
    ended = await asyncio.wait_for(waiting, 30)  # a bound against hanging, not a measurement
    assert ended["state"] == "ended" and ended["version"] > first["version"]
    assert ended["login_url"].startswith("https://hub.example.org/hub/login?next=")
    back = asyncio.ensure_future(status(jp_fetch, wait="300", since=str(ended["version"])))
    fake_hub_tokens.status = 200  # logged in again: new tokens through the watch
    fresh = await asyncio.wait_for(back, 30)
    assert fresh["state"] == "fresh" and fresh["user"] == "alice"


async def test_a_superseded_session_watch_keeps_the_tokens_and_reconnects(
    jp_fetch,
    ext,
    fake_hub_tokens,
):
    await ext.broker.get()
    fake_hub_tokens.supersede_watches = 2  # a kernel opened newer watches with the server's token
    ext.broker.start()
    for _ in range(300):  # a bound against hanging (back-offs of 1 s and 2 s), not a measurement
        if fake_hub_tokens.watches >= 3:
            break
        await asyncio.sleep(0.1)
    assert fake_hub_tokens.watches >= 3  # reconnected after each 409
    assert ext.broker.last_failure is None  # not a failure: nothing says "unreachable"
    assert (await status(jp_fetch))["state"] == "fresh"


async def test_a_stale_version_is_answered_at_once(jp_fetch, ext):
    await ext.broker.get()
    body = await asyncio.wait_for(status(jp_fetch, wait="300", since="999999"), 30)
    assert body["state"] == "fresh"


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"wait": "soon", "since": "1"}, id="wait-not-a-number"),
        pytest.param({"wait": "-1", "since": "1"}, id="negative-wait"),
        pytest.param({"wait": "nan", "since": "1"}, id="nan"),
        pytest.param({"wait": "10", "since": "x"}, id="since-not-a-version"),
    ],
)
async def test_malformed_long_polls_are_refused(jp_fetch, ext, params):
    with pytest.raises(HTTPClientError) as e:
        await status(jp_fetch, **params)
    assert e.value.code == 400


@pytest.mark.parametrize(
    ("failure", "state"),
    [
        pytest.param("cognito_unreachable", "cognito_unreachable", id="cognito"),
        pytest.param("hub_unreachable", "hub_unreachable", id="hub"),
        pytest.param("hub_error", "hub_unreachable", id="hub-error"),
        pytest.param("refused", "scope_missing", id="refused"),
    ],
)
async def test_states_follow_the_broker_and_the_clock(ext, failure, state):
    broker = ext.broker
    tokens = await broker.get()
    renew_at = tokens.expires_at - broker.renew_before
    assert token_state(broker, renew_at - 1) == ("fresh", renew_at)
    assert token_state(broker, renew_at + 1) == ("renewing", tokens.expires_at)
    broker.last_error, broker.last_failure = "test", failure  # as a failed request leaves them
    assert token_state(broker, renew_at - 1) == (state, tokens.expires_at)
    assert token_state(broker, tokens.expires_at + 1) == (state, None)


async def test_the_status_page_offers_the_login_in_a_new_tab(
    jp_fetch,
    ext,
    fake_hub_tokens,
):
    fake_hub_tokens.status = 401
    with pytest.raises(SessionEndedError, match="session has ended"):
        await ext.broker.get(force=True)
    page = (await jp_fetch("ai-access", "status")).body.decode()
    assert "Your session has ended" in page
    assert 'target="_blank" rel="noopener">Log in again' in page
