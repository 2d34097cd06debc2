"""Conformance of the local Cognito emulator with ../shared/cognito.md, over real loopback HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from jupyter_ai_access_testing.canary import CanaryRegistry
from jupyter_ai_access_testing.flows import HostedUIClient, LoginError
from jupyter_ai_access_testing.ports import free_port

from jupyter_ai_access.local_cognito import LocalCognito, RunningPool

CALLBACK = "http://127.0.0.1:8000/hub/oauth_callback"
LOGOUT_URI = "http://127.0.0.1:8000/hub/logout-complete"
SCOPE = "openid email profile ai-access/datasets.read"


@pytest.fixture
def ui(local_cognito: RunningPool) -> Iterator[HostedUIClient]:
    with HostedUIClient(local_cognito.domain) as client:
        yield client


def password(desc: dict[str, Any], username: str) -> str:
    users = desc["users"] + [u for p in desc["identity_providers"] for u in p["users"]]
    return next(u["password"] for u in users if u["username"] == username)


@pytest.fixture
def login(
    ui: HostedUIClient,
    local_cognito: RunningPool,
    cognito_pool_description: dict,
    canaries: CanaryRegistry,
):
    """Log in through the hosted UI and exchange the code; returns (tokens, authorization)."""

    def _login(
        user: str = "alice", client: str = "hub", scope: str = SCOPE, extra: dict | None = None
    ) -> tuple[dict, Any]:
        cid = local_cognito.pool.client(client).client_id
        result = ui.authorize(
            cid,
            CALLBACK,
            scope=scope,
            username=user,
            password=password(cognito_pool_description, user),
            extra=extra,
        )
        response = ui.exchange(result, cid, local_cognito.client_secrets.get(cid), CALLBACK)
        assert response.status_code == 200, response.text
        tokens = response.json()
        for name, value in tokens.items():
            if name.endswith("_token"):
                canaries.register(value, name)
        return tokens, result

    return _login


def jwks(running: RunningPool) -> jwt.PyJWKSet:
    return jwt.PyJWKSet.from_dict(httpx.get(running.jwks_url).json())


def verify(running: RunningPool, token: str, **kwargs: Any) -> dict[str, Any]:
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwks(running)[kid]
    return jwt.decode(token, key, algorithms=["RS256"], issuer=running.issuer, **kwargs)


# ---------------------------------------------------------------- discovery and keys
def test_discovery_document_is_under_the_issuer_and_names_the_domain_endpoints(local_cognito):
    doc = httpx.get(local_cognito.discovery_url).json()
    assert doc["issuer"] == local_cognito.issuer
    assert local_cognito.issuer == f"{local_cognito.domain}/us-east-1_TestPool1"
    assert doc["jwks_uri"] == f"{local_cognito.issuer}/.well-known/jwks.json"
    for name, path in [
        ("authorization_endpoint", "/oauth2/authorize"),
        ("token_endpoint", "/oauth2/token"),
        ("userinfo_endpoint", "/oauth2/userInfo"),
        ("revocation_endpoint", "/oauth2/revoke"),
    ]:
        assert doc[name] == local_cognito.domain + path
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["response_types_supported"] == ["code"]


def test_jwks_has_two_public_rsa_keys_and_no_private_parts(local_cognito):
    keys = httpx.get(local_cognito.jwks_url).json()["keys"]
    assert len(keys) == 2
    assert len({k["kid"] for k in keys}) == 2
    for key in keys:
        assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)


# ---------------------------------------------------------------- login and tokens
def test_code_flow_tokens_carry_cognito_claims_with_different_kids(login, local_cognito):
    tokens, auth = login("alice")
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 60
    assert set(tokens) == {
        "access_token",
        "id_token",
        "refresh_token",
        "expires_in",
        "token_type",
        "scope",
    }
    assert auth.params["state"] == auth.state

    id_header = jwt.get_unverified_header(tokens["id_token"])
    access_header = jwt.get_unverified_header(tokens["access_token"])
    assert id_header["alg"] == access_header["alg"] == "RS256"
    assert id_header["kid"] != access_header["kid"]

    idt = verify(local_cognito, tokens["id_token"], audience="hubclient00000000000000000")
    assert idt["token_use"] == "id"
    assert idt["cognito:username"] == "alice"
    assert idt["cognito:groups"] == ["ml-training", "ml-admins"]
    assert idt["email"] == "alice@example.org" and idt["email_verified"] is True
    assert idt["nonce"] == auth.nonce
    assert idt["exp"] - idt["iat"] == 60
    for claim in ("sub", "auth_time", "origin_jti", "jti", "event_id"):
        assert idt[claim], claim

    at = verify(local_cognito, tokens["access_token"], options={"verify_aud": False})
    assert at["token_use"] == "access"
    assert at["client_id"] == "hubclient00000000000000000"
    assert at["username"] == "alice"
    assert at["cognito:groups"] == ["ml-training", "ml-admins"]
    assert at["scope"].split() == SCOPE.split()
    assert at["version"] == 2
    assert at["sub"] == idt["sub"]
    assert at["origin_jti"] == idt["origin_jti"]
    assert at["jti"] != idt["jti"]
    assert "nonce" not in at and "email" not in at


def test_id_token_of_a_user_without_groups_has_no_groups_claim(login, local_cognito):
    tokens, _ = login("carol", scope="openid email")
    idt = verify(local_cognito, tokens["id_token"], audience="hubclient00000000000000000")
    assert "cognito:groups" not in idt
    assert idt["email_verified"] is False


def test_usernames_are_case_insensitive(ui, local_cognito, cognito_pool_description):
    result = ui.authorize(
        "hubclient00000000000000000",
        CALLBACK,
        username="ALICE",
        password=password(cognito_pool_description, "alice"),
    )
    assert "code" in result.params


@pytest.mark.parametrize(
    ("user", "pw"),
    [
        pytest.param("alice", "wrong-password", id="wrong-password"),
        pytest.param("nobody", "whatever-password", id="unknown-user"),
        pytest.param("dave", None, id="disabled-user"),
    ],
)
def test_failed_sign_in_says_incorrect_username_or_password(ui, cognito_pool_description, user, pw):
    with pytest.raises(LoginError) as info:
        ui.authorize(
            "hubclient00000000000000000",
            CALLBACK,
            username=user,
            password=pw or password(cognito_pool_description, user),
        )
    page = info.value.response
    assert page.status_code == 200
    assert "Incorrect username or password." in page.text
    assert ui.login_form(page) is not None  # the form is shown again


def test_second_authorize_is_single_sign_on(ui, login):
    login("bob")
    result = ui.authorize("shortclient000000000000000", CALLBACK, scope="openid")
    assert "code" in result.params  # no password asked


def test_pkce_wrong_or_missing_verifier_is_invalid_grant(
    ui, local_cognito, cognito_pool_description
):
    cid = "hubclient00000000000000000"
    secret = local_cognito.client_secrets[cid]
    pw = password(cognito_pool_description, "bob")
    for verifier in ("x" * 50, None):
        result = ui.authorize(cid, CALLBACK, username="bob", password=pw)
        form = {"grant_type": "authorization_code", "code": result.code, "redirect_uri": CALLBACK}
        if verifier:
            form["code_verifier"] = verifier
        response = ui.token(cid, secret, **form)
        assert response.status_code == 400
        assert response.json() == {"error": "invalid_grant"}


def test_authorization_code_is_single_use(ui, local_cognito, cognito_pool_description):
    cid = "hubclient00000000000000000"
    secret = local_cognito.client_secrets[cid]
    result = ui.authorize(
        cid, CALLBACK, username="bob", password=password(cognito_pool_description, "bob")
    )
    assert ui.exchange(result, cid, secret, CALLBACK).status_code == 200
    replay = ui.exchange(result, cid, secret, CALLBACK)
    assert replay.status_code == 400
    assert replay.json() == {"error": "invalid_grant"}


def test_code_of_one_client_is_refused_to_another(ui, local_cognito, cognito_pool_description):
    result = ui.authorize(
        "hubclient00000000000000000",
        CALLBACK,
        username="bob",
        password=password(cognito_pool_description, "bob"),
    )
    other = "shortclient000000000000000"
    response = ui.exchange(result, other, local_cognito.client_secrets[other], CALLBACK)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_grant"}


def test_wrong_client_secret_is_invalid_client(ui, local_cognito, cognito_pool_description):
    result = ui.authorize(
        "hubclient00000000000000000",
        CALLBACK,
        username="bob",
        password=password(cognito_pool_description, "bob"),
    )
    response = ui.exchange(result, "hubclient00000000000000000", "not-the-secret-at-all", CALLBACK)
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_client"}


def test_unregistered_redirect_uri_is_refused_without_redirecting(ui):
    response = ui.http.get(
        f"{ui.domain}/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": "hubclient00000000000000000",
            "redirect_uri": "http://127.0.0.1:8000/evil",
            "scope": "openid",
            "state": "s",
        },
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "redirect_uri" in response.text


def test_implicit_grant_is_not_offered(ui):
    response = ui.http.get(
        f"{ui.domain}/oauth2/authorize",
        params={
            "response_type": "token",
            "client_id": "hubclient00000000000000000",
            "redirect_uri": CALLBACK,
            "scope": "openid",
            "state": "s",
        },
    )
    assert response.status_code in (302, 303, 400)
    if response.status_code != 400:
        assert "error=unsupported_response_type" in response.headers["location"]
    assert "access_token" not in response.headers.get("location", "")


def test_public_client_logs_in_with_pkce_and_no_secret(ui, cognito_pool_description):
    redirect = "http://127.0.0.1:8888/callback"
    result = ui.authorize(
        "publicclient00000000000000",
        redirect,
        scope="openid",
        username="bob",
        password=password(cognito_pool_description, "bob"),
    )
    response = ui.exchange(result, "publicclient00000000000000", None, redirect)
    assert response.status_code == 200
    assert {"access_token", "id_token", "refresh_token"} <= set(response.json())


# ---------------------------------------------------------------- refresh, revoke, logout
def test_refresh_returns_new_tokens_and_no_refresh_token(login, ui, local_cognito):
    tokens, _ = login("alice")
    response = ui.refresh(
        "hubclient00000000000000000",
        local_cognito.client_secrets["hubclient00000000000000000"],
        tokens["refresh_token"],
    )
    assert response.status_code == 200
    fresh = response.json()
    assert "refresh_token" not in fresh
    assert {"access_token", "id_token", "expires_in", "token_type"} <= set(fresh)
    old = verify(local_cognito, tokens["access_token"], options={"verify_aud": False})
    new = verify(local_cognito, fresh["access_token"], options={"verify_aud": False})
    assert new["jti"] != old["jti"]
    assert new["origin_jti"] == old["origin_jti"]
    assert new["cognito:groups"] == old["cognito:groups"]
    idt = verify(local_cognito, fresh["id_token"], audience="hubclient00000000000000000")
    assert idt["token_use"] == "id" and idt["cognito:username"] == "alice"


def test_revoke_then_refresh_is_invalid_grant(login, ui, local_cognito):
    tokens, _ = login("alice")
    cid = "hubclient00000000000000000"
    secret = local_cognito.client_secrets[cid]
    revoked = ui.revoke(cid, secret, tokens["refresh_token"])
    assert revoked.status_code == 200
    assert revoked.text == ""
    again = ui.refresh(cid, secret, tokens["refresh_token"])
    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant"}
    # Tokens issued from the revoked refresh token die at Cognito's own endpoints...
    assert ui.userinfo(tokens["access_token"]).status_code == 401
    # ...but still pass an offline signature check until exp (as on a real pool).
    assert verify(local_cognito, tokens["access_token"], options={"verify_aud": False})


def test_revoking_an_access_token_is_unsupported(login, ui, local_cognito):
    tokens, _ = login("bob")
    cid = "hubclient00000000000000000"
    response = ui.revoke(cid, local_cognito.client_secrets[cid], tokens["access_token"])
    assert response.status_code == 400
    assert response.json() == {"error": "unsupported_token_type"}


def test_rotation_client_gets_a_new_refresh_token_and_the_old_one_dies(login, ui, local_cognito):
    tokens, _ = login("bob", client="rotating", scope="openid")
    cid = "rotatingclient000000000000"
    secret = local_cognito.client_secrets[cid]
    first = ui.refresh(cid, secret, tokens["refresh_token"])
    assert first.status_code == 200
    rotated = first.json()["refresh_token"]
    assert rotated != tokens["refresh_token"]
    ui.http.cookies.clear()
    assert ui.refresh(cid, secret, tokens["refresh_token"]).json() == {"error": "invalid_grant"}


def test_logout_with_unregistered_logout_uri_is_refused_and_keeps_the_session(ui, login):
    login("bob")
    response = ui.logout("hubclient00000000000000000", "http://127.0.0.1:8000/elsewhere")
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "logout_uri" in response.text
    result = ui.authorize("hubclient00000000000000000", CALLBACK)  # still signed in
    assert "code" in result.params


def test_logout_ends_the_hosted_ui_session(ui, login):
    login("bob")
    response = ui.logout("hubclient00000000000000000", LOGOUT_URI)
    assert response.status_code in (302, 303)
    assert response.headers["location"] == LOGOUT_URI
    with pytest.raises(LoginError) as info:
        ui.authorize("hubclient00000000000000000", CALLBACK)  # no username: must ask again
    assert ui.login_form(info.value.response)


def test_logout_does_not_revoke_tokens(ui, login, local_cognito):
    tokens, _ = login("bob")
    ui.logout("hubclient00000000000000000", LOGOUT_URI)
    cid = "hubclient00000000000000000"
    assert (
        ui.refresh(cid, local_cognito.client_secrets[cid], tokens["refresh_token"]).status_code
        == 200
    )


# ---------------------------------------------------------------- userInfo
def test_userinfo_returns_attributes_but_never_groups(login, ui):
    tokens, _ = login("alice")
    response = ui.userinfo(tokens["access_token"])
    assert response.status_code == 200
    info = response.json()
    assert info["username"] == "alice" and info["email"] == "alice@example.org"
    assert "cognito:groups" not in info


def test_userinfo_refuses_a_tampered_token(login, ui):
    tokens, _ = login("bob")
    head, payload, sig = tokens["access_token"].split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    response = ui.userinfo(f"{head}.{payload}.{flipped}")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_userinfo_refuses_an_id_token(login, ui):
    tokens, _ = login("bob")
    assert ui.userinfo(tokens["id_token"]).status_code == 401


# ---------------------------------------------------------------- client credentials
def test_client_credentials_token_has_machine_claims_and_custom_scopes_only(ui, local_cognito):
    cid = "machineclient0000000000000"
    response = ui.token(cid, local_cognito.client_secrets[cid], grant_type="client_credentials")
    assert response.status_code == 200
    body = response.json()
    assert "refresh_token" not in body and "id_token" not in body
    assert body["expires_in"] == 120
    at = verify(local_cognito, body["access_token"], options={"verify_aud": False})
    assert at["sub"] == at["client_id"] == cid
    assert at["token_use"] == "access"
    assert at["scope"] == "ai-access/datasets.read"
    assert "username" not in at and "cognito:groups" not in at


def test_client_credentials_refuses_openid_scope(ui, local_cognito):
    cid = "machineclient0000000000000"
    response = ui.token(
        cid, local_cognito.client_secrets[cid], grant_type="client_credentials", scope="openid"
    )
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_scope"}


def test_code_client_cannot_use_client_credentials(ui, local_cognito):
    cid = "hubclient00000000000000000"
    response = ui.token(
        cid,
        local_cognito.client_secrets[cid],
        grant_type="client_credentials",
        scope="ai-access/datasets.read",
    )
    assert response.status_code == 400
    assert response.json() == {"error": "unauthorized_client"}


# ---------------------------------------------------------------- federated identity provider
def test_identity_provider_parameter_goes_to_the_federated_login(
    ui, local_cognito, cognito_pool_description, canaries
):
    result = ui.authorize(
        "hubclient00000000000000000",
        CALLBACK,
        scope="openid email",
        username="erin",
        password=password(cognito_pool_description, "erin"),
        extra={"identity_provider": "CorpOIDC"},
    )
    assert "Sign in with CorpOIDC" in ui.last_page.text
    response = ui.exchange(
        result,
        "hubclient00000000000000000",
        local_cognito.client_secrets["hubclient00000000000000000"],
        CALLBACK,
    )
    tokens = response.json()
    canaries.register(tokens["refresh_token"], "refresh_token")
    idt = verify(local_cognito, tokens["id_token"], audience="hubclient00000000000000000")
    assert idt["cognito:username"] == "CorpOIDC_erin"
    assert idt["identities"][0]["providerName"] == "CorpOIDC"


def test_unknown_identity_provider_is_refused(ui):
    response = ui.http.get(
        f"{ui.domain}/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": "hubclient00000000000000000",
            "redirect_uri": CALLBACK,
            "scope": "openid",
            "identity_provider": "Nope",
        },
    )
    assert response.status_code == 400
    assert "identity provider" in response.text


# ---------------------------------------------------------------- lifetimes and restarts
@pytest.mark.slow
def test_a_30_second_token_expires(login, ui, local_cognito):
    tokens, _ = login("bob", client="short", scope="openid email")
    claims = verify(local_cognito, tokens["access_token"], options={"verify_aud": False})
    assert claims["exp"] - claims["iat"] == 30
    assert ui.userinfo(tokens["access_token"]).status_code == 200
    time.sleep(max(0.0, claims["exp"] - time.time()) + 1.5)
    assert ui.userinfo(tokens["access_token"]).status_code == 401
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(local_cognito, tokens["access_token"], options={"verify_aud": False})


def test_keys_sessions_and_refresh_tokens_survive_a_restart(
    tmp_path, cognito_pool_description, canaries
):
    pool_file = tmp_path / "pool.json"
    pool_file.write_text(json.dumps(cognito_pool_description))
    emulator = LocalCognito(port=free_port(), pool_file=str(pool_file), state_dir=str(tmp_path / "state"))
    cid = "hubclient00000000000000000"
    with emulator as running:
        keys_before = httpx.get(running.jwks_url).json()
        ui = HostedUIClient(running.domain)
        result = ui.authorize(
            cid, CALLBACK, username="bob", password=password(cognito_pool_description, "bob")
        )
        tokens = ui.exchange(result, cid, running.client_secrets[cid], CALLBACK).json()
        canaries.register(tokens["refresh_token"], "refresh_token")
        port = running.port
    assert (tmp_path / "state" / "keys.json").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    emulator = LocalCognito(pool_file=str(pool_file), state_dir=str(tmp_path / "state"), port=port)
    with emulator as running:
        assert httpx.get(running.jwks_url).json() == keys_before
        assert verify(running, tokens["id_token"], audience=cid)["cognito:username"] == "bob"
        assert (
            ui.refresh(cid, running.client_secrets[cid], tokens["refresh_token"]).status_code == 200
        )
        assert "code" in ui.authorize(cid, CALLBACK).params  # the SSO session survived too
    ui.close()


def test_emulator_log_holds_no_secret(local_cognito, login, canaries):
    login("alice")
    text = local_cognito.log_file.read_text()
    assert '"event":"login"' in text
    assert canaries.find(text) == []
