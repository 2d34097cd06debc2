"""CognitoOAuthenticator through a real JupyterHub process (with configurable-http-proxy).

Two Hubs run for the session: one logs in against the local Cognito emulator (happy path,
refresh, logout, revoke), one against a loopback issuer that serves crafted token responses (every
refusal case, group changes at refresh, IdP outages).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jupyter_ai_access_testing.canary import CanaryRegistry
from jupyter_ai_access_testing.harness import whatwg
from jupyter_ai_access_testing.harness.hub import HubBrowser, HubProcess
from jupyter_ai_access_testing.tokens import SigningKey, TokenFactory

from jupyter_ai_access.errors import ConfigurationError, DiscoveryError
from jupyter_ai_access.hub.authenticator import CognitoOAuthenticator
from jupyter_ai_access.hub.handlers import safe_next_url

MISSING = TokenFactory.MISSING
HUB_CLIENT = "hubclient00000000000000000"


def pw(desc: dict, user: str) -> str:
    return next(u["password"] for u in desc["users"] if u["username"] == user)


# ---------------------------------------------------------------- the emulator Hub
@pytest.fixture
def browser(emulator_hub) -> Iterator[HubBrowser]:
    with HubBrowser(emulator_hub.url) as b:
        yield b


def register_tokens(
    canaries: CanaryRegistry, state: dict[str, Any] | None, hub: HubProcess | None = None
) -> None:
    for key in ("access_token", "id_token", "refresh_token"):
        if state and state.get(key):
            canaries.register(state[key], key)
    if hub is not None and state and state.get("refresh_token"):
        canaries.register(hub.unseal(state["refresh_token"]), "refresh_token (unsealed)")


def test_login_through_the_emulator_creates_the_user_with_groups_and_tokens(
    emulator_hub, browser, cognito_pool_description, canaries
):
    response = browser.login("bob", pw(cognito_pool_description, "bob"))
    assert response.status_code == 200
    assert browser.logged_in
    assert any("/oauth2/authorize" in url for url in browser.visited)
    authorize = next(url for url in browser.visited if "/oauth2/authorize?" in url)
    query = httpx.URL(authorize).params
    assert query["response_type"] == "code"
    assert query["code_challenge_method"] == "S256"
    assert len(query["nonce"]) >= 32 and query["state"]
    assert "openid" in query["scope"].split()
    model = emulator_hub.user("bob")
    assert model["groups"] == ["ml-training"]
    assert model["admin"] is False
    state = model["auth_state"]
    register_tokens(canaries, state, emulator_hub)
    assert set(state) == {
        "access_token",
        "id_token",
        "refresh_token",
        "access_token_expires_at",
        "id_token_expires_at",
        "scope",
        "sub",
        "cognito_username",
        "cognito_groups",
        "origin_jti",
        "refreshed_at",
    }
    assert state["cognito_username"] == "bob"
    assert "ai-access/datasets.read" in state["scope"]
    assert state["access_token_expires_at"] > time.time()


def test_admin_comes_from_the_admin_group(
    emulator_hub, browser, cognito_pool_description, canaries
):
    browser.login("alice", pw(cognito_pool_description, "alice"))
    model = emulator_hub.user("alice")
    register_tokens(canaries, model["auth_state"], emulator_hub)
    assert model["admin"] is True
    assert sorted(model["groups"]) == ["ml-admins", "ml-training"]


def test_user_outside_allowed_groups_is_refused(emulator_hub, browser, cognito_pool_description):
    response = browser.login("carol", pw(cognito_pool_description, "carol"))
    assert response.status_code == 403
    assert not browser.logged_in
    assert emulator_hub.user("carol") is None


def test_auth_state_is_encrypted_in_the_database(
    emulator_hub, browser, cognito_pool_description, canaries
):
    browser.login("bob", pw(cognito_pool_description, "bob"))
    register_tokens(canaries, emulator_hub.user("bob")["auth_state"], emulator_hub)
    raw = (emulator_hub.folder / "hub.sqlite").read_bytes().decode("latin-1")
    assert canaries.find(raw) == []


def test_tokens_are_refreshed_before_expiry_keeping_the_refresh_token(
    emulator_hub, browser, cognito_pool_description, canaries
):
    browser.login("bob", pw(cognito_pool_description, "bob"))
    before = emulator_hub.user("bob")["auth_state"]
    register_tokens(canaries, before, emulator_hub)
    # 60 s tokens, 55 s margin: a refresh is due 5 s after issue; the Hub's clock goes there.
    due = max(0.0, before["access_token_expires_at"] - 55 - time.time()) + 0.5
    time.sleep(1.1)  # past auth_refresh_age (JupyterHub's own clock)
    with emulator_hub.clock_ahead(due):
        assert browser.go("/hub/home").status_code == 200
    after = emulator_hub.user("bob")["auth_state"]
    register_tokens(canaries, after, emulator_hub)
    assert after["access_token"] != before["access_token"]
    assert after["id_token"] != before["id_token"]
    # the refresh token is kept (Cognito returned none); the seal is fresh each save
    assert emulator_hub.unseal(after["refresh_token"]) == emulator_hub.unseal(
        before["refresh_token"]
    )
    assert after["access_token_expires_at"] > before["access_token_expires_at"]
    assert after["origin_jti"] == before["origin_jti"]


def test_logout_revokes_clears_tokens_and_ends_the_cognito_session(
    emulator_hub, browser, local_cognito, cognito_pool_description, canaries
):
    browser.login("bob", pw(cognito_pool_description, "bob"))
    state = emulator_hub.user("bob")["auth_state"]
    register_tokens(canaries, state, emulator_hub)
    response = browser.go("/hub/logout")
    assert response.status_code == 200
    assert any(url.startswith(f"{local_cognito.domain}/logout?") for url in browser.visited)
    assert browser.visited[-1].endswith("/hub/logout-complete")
    assert not browser.logged_in
    after = emulator_hub.user("bob")["auth_state"]
    assert after == {
        "sub": state["sub"],
        "cognito_username": "bob",
        "cognito_groups": ["ml-training"],
    }
    refused = httpx.post(
        local_cognito.endpoint("token"),
        auth=(HUB_CLIENT, local_cognito.client_secrets[HUB_CLIENT]),
        data={
            "grant_type": "refresh_token",
            "refresh_token": emulator_hub.unseal(state["refresh_token"]),
        },
    )
    assert refused.json() == {"error": "invalid_grant"}
    page = browser.go("/hub/oauth_login")  # the next visit asks for the password again
    assert "signInFormPassword" in page.text


#: ``next`` values that a browser would resolve off the Hub (or that must be refused anyway).
OFF_SITE_NEXT = [
    pytest.param("//evil.example", id="protocol-relative"),
    pytest.param("https://evil.example", id="absolute"),
    pytest.param("/\\evil.example", id="slash-backslash"),
    pytest.param("/%5Cevil.example", id="slash-encoded-backslash"),
    pytest.param("\\\\evil.example", id="two-backslashes"),
    pytest.param("/\\/evil.example", id="slash-backslash-slash"),
    pytest.param("%2F%2Fevil.example", id="encoded-slashes"),
    pytest.param("https:/evil.example", id="scheme-one-slash"),
    pytest.param("/\t/evil.example", id="tab"),
    pytest.param("/\n/evil.example", id="newline"),
    pytest.param("///evil.example", id="three-slashes"),
    pytest.param("http:evil.example", id="scheme-no-slash"),
]


@pytest.mark.parametrize("next_url", OFF_SITE_NEXT)
def test_safe_next_url_keeps_a_browser_on_the_hub(next_url):
    """Judged by the browser's URL parser (WHATWG, through Node), not by urljoin."""
    hub = "http://127.0.0.1:8000"
    kept = safe_next_url(next_url)
    if kept is not None:
        assert whatwg.resolve(kept, f"{hub}/hub/oauth_callback?code=c&state=s")["origin"] == hub


