"""A session that ends at the Hub reaches the user's server at once (a real Hub, crafted IdP).

The server holds one long-poll (the session watch: the token endpoint with ``?wait=&have=``);
every way a session ends — logout, ``invalid_grant`` at a refresh, removal from the allowed
groups, deletion by an admin — answers it with 401 ``login_required`` as it happens, and logging
in again answers it with the new tokens. The revocation feed lists the ended sessions'
``origin_jti``; the refresh token an admin reads from auth_state is sealed and useless.

Every wait is bounded: a watch that was woken returns long before its ``wait`` runs out, and the
tests tell the two apart by the answer, not by timing it.
"""

from __future__ import annotations

import concurrent.futures
import time

import httpx
import pytest
from jupyter_ai_access_testing.harness.hub import HubBrowser
from jupyter_ai_access_testing.harness.hubs import HUB_CLIENT, server_token

from jupyter_ai_access.hub.sealing import PREFIX
from jupyter_ai_access.protocol import NO_TOKENS, REVOCATIONS_SCOPE, fingerprint

WAIT = 60  # the watch's own limit; a woken watch answers long before it
POOL = concurrent.futures.ThreadPoolExecutor(max_workers=4)


def watch(hub, name: str, token: str, have: str, wait: float = WAIT) -> concurrent.futures.Future:
    """Start a session watch in a thread; the future holds (status, body, seconds taken)."""

    def run() -> tuple[int, dict, float]:
        started = time.monotonic()
        response = httpx.get(
            f"{hub.url}/hub/api/ai-access/users/{name}/tokens",
            params={"wait": wait, "have": have},
            headers={"Authorization": f"token {token}"},
            timeout=wait + 30,
        )
        return response.status_code, response.json(), time.monotonic() - started

    future = POOL.submit(run)
    time.sleep(0.5)  # let it reach the Hub and start waiting
    assert not future.done(), future.result()
    return future


def current(hub, name: str, token: str) -> dict:
    response = httpx.get(
        f"{hub.url}/hub/api/ai-access/users/{name}/tokens",
        headers={"Authorization": f"token {token}"},
        timeout=15,
    )
    assert response.status_code == 200, response.text
    return response.json()


def woken(future: concurrent.futures.Future) -> tuple[int, dict]:
    status, body, took = future.result(timeout=WAIT + 40)
    assert took < WAIT, "the watch ran out instead of being woken by the change"
    return status, body


@pytest.fixture
def login(scripted_hub, idp):
    browsers: list[HubBrowser] = []

    def go(name: str, **kw) -> HubBrowser:
        idp.login_ok(name, **kw)
        browser = HubBrowser(scripted_hub.url)
        assert browser.login("x", "y").status_code == 200
        browsers.append(browser)
        return browser

    yield go
    for b in browsers:
        b.close()


def test_an_unchanged_session_keeps_the_watch_open_until_its_wait(scripted_hub, login, canaries):
    login("una")
    token = server_token(scripted_hub, "una", canaries)
    held = current(scripted_hub, "una", token)
    status, body, took = watch(scripted_hub, "una", token, fingerprint(held["access_token"]), 2).result(
        timeout=40
    )
    assert status == 200 and body["access_token"] == held["access_token"]
    assert took >= 1.5  # it waited: no busy answer loop


def test_logout_answers_the_watch_with_login_required(scripted_hub, login, canaries):
    browser = login("lou")
    token = server_token(scripted_hub, "lou", canaries)
    held = current(scripted_hub, "lou", token)
    pending = watch(scripted_hub, "lou", token, fingerprint(held["access_token"]))
    browser.go("/hub/logout")
    status, body = woken(pending)
    assert status == 401 and body["error"] == "login_required"
    assert body["login_url"] == f"{scripted_hub.url}/hub/login"


def test_a_slow_revocation_at_cognito_does_not_hold_up_the_servers_session_end(
    scripted_hub, login, idp, canaries
):
    """The watch is answered while Cognito still holds the refresh token's revocation: a mass
    logout (or a Cognito that hangs) must not delay what the kernels hold. Told apart by what
    the IdP has answered when the watch returns, not by timing."""
    browser = login("sly")
    token = server_token(scripted_hub, "sly", canaries)
    held = current(scripted_hub, "sly", token)
    pending = watch(scripted_hub, "sly", token, fingerprint(held["access_token"]))
    revocations = len(idp.server.revocations)
    idp.server.delay = 8.0  # every IdP answer waits, the revocation's too
    try:
        logout = POOL.submit(browser.go, "/hub/logout")
        status, body = woken(pending)
        assert status == 401 and body["error"] == "login_required"
        assert len(idp.server.revocations) == revocations, "the watch waited for Cognito's revocation"
        assert logout.result(timeout=90).status_code == 200
    finally:
        idp.server.delay = 0.0
    assert len(idp.server.revocations) == revocations + 1  # and the refresh token was revoked after
    assert "refresh_token" not in scripted_hub.user("sly")["auth_state"]


