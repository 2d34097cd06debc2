"""The Hub endpoint that hands a user's short-lived tokens to their server (a real Hub)."""

from __future__ import annotations

import time

import httpx
import pytest
from jupyter_ai_access_testing.harness.hub import HubBrowser

from jupyter_ai_access.hub.tokens_api import TOKENS_SCOPE


def user_token(hub, name: str, scopes: list[str], canaries) -> str:
    response = hub.api("POST", f"/users/{name}/tokens", json={"scopes": scopes, "note": "test"})
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    canaries.register(token, f"{name}'s API token")
    return token


def tokens_of(hub, name: str, token: str) -> httpx.Response:
    return httpx.get(
        f"{hub.url}/hub/api/ai-access/users/{name}/tokens",
        headers={"Authorization": f"token {token}"},
        timeout=15,
    )


@pytest.fixture
def logged_in(scripted_hub, idp):
    """Log a user in (crafted IdP) and return a browser holding the Hub session."""
    browsers = []

    def login(name: str, **kw) -> HubBrowser:
        idp.login_ok(name, **kw)
        browser = HubBrowser(scripted_hub.url)
        assert browser.login("x", "y").status_code == 200
        browsers.append(browser)
        return browser

    yield login
    for b in browsers:
        b.close()


def test_own_token_with_the_scope_gets_short_lived_tokens_only(scripted_hub, idp, logged_in, canaries):
    logged_in("olga")
    token = user_token(scripted_hub, "olga", [f"{TOKENS_SCOPE}!user=olga"], canaries)
    response = tokens_of(scripted_hub, "olga", token)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {
        "username",
        "cognito_username",
        "groups",
        "scope",
        "access_token",
        "access_token_expires_at",
        "id_token",
        "id_token_expires_at",
        "refreshed_at",
    }
    assert body["username"] == "olga"
    assert body["groups"] == ["ml-training"]
    state = scripted_hub.user("olga")["auth_state"]
    assert body["access_token"] == state["access_token"]
    assert state["refresh_token"] not in response.text
    assert scripted_hub.unseal(state["refresh_token"]) not in response.text


def test_a_token_without_the_scope_is_refused(scripted_hub, logged_in, canaries):
    logged_in("paul")
    token = user_token(scripted_hub, "paul", ["read:users:name!user=paul"], canaries)
    response = tokens_of(scripted_hub, "paul", token)
    assert response.status_code == 403
    assert TOKENS_SCOPE in response.json()["message"]


def test_a_browser_session_gets_no_tokens(scripted_hub, logged_in):
    browser = logged_in("wes")
    response = browser.http.get(
        f"{scripted_hub.url}/hub/api/ai-access/users/wes/tokens",
        headers={"Referer": f"{scripted_hub.url}/hub/home"},
    )
    assert response.status_code == 403
    assert "access_token" not in response.text


def test_one_users_token_cannot_read_another_users_tokens(scripted_hub, logged_in, canaries):
    logged_in("quinn")
    logged_in("rita")
    token = user_token(scripted_hub, "quinn", [f"{TOKENS_SCOPE}!user=quinn"], canaries)
    response = tokens_of(scripted_hub, "rita", token)
    assert response.status_code == 404
    assert "access_token" not in response.text


def test_configure_token_delivery_grants_the_scope_to_the_server_role():
    from traitlets.config import Config

    from jupyter_ai_access.hub.tokens_api import configure_token_delivery

    c = Config()
    c.JupyterHub.load_roles = [
        {"name": "server", "scopes": ["read:users:name!user"]},
        {"name": "other", "scopes": ["self"]},
    ]
    configure_token_delivery(c)
    server = next(r for r in c.JupyterHub.load_roles if r["name"] == "server")
    user = next(r for r in c.JupyterHub.load_roles if r["name"] == "user")
    assert f"{TOKENS_SCOPE}!user" in server["scopes"]
    assert set(user["scopes"]) == {"self", f"{TOKENS_SCOPE}!user"}
    assert "read:users:name!user" in server["scopes"]
    assert "access:servers!server" in server["scopes"]
    assert TOKENS_SCOPE in c.JupyterHub.custom_scopes
    fresh = Config()
    configure_token_delivery(fresh)
    assert [r["name"] for r in fresh.JupyterHub.load_roles] == ["server", "user"]


def test_tokens_near_expiry_are_refreshed_before_they_are_handed_out(
    scripted_hub, idp, logged_in, canaries
):
    logged_in("sam", lifetime=200)  # inside the Hub's 300 s refresh margin
    token = user_token(scripted_hub, "sam", [f"{TOKENS_SCOPE}!user=sam"], canaries)
    old = scripted_hub.user("sam")["auth_state"]["access_token"]
    idp.answer_with(lambda form, auth: (200, idp.tokens("sam", lifetime=3600, refresh=None)))
    before = len(idp.server.token_requests)
    response = tokens_of(scripted_hub, "sam", token)
    assert response.status_code == 200
    assert len(idp.server.token_requests) - before == 1
    assert idp.server.token_requests[-1][1]["grant_type"] == "refresh_token"
    assert response.json()["access_token"] != old
    assert response.json()["access_token_expires_at"] > time.time() + 3000


def test_after_logout_the_server_is_told_to_log_in_again(scripted_hub, idp, logged_in, canaries):
    browser = logged_in("tess")
    token = user_token(scripted_hub, "tess", [f"{TOKENS_SCOPE}!user=tess"], canaries)
    browser.go("/hub/logout")
    response = tokens_of(scripted_hub, "tess", token)
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "login_required"
    assert body["login_url"] == f"{scripted_hub.url.rstrip('/')}/hub/login"  # absolute
    assert "access_token" not in body


def test_expired_tokens_with_cognito_down_are_a_503(scripted_hub, idp, logged_in, canaries):
    logged_in("uma", lifetime=2)
    token = user_token(scripted_hub, "uma", [f"{TOKENS_SCOPE}!user=uma"], canaries)
    idp.server.status = 503
    with scripted_hub.clock_ahead(2.5):  # the 2 s tokens have expired, for the Hub
        response = tokens_of(scripted_hub, "uma", token)
    assert response.status_code == 503
    assert response.json()["error"] == "idp_unavailable"
    assert "cannot be reached" in response.json()["message"]
