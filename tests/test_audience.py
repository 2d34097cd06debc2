"""Per-resource tokens at the resource: ``aud`` (audience-bound tokens) and ``act`` (the actor).

Crafted tokens (the TokenFactory, a loopback JWKS) for every shape; then tokens issued by the
local Cognito emulator's token exchange (the demo pool: the Hub's client exchanges alice's token
with the jupyterhub-actor client's token as actor) against the verifier and the example registry.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jupyter_ai_access_testing.flows import HostedUIClient
from jupyter_ai_access_testing.harness.lab import start_registry
from jupyter_ai_access_testing.ports import free_port
from jupyter_ai_access_testing.tokens import TokenFactory
from tornado import web
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from jupyter_ai_access.demo.settings import DEMO_POOL_FILE
from jupyter_ai_access.errors import ClaimError, ConfigurationError
from jupyter_ai_access.local_cognito import LocalCognito, RunningPool
from jupyter_ai_access.local_cognito.process import stop_process
from jupyter_ai_access.pooldesc import load_pool
from jupyter_ai_access.resource import CognitoTokenVerifier, TokenClaims
from jupyter_ai_access.resource.asgi import CognitoAuthMiddleware
from jupyter_ai_access.resource.tornado_auth import BearerAuthMixin, bearer_required

ROOT = Path(__file__).resolve().parent.parent
MISSING = TokenFactory.MISSING
REGISTRY, DATA = "model-registry", "data-service"
HUB_ACTOR = "4jupyterhubactordemo00000a"
OTHER_ACTOR = "someotherplatform00000000a"
ACT = {"sub": HUB_ACTOR, "client_id": HUB_ACTOR}


@pytest.fixture
def factory(issuer_server) -> TokenFactory:
    return issuer_server.factory


@pytest.fixture
def make(issuer_server, factory):
    def build(**options: Any) -> CognitoTokenVerifier:
        return CognitoTokenVerifier(
            issuer=issuer_server.issuer, client_ids=[factory.client_id], **options
        )

    return build


def bound(factory: TokenFactory, audience: Any = REGISTRY, **claims: Any) -> str:
    """An exchanged token: bound to ``audience``, with the Hub as actor unless ``act=`` says."""
    claims.setdefault("act", ACT)
    if claims["act"] is MISSING:
        del claims["act"]
    return factory.mint("access", aud=audience, scope=f"{REGISTRY}/models.read", **claims)


# ---------------------------------------------------------------- the audience
def test_a_token_bound_to_the_registry_is_accepted_there_and_refused_elsewhere(make, factory):
    token = bound(factory)
    claims = make(audience=REGISTRY, accept_broad_tokens=False).verify(token)
    assert isinstance(claims, TokenClaims)
    assert claims.audience == REGISTRY and claims["aud"] == REGISTRY
    with pytest.raises(ClaimError, match=r"'aud'.*binds the token to 'model-registry'.*data-serv"):
        make(audience=DATA).verify(token)
    # A resource that configured no audience still refuses a token bound to another one.
    with pytest.raises(ClaimError, match=r"'aud'.*names no audience"):
        make().verify(token)
    # ... also when the token came through its cache first, and with a list of audiences.
    assert make(audience=[DATA, REGISTRY]).verify(token).audience == REGISTRY


@pytest.mark.parametrize("strict", [False, True])
def test_broad_tokens_are_accepted_unless_switched_off(make, factory, strict):
    broad = factory.mint("access")  # Cognito's own access token: no aud
    emulator_broad = factory.mint("access", aud=factory.client_id)  # oidc-provider's shape
    verifier = make(audience=REGISTRY, accept_broad_tokens=not strict)
    for token in (broad, emulator_broad):
        if strict:
            with pytest.raises(ClaimError, match=r"'aud'.*only tokens bound to its audience"):
                verifier.verify(token)
        else:
            assert verifier.verify(token).audience is None
    assert make().verify(broad).audience is None  # the default: compatibility


def test_refused_tokens_are_refused_again_not_cached(make, factory):
    verifier = make(audience=DATA)
    token = bound(factory)
    for _ in range(2):
        with pytest.raises(ClaimError, match="'aud'"):
            verifier.verify(token)


@pytest.mark.parametrize(
    ("aud", "accepted"),
    [
        pytest.param([REGISTRY], True, id="list-of-one"),
        pytest.param([REGISTRY, DATA], False, id="list-of-two-both-ours"),
        pytest.param([], False, id="empty-list"),
        pytest.param("", False, id="empty-string"),
        pytest.param(None, False, id="null"),
        pytest.param(7, False, id="number"),
        pytest.param({"id": REGISTRY}, False, id="object"),
        pytest.param([[REGISTRY]], False, id="nested-list"),
    ],
)
def test_crafted_aud_shapes(make, factory, aud, accepted):
    """Decided: one audience, as a string or a list of one; anything else is refused by every
    verifier (a token valid at two resources could be replayed from one to the other)."""
    token = factory.mint("access", aud=aud)
    for verifier in (make(audience=[REGISTRY, DATA]), make()):
        if accepted and verifier.resource.audiences:
            assert verifier.verify(token).audience == REGISTRY
        else:
            with pytest.raises(ClaimError, match="'aud'"):
                verifier.verify(token)


# ---------------------------------------------------------------- the actor
def test_the_actor_is_exposed_and_cannot_be_claimed_by_the_token(make, factory):
    verifier = make(audience=REGISTRY)
    claims = verifier.verify(bound(factory))
    assert claims.act == ACT and claims["act"] == ACT
    assert claims.actor == HUB_ACTOR
    direct = verifier.verify(bound(factory, act=MISSING, actor=HUB_ACTOR, audience=REGISTRY))
    assert direct.act is None and direct.actor is None  # a member named "actor" means nothing
    nested = {"sub": OTHER_ACTOR, "client_id": OTHER_ACTOR, "act": ACT}
    assert verifier.verify(bound(factory, act=nested)).actor == OTHER_ACTOR  # the current one


@pytest.mark.parametrize(
    ("require_actor", "with_act", "without_act"),
    [(None, True, True), (True, True, False), (False, False, True)],
)
def test_require_actor(make, factory, require_actor, with_act, without_act):
    verifier = make(audience=REGISTRY, require_actor=require_actor)
    for token, ok in ((bound(factory), with_act), (bound(factory, act=MISSING), without_act)):
        if ok:
            assert verifier.verify(token)["aud"] == REGISTRY
        else:
            with pytest.raises(ClaimError, match=r"'act'.*(missing|presents directly)"):
                verifier.verify(token)


def test_allowed_actors(make, factory):
    verifier = make(audience=REGISTRY, allowed_actors=[HUB_ACTOR])
    assert verifier.verify(bound(factory)).actor == HUB_ACTOR
    other = {"sub": OTHER_ACTOR, "client_id": OTHER_ACTOR}
    with pytest.raises(ClaimError, match=r"'act'.*someotherplatform.*not one this resource"):
        verifier.verify(bound(factory, act=other))
    # Earlier actors (nested) are informational (RFC 8693 4.1): only the current one counts.
    with pytest.raises(ClaimError, match="someotherplatform"):
        verifier.verify(bound(factory, act={**other, "act": ACT}))
    assert verifier.verify(bound(factory, act={**ACT, "act": other})).actor == HUB_ACTOR
    # No act: governed by require_actor alone (None here).
    assert verifier.verify(bound(factory, act=MISSING)).actor is None


def test_per_call_actor_requirements_add_to_the_verifiers(make, factory):
    verifier = make(audience=REGISTRY)
    delegated, direct = bound(factory), bound(factory, act=MISSING)
    assert verifier.verify(delegated, require_actor=True).actor == HUB_ACTOR
    with pytest.raises(ClaimError, match="'act'"):
        verifier.verify(direct, require_actor=True)
    with pytest.raises(ClaimError, match="'act'"):
        verifier.verify(delegated, require_actor=False)
    with pytest.raises(ClaimError, match="'act'"):
        verifier.verify(delegated, allowed_actors=[OTHER_ACTOR])
    assert verifier.verify(direct) is not None  # nothing stuck from the calls above
    strict = make(audience=REGISTRY, require_actor=True)
    with pytest.raises(ConfigurationError, match="contradicts"):
        strict.check_actor_options(require_actor=False)
    strict.check_actor_options(require_actor=True, allowed_actors=[HUB_ACTOR])


@pytest.mark.parametrize(
    "act",
    [
        pytest.param("4jupyterhubactordemo00000a", id="string"),
        pytest.param([ACT], id="list"),
        pytest.param(None, id="null"),
        pytest.param(1, id="number"),
        pytest.param({"sub": HUB_ACTOR}, id="no-client_id"),
        pytest.param({"client_id": ""}, id="empty-client_id"),
        pytest.param({"client_id": 5}, id="number-client_id"),
        pytest.param({"client_id": HUB_ACTOR, "sub": 5}, id="number-sub"),
        pytest.param({**ACT, "act": "x"}, id="nested-not-an-object"),
        pytest.param({**ACT, "act": {"sub": "x"}}, id="nested-without-client_id"),
        pytest.param({**ACT, "act": {**ACT, "act": {"client_id": None}}}, id="deep-nested-bad"),
    ],
)
def test_crafted_act_shapes_are_refused_by_every_verifier(make, factory, act):
    """Decided: act is an object with a non-empty string client_id (sub a string if present),
    every nested act the same; refused whatever the verifier's actor policy."""
    for verifier in (make(audience=REGISTRY), make(audience=REGISTRY, require_actor=False)):
        with pytest.raises(ClaimError, match="'act'"):
            verifier.verify(bound(factory, act=act))
    with pytest.raises(ClaimError, match="'act'"):
        make().verify(factory.mint("access", act=act))  # on a broad token too


