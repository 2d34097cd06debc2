"""Token exchange (RFC 8693) on the local Cognito emulator, both ways in, over real loopback HTTP.

The token endpoint's token-exchange grant and the ``GetDerivedToken`` API (called with a real
boto3 client pointed at the emulator) against a pool of its own: a Hub client allowed to exchange
(delegation and impersonation), a client without the flags, one with impersonation only, a
machine client whose token is the actor, and a second pool on the LITE feature plan.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from jupyter_ai_access_testing.canary import CanaryRegistry
from jupyter_ai_access_testing.flows import HostedUIClient
from jupyter_ai_access_testing.harness.descriptions import with_entry
from jupyter_ai_access_testing.leaks import LeakWatcher
from jupyter_ai_access_testing.ports import free_port

from jupyter_ai_access.demo.settings import DEMO_POOL_FILE
from jupyter_ai_access.errors import PoolDescriptionError
from jupyter_ai_access.local_cognito import LocalCognito, RunningPool
from jupyter_ai_access.pooldesc import load_pool, validate_pool
from jupyter_ai_access.pooldesc.model import EXCHANGE_PLANS
from jupyter_ai_access.resource import CognitoTokenVerifier

GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS = "urn:ietf:params:oauth:token-type:access_token"
ID = "urn:ietf:params:oauth:token-type:id_token"
CALLBACK = "http://127.0.0.1:8000/hub/oauth_callback"
SCOPE = "openid email registry/models.read data/datasets.read"
HUB, PLAIN, IMPERSONATE, OTHER, PLATFORM, SHORT = (
    "xhubclient0000000000000000",
    "xplainclient00000000000000",
    "ximpersonateonly0000000000",
    "xotherclient00000000000000",
    "xplatformclient00000000000",
    "xshortclient00000000000000",
)
BOTH = ["ALLOW_TOKEN_EXCHANGE_DELEGATION", "ALLOW_TOKEN_EXCHANGE_IMPERSONATION"]
USER_SCOPES = [
    "openid",
    "email",
    "registry/models.read",
    "registry/models.write",
    "data/datasets.read",
]


def description(canaries: CanaryRegistry, plan: str) -> dict[str, Any]:
    def code_client(name: str, client_id: str, flows: list[str], **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "client_id": client_id,
            "client_secret": canaries.secret(f"{name}-secret-{plan}") + "0" * 24,
            "allowed_oauth_flows": ["code"],
            "allowed_oauth_scopes": USER_SCOPES,
            "callback_urls": [CALLBACK],
            "explicit_auth_flows": flows,
            "token_validity": {"access_token": 300, "id_token": 300, "refresh_token": 3600},
            **extra,
        }

    return {
        "region": "us-east-1",
        "user_pool_id": f"us-east-1_Xchg{plan}",
        "feature_plan": plan,
        "groups": [{"name": "ml-training"}],
        "users": [
            {
                "username": "alice",
                "password": canaries.secret("pw-alice-exchange"),
                "groups": ["ml-training"],
                "attributes": {"email": "alice@example.org", "email_verified": True},
            }
        ],
        "resource_servers": [
            {
                "identifier": "registry",
                "scopes": [{"name": "models.read"}, {"name": "models.write"}],
            },
            {"identifier": "data", "scopes": [{"name": "datasets.read"}]},
            {"identifier": "tracker", "scopes": [{"name": "runs.write"}]},
            {"identifier": "platform", "scopes": [{"name": "act"}]},
        ],
        "app_clients": [
            code_client("hub", HUB, BOTH),
            code_client("plain", PLAIN, []),
            code_client("impersonate", IMPERSONATE, ["ALLOW_TOKEN_EXCHANGE_IMPERSONATION"]),
            code_client("other", OTHER, BOTH),
            code_client(
                "short",
                SHORT,
                [],
                token_validity={"access_token": 2, "id_token": 2, "refresh_token": 3600},
            ),
            {
                "name": "platform",
                "client_id": PLATFORM,
                "client_secret": canaries.secret(f"platform-secret-{plan}") + "0" * 24,
                "allowed_oauth_flows": ["client_credentials"],
                "allowed_oauth_scopes": ["platform/act"],
            },
        ],
    }


def start(
    tmp: Path, desc: dict[str, Any], leak_watcher: LeakWatcher
) -> tuple[LocalCognito, RunningPool]:
    pool_file = tmp / "pool.json"
    pool_file.write_text(json.dumps(desc), encoding="utf-8")
    emulator = LocalCognito(port=free_port(), pool_file=str(pool_file), state_dir=str(tmp / "state"))
    running = emulator.start()
    leak_watcher.watch_file(running.log_file)  # no secret or token in the emulator's log
    return emulator, running


@pytest.fixture(autouse=True)
def _quiet_botocore() -> Iterator[None]:
    """botocore's DEBUG records hold request bodies (the client secret): keep them unmade."""
    logger = logging.getLogger("botocore")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