def test_safe_next_url_keeps_paths_on_the_hub():
    assert safe_next_url("/hub/token") == "/hub/token"
    assert safe_next_url("/user/bob/lab?reset") == "/user/bob/lab?reset"


@pytest.mark.parametrize("next_url", OFF_SITE_NEXT)
def test_next_never_leaves_the_hub(
    emulator_hub, browser, local_cognito, cognito_pool_description, next_url
):
    response = browser.login("bob", pw(cognito_pool_description, "bob"), next_url=next_url)
    allowed = {emulator_hub.url, local_cognito.domain}
    # HubBrowser resolves every Location as a browser does and records where it would go.
    where = [whatwg.resolve(url)["origin"] for url in browser.visited]
    assert set(where) <= allowed, where
    callback = [r for r in browser.redirects if "/hub/oauth_callback?" in r[0]]
    assert len(callback) == 1
    assert whatwg.resolve(callback[0][2])["origin"] == emulator_hub.url
    assert str(response.url).startswith(emulator_hub.url + "/")  # a page of the Hub, not a hop
    assert browser.logged_in


def test_next_inside_the_hub_is_honoured(emulator_hub, browser, cognito_pool_description):
    browser.login("bob", pw(cognito_pool_description, "bob"), next_url="/hub/token")
    assert browser.visited[-1] == f"{emulator_hub.url}/hub/token"


