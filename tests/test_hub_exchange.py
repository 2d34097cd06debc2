"""Per-resource tokens at the Hub (RFC 8693 token exchange): a real Hub against the emulator.

The Hub's token endpoint URL points at a counting forwarder on loopback, so the tests count the
exchanges that reach the emulator (and can make Cognito "down" for exchanges). The pool: the
demo's resource servers, groups ml-training / ml-publishers, a Hub client allowed to exchange
with an actor (ALLOW_TOKEN_EXCHANGE_DELEGATION) and the actor's machine client; 15 s tokens, so
renewal across lifetimes takes seconds.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from jupyter_ai_access_testing.canary import CanaryRegistry
from jupyter_ai_access_testing.harness.forwarder import CountingForwarder
from jupyter_ai_access_testing.harness.hub import HubBrowser, HubProcess
from jupyter_ai_access_testing.harness.hubs import SCOPED_CALLERS, TOKEN_DELIVERY_CONFIG
from jupyter_ai_access_testing.leaks import LeakWatcher
from jupyter_ai_access_testing.ports import free_port

from jupyter_ai_access.cognito.exchange import GRANT_TYPE
from jupyter_ai_access.errors import ConfigurationError
from jupyter_ai_access.hub.authenticator import CognitoOAuthenticator
from jupyter_ai_access.hub.exchange import Exchanged
from jupyter_ai_access.local_cognito import LocalCognito, RunningPool
from jupyter_ai_access.protocol import TOKENS_SCOPE, hub_exchange_url

HUB = "xchghubclient0000000000000"
ACTOR = "xchgactorclient00000000000"
LIFETIME = 15
POLICY = {
    "ml-training": {
        "data-service": ["data-service/datasets.read"],
        "tracker": ["tracker/runs.read", "tracker/runs.write"],
        "ghost-service": ["ghost-service/anything"],  # allowed here, unknown to the pool
    },
    "ml-publishers": {
        "model-registry": ["model-registry/models.read", "model-registry/models.write"],
    },
}
LOGIN_SCOPES = [
    "openid",
    "email",
    "profile",
    "model-registry/models.read",
    "model-registry/models.write",
    "data-service/datasets.read",
    "tracker/runs.read",
    "tracker/runs.write",
]


def description(canaries: CanaryRegistry, hub_port: int) -> dict[str, Any]:
    hub = f"http://127.0.0.1:{hub_port}/hub"
    scopes = lambda *names: [{"name": n} for n in names]  # noqa: E731
    return {
        "region": "us-east-1",
        "user_pool_id": "us-east-1_HubXchg1",
        "feature_plan": "ESSENTIALS",
        "groups": [{"name": "ml-training"}, {"name": "ml-publishers"}],
        "users": [
            {
                "username": "alice",
                "password": canaries.secret("pw-alice-hubx"),
                "groups": ["ml-training", "ml-publishers"],
                "attributes": {"email": "alice@example.org", "email_verified": True},
            },
            {
                "username": "bob",
                "password": canaries.secret("pw-bob-hubx"),
                "groups": ["ml-training"],
                "attributes": {"email": "bob@example.org", "email_verified": True},
            },
        ],
        "resource_servers": [
            {"identifier": "model-registry", "scopes": scopes("models.read", "models.write")},
            {"identifier": "data-service", "scopes": scopes("datasets.read")},
            {"identifier": "tracker", "scopes": scopes("runs.read", "runs.write")},
            {"identifier": "notebook-platform", "scopes": scopes("act")},
        ],
        "app_clients": [
            {
                "name": "hub",
                "client_id": HUB,
                "client_secret": canaries.secret("hubx-hub-secret") + "0" * 24,
                "allowed_oauth_flows": ["code"],
                "allowed_oauth_scopes": LOGIN_SCOPES,
                "explicit_auth_flows": [
                    "ALLOW_REFRESH_TOKEN_AUTH",
                    "ALLOW_TOKEN_EXCHANGE_DELEGATION",
                ],
                "callback_urls": [f"{hub}/oauth_callback"],
                "logout_urls": [f"{hub}/logout-complete"],
                "token_validity": {
                    "access_token": LIFETIME,
                    "id_token": LIFETIME,
                    "refresh_token": 3600,
                },
            },
            {
                "name": "actor",
                "client_id": ACTOR,
                "client_secret": canaries.secret("hubx-actor-secret") + "0" * 24,
                "allowed_oauth_flows": ["client_credentials"],
                "allowed_oauth_scopes": ["notebook-platform/act"],
            },
        ],
    }


@pytest.fixture(scope="module")
def pool(
    tmp_path_factory: pytest.TempPathFactory, canaries: CanaryRegistry, leak_watcher: LeakWatcher
) -> Iterator[tuple[RunningPool, int]]:
    port = free_port()
    folder: Path = tmp_path_factory.mktemp("hubx-pool")
    (folder / "pool.json").write_text(json.dumps(description(canaries, port)), encoding="utf-8")
    emulator = LocalCognito(port=free_port(), pool_file=str(folder / "pool.json"), state_dir=str(folder / "state"))
    running = emulator.start()
    leak_watcher.watch_file(running.log_file)
    try:
        yield running, port
    finally:
        emulator.stop()


@pytest.fixture(scope="module")
def forwarder(pool: tuple[RunningPool, int]) -> Iterator[CountingForwarder]:
    running, _ = pool
    proxy = CountingForwarder(running.endpoint("token"), delay=0.3)  # concurrent callers overlap
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def exchange_hub(
    tmp_path_factory: pytest.TempPathFactory,
    pool: tuple[RunningPool, int],
    forwarder: CountingForwarder,
    canaries: CanaryRegistry,
) -> Iterator[HubProcess]:
    running, port = pool
    config = (
        f"""