@pytest.fixture(scope="module")
def pool(
    tmp_path_factory: pytest.TempPathFactory, canaries: CanaryRegistry, leak_watcher: LeakWatcher
) -> Iterator[RunningPool]:
    emulator, running = start(
        tmp_path_factory.mktemp("exchange"), description(canaries, "PLUS"), leak_watcher
    )
    try:
        yield running
    finally:
        emulator.stop()


@pytest.fixture(scope="module")
def lite(
    tmp_path_factory: pytest.TempPathFactory, canaries: CanaryRegistry, leak_watcher: LeakWatcher
) -> Iterator[RunningPool]:
    emulator, running = start(
        tmp_path_factory.mktemp("lite"), description(canaries, "LITE"), leak_watcher
    )
    try:
        yield running
    finally:
        emulator.stop()


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def login(running: RunningPool, client_id: str = HUB, scope: str = SCOPE) -> dict[str, Any]:
    with HostedUIClient(running.domain) as ui:
        result = ui.authorize(
            client_id, CALLBACK, scope=scope, username="alice", password=running.passwords["alice"]
        )
        response = ui.exchange(result, client_id, running.client_secrets[client_id], CALLBACK)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def actor_token(running: RunningPool) -> str:
    response = httpx.post(
        running.endpoint("token"),
        data={"grant_type": "client_credentials"},
        auth=(PLATFORM, running.client_secrets[PLATFORM]),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def token_endpoint(
    running: RunningPool, client_id: str = HUB, *, secret: str | None = None, **form: str
) -> httpx.Response:
    return httpx.post(
        running.endpoint("token"),
        data={"grant_type": GRANT, **form},
        auth=(client_id, secret if secret is not None else running.client_secrets[client_id]),
    )


def cognito_idp(running: RunningPool) -> Any:
    return boto3.client(
        "cognito-idp",
        region_name="us-east-1",
        endpoint_url=running.domain,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )


def derived(running: RunningPool, client_id: str = HUB, **fields: Any) -> dict[str, Any]:
    secret = fields.pop("ClientSecret", running.client_secrets[client_id])
    answer: dict[str, Any] = cognito_idp(running).get_derived_token(
        ClientId=client_id, ClientSecret=secret, **fields
    )
    return answer


def refused(call: Callable[[], Any]) -> str:
    with pytest.raises(ClientError) as info:
        call()
    code: str = info.value.response["Error"]["Code"]
    return code


def verifier(running: RunningPool) -> CognitoTokenVerifier:
    # a resource for either downstream audience of this pool (a bound token names one of them)
    return CognitoTokenVerifier(issuer=running.issuer, client_ids=[HUB], audience=["registry", "data"])


# ---------------------------------------------------------------- success, both ways in
def test_token_endpoint_delegation_is_audience_bound_narrowed_with_act_and_no_refresh(pool):
    user = login(pool)
    actor = actor_token(pool)
    response = token_endpoint(
        pool,
        subject_token=user["access_token"],
        subject_token_type=ACCESS,
        actor_token=actor,
        actor_token_type=ACCESS,
        resource="registry",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "refresh_token" not in body and "id_token" not in body
    assert body["issued_token_type"] == ACCESS and body["token_type"] == "Bearer"
    assert body["scope"] == "registry/models.read"
    claims = verifier(pool).verify(body["access_token"], scopes=["registry/models.read"])
    original = claims_of(user["access_token"])
    assert claims["aud"] == "registry" and claims["token_use"] == "access"
    assert claims["sub"] == original["sub"] and claims["username"] == "alice"
    assert claims["cognito:groups"] == ["ml-training"]
    assert claims["origin_jti"] == original["origin_jti"]
    assert claims["act"] == {"sub": PLATFORM, "client_id": PLATFORM}
    assert claims["exp"] <= original["exp"]
    assert body["expires_in"] <= original["exp"] - claims["iat"]


def test_token_endpoint_impersonation_has_no_act_and_accepts_client_secret_post(pool):
    user = login(pool)
    response = httpx.post(
        pool.endpoint("token"),
        data={
            "grant_type": GRANT,
            "client_id": HUB,
            "client_secret": pool.client_secrets[HUB],
            "subject_token": user["access_token"],
            "subject_token_type": ACCESS,
            "audience": "data",
        },
    )
    assert response.status_code == 200, response.text
    claims = verifier(pool).verify(response.json()["access_token"])
    assert claims["aud"] == "data" and claims["scope"] == "data/datasets.read"
    assert "act" not in claims


def test_get_derived_token_with_boto3_delegation_and_impersonation(pool):
    user = login(pool)
    answer = derived(
        pool,
        SubjectToken=user["access_token"],
        SubjectTokenType="ACCESS_TOKEN",
        ActorToken=actor_token(pool),
        ActorTokenType="ACCESS_TOKEN",
        Audiences=["registry"],
        Scopes=["registry/models.read"],
    )
    assert answer["IssuedTokenType"] == "ACCESS_TOKEN" and answer["TokenType"] == "Bearer"
    assert answer["Scopes"] == ["registry/models.read"] and 0 < answer["ExpiresIn"] <= 300
    claims = verifier(pool).verify(answer["IssuedToken"])
    assert claims["aud"] == "registry" and claims["act"]["sub"] == PLATFORM

    alone = derived(
        pool, SubjectToken=user["access_token"], SubjectTokenType="ACCESS_TOKEN", Resources=["data"]
    )
    claims = verifier(pool).verify(alone["IssuedToken"])
    assert claims["aud"] == "data" and "act" not in claims
    assert alone["Scopes"] == ["data/datasets.read"]


def test_hubs_own_id_token_may_be_the_subject(pool):
    user = login(pool)
    answer = derived(
        pool, SubjectToken=user["id_token"], SubjectTokenType="ID_TOKEN", Resources=["registry"]
    )
    claims = verifier(pool).verify(answer["IssuedToken"])
    assert claims["sub"] == claims_of(user["id_token"])["sub"] and claims["aud"] == "registry"


# ---------------------------------------------------------------- scopes and audience
def test_scopes_are_the_intersection_and_beyond_the_subject_is_refused(pool):
    user = login(pool)  # holds registry/models.read, not registry/models.write
    asked = "registry/models.read registry/models.write data/datasets.read"
    response = token_endpoint(
        pool,
        subject_token=user["access_token"],
        subject_token_type=ACCESS,
        resource="registry",
        scope=asked,
    )
    assert response.status_code == 200 and response.json()["scope"] == "registry/models.read"
    beyond = token_endpoint(
        pool,
        subject_token=user["access_token"],
        subject_token_type=ACCESS,
        resource="registry",
        scope="registry/models.write",
    )
    assert beyond.status_code == 400 and beyond.json() == {"error": "invalid_scope"}
    api = refused(
        lambda: derived(
            pool,
            SubjectToken=user["access_token"],
            SubjectTokenType="ACCESS_TOKEN",
            Resources=["registry"],
            Scopes=["registry/models.write"],
        )
    )
    assert api == "InvalidParameterException"
    # The subject holds nothing for the tracker: no token for it.
    none = token_endpoint(
        pool, subject_token=user["access_token"], subject_token_type=ACCESS, resource="tracker"
    )
    assert none.json() == {"error": "invalid_scope"}


def test_an_exchanged_token_narrows_further_and_never_widens(pool):
    user = login(pool, scope=SCOPE + " registry/models.write")
    first = token_endpoint(
        pool,
        subject_token=user["access_token"],
        subject_token_type=ACCESS,
        resource="registry",
        scope="registry/models.read",
    ).json()
    again = token_endpoint(
        pool, subject_token=first["access_token"], subject_token_type=ACCESS, resource="registry"
    )
    assert again.json()["scope"] == "registry/models.read"
    wider = token_endpoint(
        pool,
        subject_token=first["access_token"],
        subject_token_type=ACCESS,
        resource="registry",
        scope="registry/models.write",
    )
    assert wider.json() == {"error": "invalid_scope"}


def test_a_delegated_token_keeps_its_actor_through_further_exchanges(pool):
    user = login(pool)
    actor = actor_token(pool)
    first = token_endpoint(
        pool,
        subject_token=user["access_token"],
        subject_token_type=ACCESS,
        actor_token=actor,
        actor_token_type=ACCESS,
        resource="registry",
    ).json()["access_token"]
    chained = token_endpoint(
        pool,
        subject_token=first,
        subject_token_type=ACCESS,
        actor_token=actor,
        actor_token_type=ACCESS,
        resource="registry",
    ).json()["access_token"]
    acting = {"sub": PLATFORM, "client_id": PLATFORM}
    assert claims_of(chained)["act"] == {**acting, "act": acting}  # RFC 8693 4.1 nesting
    alone = token_endpoint(
        pool, subject_token=first, subject_token_type=ACCESS, resource="registry"
    ).json()["access_token"]
    assert claims_of(alone)["act"] == acting  # never turned into an impersonation


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"resource": "nowhere"}, "invalid_target"),
        ({"audience": "registry", "resource": "data"}, "invalid_request"),
        ({}, "invalid_request"),
        ({"resource": ["registry", "data"]}, "invalid_target"),
        ({"resource": "registry", "requested_token_type": ID}, "invalid_request"),
    ],
)
def test_one_known_audience_is_required(pool, form, error):
    user = login(pool)
    response = token_endpoint(
        pool, subject_token=user["access_token"], subject_token_type=ACCESS, **form
    )
    assert response.status_code == 400 and response.json() == {"error": error}