def test_a_well_formed_nested_act_with_extra_members_is_accepted(make, factory):
    act = {**ACT, "iss": "https://example.org", "act": {"client_id": OTHER_ACTOR}}
    assert make(audience=REGISTRY).verify(bound(factory, act=act)).act == act


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"audience": "testclient0000000000000000"}, "names an app client id"),
        ({"accept_broad_tokens": False}, "needs audience="),
        ({"audience": [REGISTRY, ""]}, "resource server identifiers"),
        ({"accept_broad_tokens": "no"}, "True or False"),
        ({"require_actor": "yes"}, "True, False or None"),
        ({"require_actor": False, "allowed_actors": [HUB_ACTOR]}, "drop one of them"),
        ({"allowed_actors": [""]}, "non-empty strings"),
        ({"token_use": "id", "audience": REGISTRY}, "apply to access tokens"),
    ],
)
def test_contradictory_resource_settings_say_what_to_fix(make, options, words):
    with pytest.raises(ConfigurationError, match=words):
        make(**options)


# ---------------------------------------------------------------- the adapters
@pytest.fixture
def resource(make, jp_asyncio_loop) -> Iterator[str]:
    verifier = make(audience=REGISTRY)

    class Delegated(web.RequestHandler):
        @bearer_required(verifier, require_actor=True, allowed_actors=[HUB_ACTOR])
        async def get(self) -> None:
            claims = self.cognito_claims  # type: ignore[attr-defined]
            self.finish({"user": claims["username"], "actor": claims.actor})

    class Direct(BearerAuthMixin, web.RequestHandler):
        require_actor = False

        def get(self) -> None:
            self.finish({"actor": self.cognito_actor})

    app = web.Application(
        [("/delegated", Delegated), ("/direct", Direct)], cognito_verifier=verifier
    )
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(app)
    server.add_sockets(sockets)
    try:
        yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    finally:
        server.stop()