def test_state_is_single_use_and_browser_bound(emulator_hub, browser, cognito_pool_description):
    browser.go("/hub/oauth_login", username="bob", password=pw(cognito_pool_description, "bob"))
    callback = next(u for u in browser.visited if "/hub/oauth_callback?" in u)
    replay = browser.http.get(callback)
    assert replay.status_code == 400
    with HubBrowser(emulator_hub.url) as other:  # another browser, no state cookie
        assert other.http.get(callback).status_code == 400
        assert not other.logged_in


def test_tokens_pushed_into_the_callback_are_ignored_and_not_logged(
    emulator_hub, canaries, cognito_pool_description
):
    leaked = canaries.secret("implicit-access-token")
    with HubBrowser(emulator_hub.url) as b:
        response = b.go(f"/hub/oauth_callback?state=x&access_token={leaked}&id_token={leaked}")
        assert response.status_code == 400
        assert canaries.find(response.text) == []
        assert not b.logged_in


# ---------------------------------------------------------------- the crafted-answers Hub
@pytest.fixture
def fake_browser(scripted_hub) -> Iterator[HubBrowser]:
    with HubBrowser(scripted_hub.url) as b:
        yield b


def test_happy_path_with_crafted_tokens_uses_basic_auth_pkce_and_no_userinfo(
    scripted_hub, fake_browser, idp
):
    idp.login_ok("alice", groups=["ml-training", "ml-admins"])
    assert fake_browser.login("x", "y").status_code == 200
    assert fake_browser.logged_in
    headers, form = idp.server.token_requests[-1]
    assert headers["Authorization"].startswith("Basic ")
    assert "client_secret" not in form
    assert form["grant_type"] == "authorization_code"
    assert len(form["code_verifier"]) >= 43
    assert idp.server.hits["/oauth2/userInfo"] == 0
    assert scripted_hub.user("alice")["admin"] is True


def crafted(idp: Any, **kw: Any):
    """A token handler that answers one crafted variation."""
    kw = {"nonce": auth_nonce, **kw}
    return lambda form, auth: (
        200,
        idp.tokens(
            "mallory",
            **{**kw, "nonce": auth.get("nonce") if kw["nonce"] is auth_nonce else kw["nonce"]},
        ),
    )


auth_nonce = object()  # marker: answer with the nonce of the login being tested