# ---------------------------------------------------------------- refusals
def test_client_without_the_flags_is_refused(pool):
    user = login(pool, client_id=PLAIN)
    response = token_endpoint(
        pool,
        PLAIN,
        subject_token=user["access_token"],
        subject_token_type=ACCESS,
        resource="registry",
    )
    assert response.status_code == 400 and response.json() == {"error": "unauthorized_client"}
    api = refused(
        lambda: derived(
            pool,
            PLAIN,
            SubjectToken=user["access_token"],
            SubjectTokenType="ACCESS_TOKEN",
            Resources=["registry"],
        )
    )
    assert api == "InvalidParameterException"


def test_impersonation_flag_does_not_allow_delegation(pool):
    user = login(pool, client_id=IMPERSONATE)
    common = {
        "subject_token": user["access_token"],
        "subject_token_type": ACCESS,
        "resource": "registry",
    }
    alone = token_endpoint(pool, IMPERSONATE, **common)
    assert alone.status_code == 200, alone.text
    acting = token_endpoint(
        pool, IMPERSONATE, actor_token=actor_token(pool), actor_token_type=ACCESS, **common
    )
    assert acting.json() == {"error": "unauthorized_client"}


def test_lite_feature_plan_is_refused(lite):
    user = login(lite)
    response = token_endpoint(
        lite, subject_token=user["access_token"], subject_token_type=ACCESS, resource="registry"
    )
    assert response.status_code == 400 and response.json() == {"error": "unsupported_grant_type"}
    api = refused(
        lambda: derived(
            lite,
            SubjectToken=user["access_token"],
            SubjectTokenType="ACCESS_TOKEN",
            Resources=["registry"],
        )
    )
    assert api == "FeatureUnavailableInTierException"
    doc = httpx.get(lite.discovery_url).json()
    assert GRANT not in doc["grant_types_supported"]