async def fetch(url: str, token: str) -> tuple[int, dict[str, Any]]:
    response = await AsyncHTTPClient().fetch(
        url, headers={"Authorization": f"Bearer {token}"}, raise_error=False
    )
    return response.code, json.loads(response.body)


async def test_tornado_routes_pass_the_actor_policy_and_expose_the_actor(resource, factory):
    assert await fetch(f"{resource}/delegated", bound(factory)) == (
        200,
        {"user": "alice", "actor": HUB_ACTOR},
    )
    code, body = await fetch(f"{resource}/delegated", bound(factory, act=MISSING))
    assert code == 401 and body["error"] == "invalid_token" and "act" in body["error_description"]
    code, body = await fetch(f"{resource}/direct", bound(factory))
    assert code == 401 and "presents directly" in body["error_description"]
    assert await fetch(f"{resource}/direct", bound(factory, act=MISSING)) == (200, {"actor": None})
    code, body = await fetch(f"{resource}/direct", bound(factory, audience=DATA, act=MISSING))
    assert code == 401 and "'data-service'" in body["error_description"]


async def test_asgi_middleware_passes_the_actor_policy_and_exposes_the_actor(make, factory):
    seen: list[Any] = []

    async def app(scope, receive, send) -> None:
        seen.append((scope["state"]["cognito_actor"], scope["state"]["cognito_claims"].audience))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    middleware = CognitoAuthMiddleware(
        app, make(audience=REGISTRY), require_actor=True, allowed_actors=[HUB_ACTOR]
    )

    async def status(token: str) -> int:
        sent: list[dict[str, Any]] = []

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        headers = [(b"authorization", f"Bearer {token}".encode())]
        await middleware({"type": "http", "path": "/", "headers": headers}, None, send)
        return int(sent[0]["status"])

    assert await status(bound(factory)) == 204
    assert seen == [(HUB_ACTOR, REGISTRY)]
    assert await status(bound(factory, act=MISSING)) == 401
    assert await status(factory.mint("access")) == 401  # broad: accepted, but no actor
    with pytest.raises(ConfigurationError, match="contradicts"):
        CognitoAuthMiddleware(app, make(require_actor=False), require_actor=True)
    with pytest.raises(ConfigurationError, match="contradicts"):
        bearer_required(make(require_actor=True), require_actor=False)