def test_logging_in_again_answers_the_watch_with_the_new_tokens(scripted_hub, login, canaries):
    login("rex").go("/hub/logout")
    token = server_token(scripted_hub, "rex", canaries)
    pending = watch(scripted_hub, "rex", token, NO_TOKENS)
    login("rex")
    status, body = woken(pending)
    assert status == 200 and body["username"] == "rex"


def test_invalid_grant_at_a_refresh_ends_the_session_for_the_watch(scripted_hub, login, idp, canaries):
    browser = login("ivy", lifetime=200)  # within the 300 s refresh margin: refresh is due
    token = server_token(scripted_hub, "ivy", canaries)
    held = scripted_hub.user("ivy")["auth_state"]  # the watch compares, it never refreshes
    pending = watch(scripted_hub, "ivy", token, fingerprint(held["access_token"]))
    idp.answer_with(lambda form, auth: (400, {"error": "invalid_grant"}))
    time.sleep(1.1)  # past auth_refresh_age
    browser.go("/hub/home")  # any request refreshes
    status, body = woken(pending)
    assert status == 401 and body["error"] == "login_required"
    state = scripted_hub.user("ivy")["auth_state"]
    assert "access_token" not in state and "refresh_token" not in state


def test_leaving_the_allowed_groups_ends_the_session_and_feeds_revocation(
    scripted_hub, login, idp, canaries
):
    browser = login("gus", lifetime=200)
    token = server_token(scripted_hub, "gus", canaries)
    held = scripted_hub.user("gus")["auth_state"]
    pending = watch(scripted_hub, "gus", token, fingerprint(held["access_token"]))
    idp.answer_with(lambda form, auth: (200, idp.tokens("gus", groups=["other"])))
    time.sleep(1.1)
    browser.go("/hub/home")
    status, _ = woken(pending)
    assert status == 401
    feed = scripted_hub.api("GET", "/ai-access/revocations").json()
    assert held["origin_jti"] in feed["origin_jti"]
    assert feed["origin_jti"][held["origin_jti"]] == held["access_token_expires_at"]


def test_deleting_the_user_ends_the_session_for_the_watch(scripted_hub, login, canaries):
    login("dee")
    token = server_token(scripted_hub, "dee", canaries)
    held = current(scripted_hub, "dee", token)
    origin = scripted_hub.user("dee")["auth_state"]["origin_jti"]
    pending = watch(scripted_hub, "dee", token, fingerprint(held["access_token"]))
    assert scripted_hub.api("DELETE", "/users/dee").status_code == 204
    status, body = pending.result(timeout=WAIT + 40)[:2]
    # the user's tokens die with the user: the open watch gets 401 (woken) or 403 (token gone)
    assert status in (401, 403), body
    assert origin in scripted_hub.api("GET", "/ai-access/revocations").json()["origin_jti"]


def test_the_revocation_feed_needs_its_scope(scripted_hub, login, canaries):
    login("fay")
    token = server_token(scripted_hub, "fay", canaries)
    response = httpx.get(
        f"{scripted_hub.url}/hub/api/ai-access/revocations",
        headers={"Authorization": f"token {token}"},
        timeout=15,
    )
    assert response.status_code == 403
    assert REVOCATIONS_SCOPE in response.json()["message"]


@pytest.mark.parametrize("wait", ["abc", "-1", "inf", "nan"])
def test_a_malformed_wait_is_refused(scripted_hub, login, canaries, wait):
    name = f"mal{['abc', '-1', 'inf', 'nan'].index(wait)}"
    login(name)
    token = server_token(scripted_hub, name, canaries)
    response = httpx.get(
        f"{scripted_hub.url}/hub/api/ai-access/users/{name}/tokens",
        params={"wait": wait, "have": "x"},
        headers={"Authorization": f"token {token}"},
        timeout=15,
    )
    assert response.status_code == 400
    assert "wait" in response.json()["message"]


def test_an_admin_reading_auth_state_gets_a_sealed_refresh_token(
    emulator_hub, local_cognito, cognito_pool_description, canaries
):
    password = next(
        u["password"] for u in cognito_pool_description["users"] if u["username"] == "bob"
    )
    with HubBrowser(emulator_hub.url) as browser:
        assert browser.login("bob", password).status_code == 200
    stored = emulator_hub.user("bob")["auth_state"]["refresh_token"]
    assert stored.startswith(PREFIX)
    secret = local_cognito.client_secrets[HUB_CLIENT]

    def refresh(token: str) -> httpx.Response:
        return httpx.post(
            local_cognito.endpoint("token"),
            auth=(HUB_CLIENT, secret),
            data={"grant_type": "refresh_token", "refresh_token": token},
        )

    assert refresh(stored).json() == {"error": "invalid_grant"}  # what the admin holds: useless
    answer = refresh(emulator_hub.unseal(stored))  # what only the Hub can open
    assert answer.status_code == 200
    for key in ("access_token", "id_token"):
        canaries.register(answer.json()[key], key)