def test_wrong_client_secret_is_refused(pool):
    user = login(pool)
    response = token_endpoint(
        pool,
        secret="x" * 40,
        subject_token=user["access_token"],
        subject_token_type=ACCESS,
        resource="registry",
    )
    assert response.status_code in (400, 401) and response.json()["error"] == "invalid_client"
    api = refused(
        lambda: derived(
            pool,
            ClientSecret="x" * 40,
            SubjectToken=user["access_token"],
            SubjectTokenType="ACCESS_TOKEN",
            Resources=["registry"],
        )
    )
    assert api == "NotAuthorizedException"
    unknown = refused(
        lambda: cognito_idp(pool).get_derived_token(
            ClientId="nosuchclient000000000000",
            SubjectToken=user["access_token"],
            SubjectTokenType="ACCESS_TOKEN",
            Resources=["registry"],
        )
    )
    assert unknown == "ResourceNotFoundException"


def tampered(token: str) -> str:
    head, _payload, signature = token.split(".")
    claims = claims_of(token)
    claims["scope"] = " ".join(USER_SCOPES)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


def test_tampered_subject_or_actor_is_refused(pool):
    user = login(pool)
    bad = tampered(user["access_token"])
    response = token_endpoint(
        pool, subject_token=bad, subject_token_type=ACCESS, resource="registry"
    )
    assert response.json() == {"error": "invalid_grant"}
    api = refused(
        lambda: derived(
            pool, SubjectToken=bad, SubjectTokenType="ACCESS_TOKEN", Resources=["registry"]
        )
    )
    assert api == "NotAuthorizedException"
    actor = token_endpoint(
        pool,
        subject_token=user["access_token"],
        subject_token_type=ACCESS,
        actor_token=tampered(actor_token(pool)),
        actor_token_type=ACCESS,
        resource="registry",
    )
    assert actor.json() == {"error": "invalid_grant"}