REFUSALS = {
    "iss-other-pool": dict(
        id_claims={"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other"}
    ),
    "iss-trailing-slash": dict(id_claims={"iss": "{issuer}/"}),
    "iss-missing": dict(id_claims={"iss": MISSING}),
    "iss-number": dict(id_claims={"iss": 42}),
    "aud-other": dict(id_claims={"aud": "otherclient000000000000000"}),
    "aud-missing": dict(id_claims={"aud": MISSING}),
    "aud-extra": dict(id_claims={"aud": ["testclient0000000000000000", "evil"]}),
    "sub-missing": dict(id_claims={"sub": MISSING}),
    "token-use-access": dict(id_claims={"token_use": "access"}),
    "expired": dict(id_claims={"exp": 1000, "iat": 900}),
    "exp-missing": dict(id_claims={"exp": MISSING}),
    "iat-missing": dict(id_claims={"iat": MISSING}),
    "iat-future": dict(id_claims={"iat": 4102444800}),
    "nonce-wrong": dict(nonce="not-the-login-nonce"),
    "nonce-missing": dict(nonce=MISSING),
    "resigned-other-key": dict(id_key=SigningKey("hub-id-key", "RS256", SigningKey.rsa().private)),
    "es256": dict(id_key=SigningKey.ec("hub-id-key")),
    "unknown-kid": dict(id_key=SigningKey.rsa("never-published")),
    "access-client-other": dict(access_claims={"client_id": "otherclient000000000000000"}),
    "access-sub-differs": dict(access_claims={"sub": "someone-else"}),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refused_logins_create_nothing_and_ask_nothing_more(
    scripted_hub, fake_browser, idp, case, canaries
):
    kw = dict(REFUSALS[case])
    if "id_claims" in kw and kw["id_claims"].get("iss") == "{issuer}/":
        kw["id_claims"] = {"iss": idp.server.issuer + "/"}
    idp.answer_with(crafted(idp, **kw))
    response = fake_browser.login("x", "y")
    assert response.status_code in (400, 403)
    assert not fake_browser.logged_in
    assert scripted_hub.user("mallory") is None
    assert idp.server.hits["/oauth2/userInfo"] == 0
    assert len(idp.server.token_requests) == 1
    assert canaries.find(response.text) == []


def test_alg_none_and_hs256_id_tokens_are_refused(scripted_hub, fake_browser, idp, canaries):
    import base64
    import hashlib
    import hmac
    import json

    def b64(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    for alg in ("none", "HS256"):

        def make(form, auth, alg=alg):
            answer = idp.tokens("mallory", nonce=auth.get("nonce"))
            claims = jwt_claims(answer["id_token"])
            head = b64(json.dumps({"alg": alg, "kid": "hub-id-key"}).encode())
            body = b64(json.dumps(claims).encode())
            sig = (
                b""
                if alg == "none"
                else hmac.new(b"k", f"{head}.{body}".encode(), hashlib.sha256).digest()
            )
            answer["id_token"] = f"{head}.{body}.{b64(sig)}"
            return 200, answer

        idp.answer_with(make)
        response = fake_browser.login("x", "y")
        assert response.status_code == 403, alg
        assert scripted_hub.user("mallory") is None


def jwt_claims(token: str) -> dict:
    import jwt

    return jwt.decode(token, options={"verify_signature": False})


def test_replayed_id_token_fails_the_new_nonce(scripted_hub, idp):
    first: dict[str, Any] = {}

    def make(form, auth):
        if not first:
            first.update(idp.tokens("mallory", nonce=auth.get("nonce")))
        return 200, dict(first)

    idp.answer_with(make)
    with HubBrowser(scripted_hub.url) as one:
        assert one.login("x", "y").status_code == 200
    with HubBrowser(scripted_hub.url) as two:
        response = two.login("x", "y")
        assert response.status_code == 403
        assert "nonce" in response.text
        assert not two.logged_in


def test_token_endpoint_errors_become_clear_pages(scripted_hub, fake_browser, idp):
    idp.answer_with(lambda form, auth: (400, {"error": "invalid_grant"}))
    response = fake_browser.login("x", "y")
    assert response.status_code == 400
    assert "Start the login again" in response.text
    idp.server.status = 503
    response = fake_browser.go("/hub/oauth_callback?code=c&state=s")
    assert response.status_code == 400  # no state cookie: refused before any request


def test_idp_down_at_login_is_a_503_that_says_try_again(scripted_hub, idp):
    idp.answer_with(lambda form, auth: (502, {"message": "bad gateway"}))
    with HubBrowser(scripted_hub.url) as b:
        response = b.login("x", "y")
    assert response.status_code == 503
    assert "Try again" in response.text


def test_username_is_bound_to_sub(scripted_hub, idp):
    idp.login_ok("frank")
    with HubBrowser(scripted_hub.url) as b:
        assert b.login("x", "y").status_code == 200
    idp.subs["frank"] = "another-identity"
    idp.login_ok("frank")
    with HubBrowser(scripted_hub.url) as b:
        response = b.login("x", "y")
        assert response.status_code == 403
        assert "belongs to another account" in response.text
        assert not b.logged_in


async def wait_until_refresh_due() -> None:
    await asyncio.sleep(1.1)  # past auth_refresh_age


def login_then_due(scripted_hub, idp, user: str, **kw: Any) -> HubBrowser:
    """Log in with tokens that are already within the refresh margin."""
    idp.login_ok(user, lifetime=200, **kw)
    b = HubBrowser(scripted_hub.url)
    assert b.login("x", "y").status_code == 200
    time.sleep(1.1)  # past auth_refresh_age
    return b


def test_refresh_keeps_the_old_refresh_token_when_none_comes_back(scripted_hub, idp):
    b = login_then_due(scripted_hub, idp, "gina")
    old = idp.refresh_tokens[-1]
    idp.answer_with(lambda form, auth: (200, idp.tokens("gina", refresh=None)))
    assert b.go("/hub/home").status_code == 200
    _, form = idp.server.token_requests[-1]
    assert form == {"grant_type": "refresh_token", "refresh_token": old}
    assert scripted_hub.unseal(scripted_hub.user("gina")["auth_state"]["refresh_token"]) == old
    b.close()


def test_rotated_refresh_token_is_stored(scripted_hub, idp):
    b = login_then_due(scripted_hub, idp, "hank")
    idp.answer_with(lambda form, auth: (200, idp.tokens("hank")))
    b.go("/hub/home")
    stored = scripted_hub.user("hank")["auth_state"]["refresh_token"]
    assert scripted_hub.unseal(stored) == idp.refresh_tokens[-1]
    b.close()


def test_many_racing_requests_refresh_once(scripted_hub, idp):
    b = login_then_due(scripted_hub, idp, "ivan")
    before = len(idp.server.token_requests)
    idp.server.delay = 0.3
    idp.answer_with(lambda form, auth: (200, idp.tokens("ivan", lifetime=3600)))
    cookies = b.http.cookies

    async def burst() -> list[int]:
        async with httpx.AsyncClient(cookies=cookies, timeout=20) as client:
            responses = await asyncio.gather(
                *(client.get(f"{scripted_hub.url}/hub/api/user") for _ in range(20))
            )
        return [r.status_code for r in responses]

    statuses = asyncio.run(burst())
    assert statuses == [200] * 20
    assert len(idp.server.token_requests) - before == 1
    b.close()


def test_group_removed_at_refresh_revokes_admin_then_access(scripted_hub, idp):
    b = login_then_due(scripted_hub, idp, "jane", groups=["ml-training", "ml-admins"])
    assert scripted_hub.user("jane")["admin"] is True
    idp.answer_with(
        lambda form, auth: (200, idp.tokens("jane", groups=["ml-training"], lifetime=200))
    )
    assert b.go("/hub/home").status_code == 200
    model = scripted_hub.user("jane")
    assert model["admin"] is False
    assert model["groups"] == ["ml-training"]
    time.sleep(1.1)
    idp.answer_with(lambda form, auth: (200, idp.tokens("jane", groups=[], lifetime=200)))
    response = b.http.get(f"{scripted_hub.url}/hub/home")
    assert response.status_code == 302
    assert "/hub/login" in response.headers["location"]
    model = scripted_hub.user("jane")
    assert model["groups"] == []
    assert "refresh_token" not in model["auth_state"]
    assert idp.server.revocations[-1]["token"] == idp.refresh_tokens[-2]
    b.close()


@pytest.mark.hub
def test_leaving_the_allowed_groups_shows_within_recheck_interval_with_fresh_tokens(
    tmp_path, idp, scripted_factory, canaries, leak_watcher
):
    """Tokens valid for an hour: without the re-check the removal would show only ~55 min later."""
    config = f"""
c.JupyterHub.authenticator_class = "cognito"
c.CognitoOAuthenticator.issuer = {idp.server.issuer!r}
c.CognitoOAuthenticator.domain = "http://127.0.0.1:{idp.server.port}"
c.CognitoOAuthenticator.client_id = {scripted_factory.client_id!r}
c.CognitoOAuthenticator.allowed_groups = {{"ml-training"}}
c.CognitoOAuthenticator.recheck_interval = 2
c.Authenticator.auth_refresh_age = 1
"""
    hub = HubProcess(tmp_path, config, env={"COGNITO_CLIENT_SECRET": canaries.secret("s")})
    leak_watcher.watch_file(hub.log_file)
    idp.login_ok("olga", lifetime=3600)
    hub.start()
    try:
        with HubBrowser(hub.url) as b:
            assert b.login("x", "y").status_code == 200
            state = hub.user("olga")["auth_state"]
            assert state["access_token_expires_at"] - state["refreshed_at"] > 3000
            # An admin removes olga from ml-training at Cognito: the next refresh says so.
            idp.answer_with(lambda form, auth: (200, idp.tokens("olga", groups=[])))
            time.sleep(2.5)  # past recheck_interval, nowhere near the tokens' expiry
            response = b.http.get(f"{hub.url}/hub/home")
            assert response.status_code == 302
            assert "/hub/login" in response.headers["location"]
            _, form = idp.server.token_requests[-1]
            assert form["grant_type"] == "refresh_token"
            assert "refresh_token" not in hub.user("olga")["auth_state"]
            assert idp.server.revocations[-1]["token"] == idp.refresh_tokens[-2]
    finally:
        hub.stop()


def test_recheck_interval_must_be_seconds():
    with pytest.raises(ConfigurationError, match=r"CognitoOAuthenticator\.recheck_interval .*-1"):
        CognitoOAuthenticator(recheck_interval=-1)


def test_invalid_grant_at_refresh_requires_a_new_login(scripted_hub, idp):
    b = login_then_due(scripted_hub, idp, "kim")
    idp.answer_with(lambda form, auth: (400, {"error": "invalid_grant"}))
    response = b.http.get(f"{scripted_hub.url}/hub/home")
    assert response.status_code == 302
    assert "/hub/login" in response.headers["location"]
    assert "access_token" not in scripted_hub.user("kim")["auth_state"]
    b.close()


def test_idp_outage_at_refresh_keeps_the_session_and_backs_off(scripted_hub, idp):
    b = login_then_due(scripted_hub, idp, "lee")
    tokens = scripted_hub.user("lee")["auth_state"]["access_token"]
    before = len(idp.server.token_requests)
    idp.answer_with(lambda form, auth: (503, {"message": "down"}))
    assert b.go("/hub/home").status_code == 200
    time.sleep(1.1)
    assert b.go("/hub/home").status_code == 200  # within the 5 s backoff: no new attempt
    assert len(idp.server.token_requests) - before == 1
    assert scripted_hub.user("lee")["auth_state"]["access_token"] == tokens
    assert "Refreshing tokens of lee failed" in scripted_hub.log_tail(200)
    b.close()


def test_idp_down_at_logout_still_ends_the_hub_session(scripted_hub, idp, canaries):
    idp.login_ok("mia")
    b = HubBrowser(scripted_hub.url)
    b.login("x", "y")
    idp.server.revoke_status = 503
    b.go("/hub/logout")
    assert not b.logged_in
    assert "access_token" not in scripted_hub.user("mia")["auth_state"]
    assert "Revoking the refresh token answered HTTP 503" in scripted_hub.log_tail(200)
    b.close()


@pytest.mark.hub
def test_discovery_issuer_mismatch_stops_the_login_with_a_clear_page(
    tmp_path, idp, canaries, leak_watcher
):
    idp.server.discovery_overrides = {"issuer": idp.server.issuer + "/"}
    config = f"""
c.JupyterHub.authenticator_class = "cognito"
c.CognitoOAuthenticator.issuer = {idp.server.issuer!r}
c.CognitoOAuthenticator.domain = "http://127.0.0.1:{idp.server.port}"
c.CognitoOAuthenticator.client_id = "testclient0000000000000000"
c.CognitoOAuthenticator.allow_all = True
"""
    hub = HubProcess(tmp_path, config, env={"COGNITO_CLIENT_SECRET": canaries.secret("s")})
    leak_watcher.watch_file(hub.log_file)
    hub.start()
    try:
        with HubBrowser(hub.url) as b:
            response = b.go("/hub/oauth_login")
        assert response.status_code == 503
        assert "cannot be reached" in response.text
        assert "expected exactly" in hub.log_tail(100)
        assert idp.server.authorizations == []
    finally:
        hub.stop()


# ---------------------------------------------------------------- configuration
@pytest.mark.parametrize(
    ("settings", "words"),
    [
        pytest.param(
            {"domain": "http://127.0.0.1:9", "client_id": "c", "client_secret": "s" * 20},
            "CognitoOAuthenticator.issuer is not set",
            id="no-issuer",
        ),
        pytest.param(
            {
                "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Abc",
                "client_id": "c",
                "client_secret": "s" * 20,
            },
            "CognitoOAuthenticator.domain is not set",
            id="no-domain",
        ),
        pytest.param(
            {
                "region": "eu-west-1",
                "user_pool_id": "eu-west-1_Abc",
                "domain": "https://d.example",
                "client_secret": "s" * 20,
            },
            "CognitoOAuthenticator.client_id is not set",
            id="no-client-id",
        ),
        pytest.param(
            {
                "region": "eu-west-1",
                "user_pool_id": "eu-west-1_Abc",
                "domain": "https://d.example",
                "client_id": "c",
            },
            "CognitoOAuthenticator.client_secret is not set",
            id="no-secret",
        ),
        pytest.param(
            {
                "region": "eu-west-1",
                "user_pool_id": "eu-west-1_Abc",
                "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Other",
                "domain": "https://d.example",
                "client_id": "c",
                "client_secret": "s" * 20,
            },
            "contradicts",
            id="contradiction",
        ),
        pytest.param(
            {
                "issuer": "http://cognito.example.com/p",
                "domain": "https://d.example",
                "client_id": "c",
                "client_secret": "s" * 20,
            },
            "https://",
            id="http-issuer",
        ),
        pytest.param(
            {
                "issuer": "https://cognito.example.com/p",
                "domain": "http://d.example",
                "client_id": "c",
                "client_secret": "s" * 20,
            },
            "https://",
            id="http-domain",
        ),
    ],
)
def test_missing_or_contradictory_settings_name_the_setting(settings, words, monkeypatch):
    for name in (
        "COGNITO_REGION",
        "COGNITO_USER_POOL_ID",
        "COGNITO_ISSUER",
        "COGNITO_DOMAIN",
        "COGNITO_CLIENT_ID",
        "COGNITO_CLIENT_SECRET",
        "COGNITO_CLIENT_SECRET_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match=words):
        CognitoOAuthenticator(**settings).validate_settings()


def test_settings_from_environment_and_secret_file(tmp_path, monkeypatch, canaries):
    secret = canaries.secret("file-secret")
    (tmp_path / "secret").write_text(secret + "\n")
    monkeypatch.setenv("COGNITO_REGION", "eu-west-1")
    monkeypatch.setenv("COGNITO_USER_POOL_ID", "eu-west-1_AbC123xyz")
    monkeypatch.setenv("COGNITO_DOMAIN", "https://hub.auth.eu-west-1.amazoncognito.com/")
    monkeypatch.setenv("COGNITO_CLIENT_ID", "4abc")
    monkeypatch.delenv("COGNITO_CLIENT_SECRET", raising=False)
    monkeypatch.setenv("COGNITO_CLIENT_SECRET_FILE", str(tmp_path / "secret"))
    auth = CognitoOAuthenticator()
    auth.validate_settings()
    assert auth.issuer == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz"
    assert auth.domain == "https://hub.auth.eu-west-1.amazoncognito.com"
    assert auth.token_url == "https://hub.auth.eu-west-1.amazoncognito.com/oauth2/token"
    assert auth.client_secret == secret
    assert auth.basic_auth is True and auth.enable_pkce is True
    assert auth.manage_groups is True and auth.enable_auth_state is True


def test_scope_without_openid_is_refused():
    with pytest.raises(ConfigurationError, match="must include 'openid'"):
        CognitoOAuthenticator(scope=["email"])


def test_identity_provider_is_sent_to_cognito():
    auth = CognitoOAuthenticator(identity_provider="CorpOIDC")
    assert auth.extra_authorize_params == {"identity_provider": "CorpOIDC"}


def test_email_username_only_when_verified():
    from tornado import web

    auth = CognitoOAuthenticator(username_claim="email")
    assert auth.user_info_to_username({"email": "a@x.org", "email_verified": True}) == "a@x.org"
    for verified in (False, "true", None):
        with pytest.raises(web.HTTPError) as info:
            auth.user_info_to_username({"email": "a@x.org", "email_verified": verified})
        assert info.value.status_code == 403


async def test_revocation_endpoint_from_discovery_obeys_the_configured_url_rules(
    issuer_server, canaries
):
    """The Hub posts the refresh token and its client secret to the discovered revocation
    endpoint: an http:// one off loopback refuses discovery, so nothing is posted anywhere."""
    settings = {
        "issuer": issuer_server.issuer,
        "domain": f"http://127.0.0.1:{issuer_server.port}",
        "client_id": issuer_server.factory.client_id,
        "client_secret": canaries.secret("revoke-client-secret"),
    }
    auth = CognitoOAuthenticator(**settings)
    assert await auth.revoke(canaries.secret("refresh-token")) is True  # the control
    assert len(issuer_server.revocations) == 1
    issuer_server.discovery_overrides = {"revocation_endpoint": "http://idp.example.org/revoke"}
    auth = CognitoOAuthenticator(**settings)
    with pytest.raises(DiscoveryError, match="revocation_endpoint"):
        await auth.discover()
    assert await auth.revoke(canaries.secret("refresh-token")) is False
    assert len(issuer_server.revocations) == 1


@pytest.mark.hub
def test_hub_refuses_to_start_without_a_client_secret(tmp_path, local_cognito):
    config = f"""
c.JupyterHub.authenticator_class = "cognito"
c.CognitoOAuthenticator.issuer = {local_cognito.issuer!r}
c.CognitoOAuthenticator.domain = {local_cognito.domain!r}
c.CognitoOAuthenticator.client_id = {HUB_CLIENT!r}
c.CognitoOAuthenticator.allow_all = True
"""
    hub = HubProcess(tmp_path, config, env={"COGNITO_CLIENT_SECRET": ""})
    status, output = hub.run_to_exit()
    assert status != 0
    assert "CognitoOAuthenticator.client_secret is not set" in output


@pytest.mark.hub
def test_hub_refuses_to_start_without_a_crypt_key(tmp_path, local_cognito, canaries):
    config = f"""
c.JupyterHub.authenticator_class = "cognito"
c.CognitoOAuthenticator.issuer = {local_cognito.issuer!r}
c.CognitoOAuthenticator.domain = {local_cognito.domain!r}
c.CognitoOAuthenticator.client_id = {HUB_CLIENT!r}
c.CognitoOAuthenticator.allow_all = True
"""
    hub = HubProcess(
        tmp_path,
        config,
        env={"COGNITO_CLIENT_SECRET": canaries.secret("s"), "JUPYTERHUB_CRYPT_KEY": ""},
    )
    status, output = hub.run_to_exit()
    assert status != 0
    assert "auth_state is enabled, but encryption is not available" in output


@pytest.mark.hub
def test_hub_restart_keeps_users_logged_in(tmp_path, idp, canaries, leak_watcher):
    config = f"""
c.JupyterHub.authenticator_class = "cognito"
c.CognitoOAuthenticator.issuer = {idp.server.issuer!r}
c.CognitoOAuthenticator.domain = "http://127.0.0.1:{idp.server.port}"
c.CognitoOAuthenticator.client_id = "testclient0000000000000000"
c.CognitoOAuthenticator.allowed_groups = {{"ml-training"}}
"""
    hub = HubProcess(tmp_path, config, env={"COGNITO_CLIENT_SECRET": canaries.secret("s")})
    leak_watcher.watch_file(hub.log_file)
    idp.login_ok("nora")
    hub.start()
    try:
        with HubBrowser(hub.url) as b:
            assert b.login("x", "y").status_code == 200
            before = hub.user("nora")["auth_state"]
            hub.stop()
            hub.start()
            response = b.http.get(f"{hub.url}/hub/home")
            assert response.status_code == 200
            assert hub.user("nora")["auth_state"] == before
    finally:
        hub.stop()