c.JupyterHub.authenticator_class = "cognito"
c.CognitoOAuthenticator.issuer = {running.issuer!r}
c.CognitoOAuthenticator.domain = {running.domain!r}
c.CognitoOAuthenticator.client_id = {HUB!r}
c.CognitoOAuthenticator.token_url = {forwarder.url!r}
c.CognitoOAuthenticator.scope = {LOGIN_SCOPES!r}
c.CognitoOAuthenticator.allowed_groups = {{"ml-training", "ml-publishers"}}
c.CognitoOAuthenticator.refresh_margin = 7
c.CognitoOAuthenticator.exchange_renew_margin = 3
c.CognitoOAuthenticator.exchange_policy = {POLICY!r}
c.CognitoOAuthenticator.exchange_actor_scopes = ["notebook-platform/act"]
c.CognitoOAuthenticator.token_answers_burst = 100
c.Authenticator.auth_refresh_age = 3600  # renewal goes through the exchange path only
"""
        + TOKEN_DELIVERY_CONFIG
        + SCOPED_CALLERS
    )
    hub = HubProcess(
        tmp_path_factory.mktemp("hubx-hub"),
        config,
        env={
            "COGNITO_CLIENT_SECRET": running.client_secrets[HUB],
            "COGNITO_ACTOR_CLIENT_ID": ACTOR,
            "COGNITO_ACTOR_CLIENT_SECRET": running.client_secrets[ACTOR],
        },
        port=port,
    )
    canaries.register(hub.env["JUPYTERHUB_CRYPT_KEY"], "JUPYTERHUB_CRYPT_KEY")
    canaries.register(hub.admin_token, "hub admin token")
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


# ---------------------------------------------------------------- helpers
def login(hub: HubProcess, running: RunningPool, name: str, canaries: CanaryRegistry) -> HubBrowser:
    browser = HubBrowser(hub.url)
    assert browser.login(name, running.passwords[name]).status_code == 200
    register_session(hub, name, canaries)
    return browser


def register_session(hub: HubProcess, name: str, canaries: CanaryRegistry) -> dict[str, Any]:
    state: dict[str, Any] = (hub.user(name) or {}).get("auth_state") or {}
    for key in ("access_token", "id_token", "refresh_token"):
        if state.get(key):
            canaries.register(state[key], f"{name}'s {key}")
    if state.get("refresh_token"):
        canaries.register(str(hub.unseal(state["refresh_token"])), f"{name}'s refresh token")
    return state


def api_token(hub: HubProcess, name: str, canaries: CanaryRegistry) -> str:
    response = hub.api(
        "POST", f"/users/{name}/tokens", json={"scopes": [f"{TOKENS_SCOPE}!user={name}"]}
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    canaries.register(token, f"{name}'s server token")
    return token


def exchange(
    hub: HubProcess, name: str, token: str, audience: str, scope: str = ""
) -> httpx.Response:
    params = {"audience": audience, **({"scope": scope} if scope else {})}
    return httpx.get(
        hub_exchange_url(f"{hub.url}/hub/api", name),
        params=params,
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def audit_records(hub: HubProcess, event: str) -> list[dict[str, Any]]:
    records = []
    for line in hub.log_file.read_text(encoding="utf-8", errors="replace").splitlines():
        start = line.find('{"ts"')
        if start >= 0 and f'"event": "{event}"' in line:
            records.append(json.loads(line[start:]))
    return records


def no_secrets_in(text: str, hub: HubProcess, name: str, running: RunningPool) -> None:
    state = (hub.user(name) or {}).get("auth_state") or {}
    if state.get("refresh_token"):
        assert str(hub.unseal(state["refresh_token"])) not in text
    assert running.client_secrets[HUB] not in text
    assert running.client_secrets[ACTOR] not in text
    assert "refresh_token" not in text


# ---------------------------------------------------------------- tests
def test_alice_gets_a_registry_token_bound_to_it_with_the_hub_as_actor(
    exchange_hub, pool, canaries
):
    running, _ = pool
    with login(exchange_hub, running, "alice", canaries):
        token = api_token(exchange_hub, "alice", canaries)
        response = exchange(
            exchange_hub, "alice", token, "model-registry", "model-registry/models.write"
        )
        assert response.status_code == 200, response.text
        assert response.headers["Cache-Control"] == "no-store"
        body = response.json()
        canaries.register(body["access_token"], "alice's registry token")
        assert set(body) == {
            "username",
            "audience",
            "scope",
            "access_token",
            "access_token_expires_at",
            "actor",
        }
        assert body["audience"] == "model-registry"
        assert body["actor"] == ACTOR
        assert body["scope"] == ["model-registry/models.write"]
        claims = claims_of(body["access_token"])
        assert claims["aud"] == "model-registry"
        assert claims["act"]["client_id"] == ACTOR
        assert claims["scope"] == "model-registry/models.write"  # narrowed to what was asked
        assert claims["client_id"] == HUB
        assert claims["username"] == "alice"
        assert body["access_token_expires_at"] == claims["exp"]
        user_token = exchange_hub.user("alice")["auth_state"]["access_token"]
        assert body["access_token"] != user_token
        assert claims["origin_jti"] == claims_of(user_token)["origin_jti"]
        no_secrets_in(response.text, exchange_hub, "alice", running)
        # no scope asked: every scope alice's groups may have for the audience
        every = exchange(exchange_hub, "alice", token, "model-registry")
        assert every.status_code == 200, every.text
        canaries.register(every.json()["access_token"], "alice's registry token (all)")
        assert every.json()["scope"] == [
            "model-registry/models.read",
            "model-registry/models.write",
        ]
        records = [
            r for r in audit_records(exchange_hub, "token_exchanged") if r["user"] == "alice"
        ]
        assert {"audience": "model-registry", "actor": ACTOR} in [
            {"audience": r["audience"], "actor": r["actor"]} for r in records
        ]
        assert all(body["access_token"] not in json.dumps(r) for r in records)


def test_bob_is_refused_an_audience_his_groups_may_not_have(
    exchange_hub, pool, canaries, forwarder
):
    running, _ = pool
    with login(exchange_hub, running, "bob", canaries):
        token = api_token(exchange_hub, "bob", canaries)
        before = forwarder.exchanges
        refused = exchange(exchange_hub, "bob", token, "model-registry")
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"] == "audience_refused"
        assert "CognitoOAuthenticator.exchange_policy" in refused.json()["message"]
        assert "access_token" not in refused.json()
        wider = exchange(
            exchange_hub, "bob", token, "tracker", "tracker/runs.write model-registry/models.write"
        )
        assert wider.status_code == 403 and wider.json()["error"] == "audience_refused"
        assert forwarder.exchanges == before  # refused at the Hub: Cognito never asked
        allowed = exchange(exchange_hub, "bob", token, "data-service")
        assert allowed.status_code == 200, allowed.text
        canaries.register(allowed.json()["access_token"], "bob's data token")
        assert claims_of(allowed.json()["access_token"])["aud"] == "data-service"


def test_cognito_refusal_is_502_with_its_code(exchange_hub, pool, canaries):
    running, _ = pool
    with login(exchange_hub, running, "bob", canaries):
        token = api_token(exchange_hub, "bob", canaries)
        response = exchange(exchange_hub, "bob", token, "ghost-service")
        assert response.status_code == 502, response.text
        assert response.json()["error"] == "exchange_refused"
        assert response.json()["code"] == "invalid_target"
        no_secrets_in(response.text, exchange_hub, "bob", running)


def test_concurrent_requests_for_one_key_make_one_exchange(exchange_hub, pool, canaries, forwarder):
    running, _ = pool
    with login(exchange_hub, running, "alice", canaries):
        token = api_token(exchange_hub, "alice", canaries)
        before = forwarder.exchanges
        with ThreadPoolExecutor(20) as pool_:
            answers = list(
                pool_.map(
                    lambda _: exchange(
                        exchange_hub, "alice", token, "tracker", "tracker/runs.write"
                    ),
                    range(20),
                )
            )
        assert [a.status_code for a in answers] == [200] * 20, answers[0].text
        tokens = {a.json()["access_token"] for a in answers}
        for t in tokens:
            canaries.register(t, "alice's tracker token")
        assert len(tokens) == 1
        assert forwarder.exchanges - before == 1
        again = exchange(exchange_hub, "alice", token, "tracker", "tracker/runs.write")
        assert again.json()["access_token"] in tokens  # the cached answer
        assert forwarder.exchanges - before == 1


def test_cognito_down_is_503_unless_a_valid_token_is_cached(
    exchange_hub, pool, canaries, forwarder
):
    running, _ = pool
    with login(exchange_hub, running, "alice", canaries):
        token = api_token(exchange_hub, "alice", canaries)
        held = exchange(exchange_hub, "alice", token, "data-service")
        assert held.status_code == 200, held.text
        canaries.register(held.json()["access_token"], "alice's data token")
        forwarder.down = True
        try:
            nothing = exchange(exchange_hub, "alice", token, "tracker", "tracker/runs.read")
            assert nothing.status_code == 503, nothing.text
            assert nothing.json()["error"] == "idp_unavailable"
            cached = exchange(exchange_hub, "alice", token, "data-service")
            assert cached.status_code == 200
            assert cached.json()["access_token"] == held.json()["access_token"]
        finally:
            forwarder.down = False


def test_after_logout_the_endpoint_answers_401_and_the_cached_token_is_gone(
    exchange_hub, pool, canaries, forwarder
):
    running, _ = pool
    with login(exchange_hub, running, "bob", canaries) as browser:
        token = api_token(exchange_hub, "bob", canaries)
        first = exchange(exchange_hub, "bob", token, "tracker", "tracker/runs.read")
        assert first.status_code == 200, first.text
        canaries.register(first.json()["access_token"], "bob's tracker token")
        browser.go("/hub/logout")
    # a new session of the same person: nothing of the ended one is handed out
    with login(exchange_hub, running, "bob", canaries) as browser:
        before = forwarder.exchanges
        again = exchange(exchange_hub, "bob", token, "tracker", "tracker/runs.read")
        assert again.status_code == 200, again.text
        canaries.register(again.json()["access_token"], "bob's new tracker token")
        assert again.json()["access_token"] != first.json()["access_token"]
        assert forwarder.exchanges - before == 1
        state = exchange_hub.user("bob")["auth_state"]
        assert claims_of(again.json()["access_token"])["origin_jti"] == state["origin_jti"]
        browser.go("/hub/logout")
        ended = exchange(exchange_hub, "bob", token, "tracker", "tracker/runs.read")
        assert ended.status_code == 401, ended.text
        assert ended.json()["error"] == "login_required"
        assert ended.json()["login_url"].endswith("/hub/login")
        assert "access_token" not in ended.json()


def test_a_browser_cookie_gets_no_exchanged_token(exchange_hub, pool, canaries, forwarder):
    running, _ = pool
    with login(exchange_hub, running, "bob", canaries) as browser:
        before = forwarder.exchanges
        response = browser.http.get(
            hub_exchange_url(f"{exchange_hub.url}/hub/api", "bob"),
            params={"audience": "data-service"},
            headers={"Referer": f"{exchange_hub.url}/hub/home"},
        )
        assert response.status_code == 403
        assert "access_token" not in response.text
        assert forwarder.exchanges == before


def test_renewal_across_two_lifetimes_from_the_refreshed_user_token(
    exchange_hub, pool, canaries, forwarder
):
    running, _ = pool
    with login(exchange_hub, running, "alice", canaries):
        token = api_token(exchange_hub, "alice", canaries)
        seen: list[dict[str, Any]] = []
        for lifetime in range(3):
            response = exchange(exchange_hub, "alice", token, "tracker", "tracker/runs.read")
            assert response.status_code == 200, (lifetime, response.text)
            body = response.json()
            canaries.register(body["access_token"], f"alice's tracker token {lifetime}")
            state = register_session(exchange_hub, "alice", canaries)
            claims = claims_of(body["access_token"])
            assert claims["aud"] == "tracker" and claims["act"]["client_id"] == ACTOR
            assert claims["exp"] > time.time()  # never an expired token
            # exchanged from the user's current access token (same session, capped at its exp)
            assert claims["exp"] <= state["access_token_expires_at"]
            assert claims["origin_jti"] == state["origin_jti"]
            seen.append(
                {"token": body["access_token"], "exp": claims["exp"], "user": state["access_token"]}
            )
            if lifetime < 2:
                time.sleep(max(0.0, claims["exp"] - time.time()) + 1)  # let it expire
        assert len({s["token"] for s in seen}) == 3
        assert len({s["user"] for s in seen}) == 3  # the user's token was refreshed each time
        assert seen[0]["exp"] < seen[1]["exp"] < seen[2]["exp"]


# ---------------------------------------------------------------- settings (no Hub)
def test_the_forwarder_counts_the_grant_the_core_sends():
    from jupyter_ai_access_testing.harness.forwarder import EXCHANGE_GRANT

    assert EXCHANGE_GRANT == GRANT_TYPE


@pytest.mark.parametrize(
    ("policy", "says"),
    [
        ({"g": {"tracker": ["runs.read"]}}, "scope 'runs.read' is not one of 'tracker''s"),
        ({"g": {"tracker": []}}, "must be a non-empty list of scopes"),
        ({"g": ["tracker"]}, "maps a group name to {audience: [scopes]}"),
        ({"g": {"a/b": ["a/b/c"]}}, "is not a resource server identifier"),
    ],
)
def test_a_wrong_policy_is_refused_naming_the_setting(policy, says):
    with pytest.raises(ConfigurationError) as refused:
        CognitoOAuthenticator(exchange_policy=policy)
    assert "CognitoOAuthenticator.exchange_policy" in str(refused.value)
    assert says in str(refused.value)


def test_the_actor_comes_from_the_environment_and_needs_its_secret(monkeypatch, tmp_path):
    monkeypatch.setenv("COGNITO_ACTOR_CLIENT_ID", "actor-id")
    monkeypatch.delenv("COGNITO_ACTOR_CLIENT_SECRET", raising=False)
    monkeypatch.delenv("COGNITO_ACTOR_CLIENT_SECRET_FILE", raising=False)
    auth = CognitoOAuthenticator()
    assert auth.exchange_actor_client_id == "actor-id"
    with pytest.raises(
        ConfigurationError, match=r"CognitoOAuthenticator\.exchange_actor_client_secret"
    ):
        auth.check_exchange_settings()
    secret = tmp_path / "actor-secret"
    secret.write_text("from-the-file\n", encoding="utf-8")
    monkeypatch.setenv("COGNITO_ACTOR_CLIENT_SECRET_FILE", str(secret))
    auth = CognitoOAuthenticator()
    assert auth.exchange_actor_client_secret == "from-the-file"
    auth.check_exchange_settings()
    assert "from-the-file" not in repr(auth.exchange_policy)


def test_the_policy_grants_the_union_of_the_groups_entries():
    auth = CognitoOAuthenticator(exchange_policy=POLICY)
    assert auth.allowed_exchange(["ml-training"], "model-registry") == set()
    assert auth.allowed_exchange(["ml-training", "ml-publishers"], "model-registry") == {
        "model-registry/models.read",
        "model-registry/models.write",
    }


def test_a_cached_token_goes_to_its_user_and_identity_only_and_ends_with_the_session() -> None:
    """The cache key holds the user; a cached token of another ``sub`` is never served; the
    session-end hook (``HubSessions.on_session_end``) forgets the user's tokens."""
    auth = CognitoOAuthenticator(exchange_policy=POLICY)
    exchanger = auth.exchanger
    scopes = ["tracker/runs.read"]
    alice = exchanger.key("alice", "tracker", scopes)
    bob = exchanger.key("bob", "tracker", scopes)
    assert alice != bob
    exchanger._cache[alice] = Exchanged(
        token="alice-tracker-token",
        audience="tracker",
        scopes=scopes,
        expires_at=auth.clock() + 3600,
        actor=ACTOR,
        sub="sub-alice",
        subject="fingerprint",
    )
    served = exchanger.fresh(alice, "sub-alice")
    assert served is not None and served.token == "alice-tracker-token"
    assert exchanger.fresh(bob, "sub-bob") is None
    assert exchanger.fresh(alice, "sub-of-another-identity-named-alice") is None
    for hook in auth.sessions.on_session_end:  # what HubSessions.end_session runs
        hook("bob")
    assert [e.token for e in exchanger.cached("alice")] == ["alice-tracker-token"]
    for hook in auth.sessions.on_session_end:
        hook("alice")
    assert exchanger.cached("alice") == []
    assert exchanger.fresh(alice, "sub-alice") is None