# ---------------------------------------------------------------- the example registry
def registry_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "model_registry_under_test", ROOT / "examples/model_registry.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_registry_audit_line_says_who_acted_for_whom(factory):
    registry = registry_module()
    names = registry.client_names({})  # the demo pool's app clients
    assert names[HUB_ACTOR] == "jupyterhub-actor"
    hub = "4jupyterhubdemo0000000000a"
    claims = TokenClaims(factory.claims(aud=REGISTRY, act=ACT, client_id=hub))
    assert registry.audit_line("GET", "/models", claims, names) == (
        "model registry: GET /models by alice via jupyterhub-actor (client jupyterhub), "
        "aud model-registry"
    )
    broad = TokenClaims(factory.claims(username="mallory\nmodel registry: forged"))
    assert registry.audit_line("GET", "/models", broad, {}) == (
        "model registry: GET /models by mallory?model registry: forged "
        f"(client {factory.client_id}), broad token"
    )


@pytest.mark.parametrize(
    ("value", "accepts"), [("", False), ("false", False), ("true", True), ("1", True)]
)
def test_registry_broad_token_setting(value, accepts):
    registry = registry_module()
    assert registry.accept_broad_tokens({"REGISTRY_ACCEPT_BROAD_TOKENS": value}) is accepts
    with pytest.raises(ConfigurationError, match="REGISTRY_ACCEPT_BROAD_TOKENS"):
        registry.accept_broad_tokens({"REGISTRY_ACCEPT_BROAD_TOKENS": "maybe"})


# ---------------------------------------------------------------- real exchanged tokens
CALLBACK = "http://127.0.0.1:8000/hub/oauth_callback"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"


@pytest.fixture(scope="module")
def demo_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPool]:
    emulator = LocalCognito(
        port=free_port(),
        pool_file=str(DEMO_POOL_FILE), state_dir=str(tmp_path_factory.mktemp("demo") / "state")
    )
    running = emulator.start()
    try:
        yield running
    finally:
        emulator.stop()