def test_expired_subject_is_refused(pool):
    user = login(pool, client_id=SHORT, scope="openid registry/models.read")
    wait_until = claims_of(user["access_token"])["exp"] + 1
    while time.time() < wait_until:  # bounded: a 2 s token
        time.sleep(0.5)
    response = token_endpoint(
        pool, subject_token=user["access_token"], subject_token_type=ACCESS, resource="registry"
    )
    assert response.json() == {"error": "invalid_grant"}


def test_id_token_is_refused_as_another_clients_subject_or_under_the_access_type(pool):
    user = login(pool)
    other = token_endpoint(
        pool, OTHER, subject_token=user["id_token"], subject_token_type=ID, resource="registry"
    )
    assert other.json() == {"error": "invalid_grant"}
    api = refused(
        lambda: derived(
            pool,
            OTHER,
            SubjectToken=user["id_token"],
            SubjectTokenType="ID_TOKEN",
            Resources=["registry"],
        )
    )
    assert api == "NotAuthorizedException"
    mislabelled = token_endpoint(
        pool, subject_token=user["id_token"], subject_token_type=ACCESS, resource="registry"
    )
    assert mislabelled.json() == {"error": "invalid_grant"}


def test_revoking_the_origin_refresh_token_ends_exchanges_from_it(pool):
    user = login(pool)
    first = token_endpoint(
        pool, subject_token=user["access_token"], subject_token_type=ACCESS, resource="registry"
    ).json()["access_token"]
    with HostedUIClient(pool.domain) as ui:
        assert ui.revoke(HUB, pool.client_secrets[HUB], user["refresh_token"]).status_code == 200
    for subject in (user["access_token"], first):
        response = token_endpoint(
            pool, subject_token=subject, subject_token_type=ACCESS, resource="registry"
        )
        assert response.json() == {"error": "invalid_grant"}