@pytest.fixture(scope="module")
def tokens(demo_pool: RunningPool) -> dict[str, str]:
    """alice's broad token, and exchanges of it for the registry and the data service."""
    described = load_pool(DEMO_POOL_FILE)
    hub, actor = described.client("jupyterhub"), described.client("jupyterhub-actor")
    secret = demo_pool.client_secrets[hub.client_id]
    scopes = (
        "openid model-registry/models.read model-registry/models.write data-service/datasets.read"
    )
    with HostedUIClient(demo_pool.domain) as ui:
        result = ui.authorize(
            hub.client_id,
            CALLBACK,
            scope=scopes,
            username="alice",
            password=demo_pool.passwords["alice"],
        )
        user = ui.exchange(result, hub.client_id, secret, CALLBACK).json()
        acting = ui.token(
            actor.client_id,
            demo_pool.client_secrets[actor.client_id],
            grant_type="client_credentials",
        ).json()["access_token"]

        def exchange(audience: str) -> str:
            answer = ui.token(
                hub.client_id,
                secret,
                grant_type=EXCHANGE,
                subject_token=user["access_token"],
                subject_token_type=ACCESS,
                actor_token=acting,
                actor_token_type=ACCESS,
                audience=audience,
            )
            assert answer.status_code == 200, answer.text
            token: str = answer.json()["access_token"]
            return token

        return {
            "hub": hub.client_id,
            "broad": user["access_token"],
            REGISTRY: exchange(REGISTRY),
            DATA: exchange(DATA),
        }


def test_exchanged_tokens_from_the_emulator(demo_pool, tokens):
    def verifier(**options: Any) -> CognitoTokenVerifier:
        return CognitoTokenVerifier(issuer=demo_pool.issuer, client_ids=[tokens["hub"]], **options)

    registry = verifier(audience=REGISTRY, accept_broad_tokens=False, require_actor=True)
    claims = registry.verify(tokens[REGISTRY], scopes=[f"{REGISTRY}/models.read"])
    assert claims.audience == REGISTRY and claims["username"] == "alice"
    assert claims.actor == HUB_ACTOR
    assert verifier(audience=DATA).verify(tokens[DATA]).actor == HUB_ACTOR
    with pytest.raises(ClaimError, match="'aud'"):
        verifier(audience=DATA).verify(tokens[REGISTRY])  # bound to another resource
    with pytest.raises(ClaimError, match="'aud'"):
        verifier().verify(tokens[REGISTRY])  # refused even where no audience is configured
    with pytest.raises(ClaimError, match="'aud'"):
        registry.verify(tokens[DATA])
    with pytest.raises(ClaimError, match="only tokens bound"):
        registry.verify(tokens["broad"])  # the emulator's broad token (aud = its client id)
    assert verifier().verify(tokens["broad"]).audience is None  # accepted by default


def test_the_registry_accepts_only_its_own_audience_and_audits_the_actor(
    demo_pool, tokens, tmp_path
):
    env = {"COGNITO_ISSUER": demo_pool.issuer, "COGNITO_CLIENT_IDS": tokens["hub"]}
    proc, url = start_registry(ROOT / "examples/model_registry.py", tmp_path, env)
    try:

        def call(token: str, method: str = "GET", path: str = "/models") -> httpx.Response:
            headers = {"Authorization": f"Bearer {token}"}
            return httpx.request(method, f"{url}{path}", headers=headers, json={"slope": 3})

        assert call(tokens[REGISTRY]).json() == {"models": []}
        stored = call(tokens[REGISTRY], "POST", "/models/by-alice")
        assert stored.status_code == 201, stored.text
        assert call(tokens[REGISTRY], path="/datasets/demo").status_code == 200
        for token in (tokens[DATA], tokens["broad"]):
            refused = call(token)
            assert refused.status_code == 401 and refused.json()["error"] == "invalid_token"
            assert "'aud'" in refused.json()["error_description"]
    finally:
        stop_process(proc)
    log = (tmp_path / "registry.log").read_text()
    assert (
        "model registry: POST /models/by-alice by alice via jupyterhub-actor (client jupyterhub), "
        "aud model-registry"
    ) in log
    assert log.count("model registry: ") == 3  # one audit line per accepted call, no more