# ---------------------------------------------------------------- the pool description
def test_pool_description_refuses_unknown_flags_and_plans(canaries):
    desc = description(canaries, "PLUS")
    pool = validate_pool(desc)
    assert pool.feature_plan == "PLUS"
    assert pool.client("hub").may_exchange == set(BOTH)
    assert pool.client("plain").may_exchange == frozenset()
    with pytest.raises(PoolDescriptionError, match=r"feature_plan.*'FREE'"):
        validate_pool(with_entry(desc, "feature_plan", "FREE"))
    with pytest.raises(PoolDescriptionError, match=r"app_clients\[0\] 'hub'.*ALLOW_TOKEN_EXCHANGE"):
        validate_pool(
            with_entry(desc, "app_clients.0.explicit_auth_flows", ["ALLOW_TOKEN_EXCHANGE"])
        )
    del desc["feature_plan"]
    assert validate_pool(desc).feature_plan == "ESSENTIALS"  # a new pool's plan on AWS


def test_demo_pool_lets_the_hub_exchange_with_its_actor_client(tmp_path):
    described = load_pool(DEMO_POOL_FILE, for_aws=True)
    hub, actor = described.client("jupyterhub"), described.client("jupyterhub-actor")
    assert hub.may_exchange == {"ALLOW_TOKEN_EXCHANGE_DELEGATION"}
    assert described.feature_plan in EXCHANGE_PLANS
    servers = {rs.identifier for rs in described.resource_servers}
    assert {"model-registry", "data-service", "tracker"} <= servers

    emulator = LocalCognito(port=free_port(), pool_file=str(DEMO_POOL_FILE), state_dir=str(tmp_path / "state"))
    running = emulator.start()
    try:
        with HostedUIClient(running.domain) as ui:
            result = ui.authorize(
                hub.client_id,
                CALLBACK,
                scope="openid model-registry/models.read",
                username="alice",
                password=running.passwords["alice"],
            )
            user = ui.exchange(
                result, hub.client_id, running.client_secrets[hub.client_id], CALLBACK
            ).json()
            acting = ui.token(
                actor.client_id,
                running.client_secrets[actor.client_id],
                grant_type="client_credentials",
            ).json()["access_token"]
            common = {
                "subject_token": user["access_token"],
                "subject_token_type": ACCESS,
                "audience": "model-registry",
            }
            secret = running.client_secrets[hub.client_id]
            issued = ui.token(
                hub.client_id,
                secret,
                grant_type=GRANT,
                actor_token=acting,
                actor_token_type=ACCESS,
                **common,
            )
            alone = ui.token(hub.client_id, secret, grant_type=GRANT, **common)
    finally:
        emulator.stop()
    assert issued.status_code == 200, issued.text
    claims = claims_of(issued.json()["access_token"])
    assert claims["aud"] == "model-registry" and claims["scope"] == "model-registry/models.read"
    assert claims["act"] == {"sub": actor.client_id, "client_id": actor.client_id}
    # Delegation only: the Hub cannot obtain a token that hides it as the actor.
    assert alone.json() == {"error": "unauthorized_client"}
