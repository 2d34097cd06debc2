"""The Pulumi program, run with Pulumi's unit-test mocks (no AWS, no Pulumi service)."""

from __future__ import annotations

import copy
from typing import Any

import pulumi
import pytest
from jupyter_ai_access_testing.harness import ROOT
from jupyter_ai_access_testing.harness.descriptions import with_entry
from jupyter_ai_access_testing.harness.infra import (
    DEMO,
    client,
    install_mocks,
    of_type,
    program,
    provision,
    settings,
)

from jupyter_ai_access.demo.settings import DEMO_POOL_FILE
from jupyter_ai_access.errors import ConfigurationError, PoolDescriptionError
from jupyter_ai_access.pooldesc import validate_pool


@pytest.fixture
def mocks():
    return install_mocks()


@pytest.fixture
def provisioned(mocks) -> tuple[dict, list]:
    return provision(mocks)


def test_user_pool_settings(provisioned):
    _, resources = provisioned
    (pool,) = of_type(resources, "aws:cognito/userPool:UserPool")
    inputs = pool.inputs
    assert inputs["usernameConfiguration"] == {"caseSensitive": False}
    assert inputs["deletionProtection"] == "ACTIVE"
    assert inputs["passwordPolicy"]["minimumLength"] >= 12
    assert inputs["adminCreateUserConfig"] == {"allowAdminCreateUserOnly": True}


def test_groups_domain_and_resource_server(provisioned):
    _, resources = provisioned
    groups = {r.inputs["name"] for r in of_type(resources, "aws:cognito/userGroup:UserGroup")}
    assert groups == {"ml-training", "ml-publishers", "hub-admins"}
    (domain,) = of_type(resources, "aws:cognito/userPoolDomain:UserPoolDomain")
    assert domain.inputs["domain"] == "my-hub-login"
    servers = {
        r.inputs["identifier"]: {s["scopeName"] for s in r.inputs["scopes"]}
        for r in of_type(resources, "aws:cognito/resourceServer:ResourceServer")
    }
    assert servers == {
        "ai-access": {"datasets.read", "models.write"},
        "model-registry": {"models.read", "models.write"},
        "data-service": {"datasets.read"},
        "tracker": {"runs.read", "runs.write"},
        "notebook-platform": {"act"},
    }


def test_hub_client_is_code_only_with_the_hub_urls(provisioned):
    _, resources = provisioned
    hub = client(resources, "jupyterhub")
    assert hub["allowedOauthFlows"] == ["code"]
    assert hub["allowedOauthFlowsUserPoolClient"] is True
    assert hub["generateSecret"] is True
    assert hub["callbackUrls"] == ["https://hub.example.org/hub/oauth_callback"]
    assert hub["logoutUrls"] == ["https://hub.example.org/hub/logout-complete"]
    assert set(hub["allowedOauthScopes"]) == {
        "openid",
        "email",
        "profile",
        "ai-access/datasets.read",
        "ai-access/models.write",
        "model-registry/models.read",
        "model-registry/models.write",
        "data-service/datasets.read",
        "tracker/runs.read",
        "tracker/runs.write",
    }
    assert hub["enableTokenRevocation"] is True
    assert hub["preventUserExistenceErrors"] == "ENABLED"
    assert hub["supportedIdentityProviders"] == ["COGNITO", "CorpOIDC"]
    assert hub["accessTokenValidity"] == 3600
    assert hub["tokenValidityUnits"] == {
        "accessToken": "seconds",
        "idToken": "seconds",
        "refreshToken": "seconds",
    }


def test_no_client_mixes_client_credentials_with_code_or_implicit(provisioned):
    _, resources = provisioned
    for r in of_type(resources, "aws:cognito/userPoolClient:UserPoolClient"):
        flows = set(r.inputs["allowedOauthFlows"])
        assert "implicit" not in flows
        assert not ({"client_credentials"} < flows or (flows >= {"client_credentials", "code"}))
    machine = client(resources, "training-jobs")
    assert machine["allowedOauthFlows"] == ["client_credentials"]
    assert machine["allowedOauthScopes"] == ["ai-access/datasets.read"]
    assert machine["generateSecret"] is True


def test_external_idp_with_attribute_mapping_and_a_secret_client_secret(provisioned):
    _, resources = provisioned
    (idp,) = of_type(resources, "aws:cognito/identityProvider:IdentityProvider")
    assert idp.inputs["providerType"] == "OIDC"
    assert idp.inputs["providerName"] == "CorpOIDC"
    assert idp.inputs["attributeMapping"] == {"username": "sub", "email": "email"}
    from pulumi.runtime import rpc

    details = idp.inputs["providerDetails"]
    # The external IdP's client secret makes the whole map a Pulumi secret (never plain in state).
    assert details[rpc._special_sig_key] == rpc._special_secret_sig
    assert details["value"]["oidc_issuer"] == "https://login.example.org"
    assert details["value"]["client_secret"] == "idp-secret-value"


def test_exports_have_the_hub_config_shape_and_secrets_are_secret(provisioned):
    exports, _ = provisioned
    assert exports["COGNITO_REGION"] == "eu-west-1"
    assert exports["COGNITO_USER_POOL_ID"] == "eu-west-1_AbC123xyz"
    assert exports["COGNITO_ISSUER"] == (
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz"
    )
    assert exports["COGNITO_DOMAIN"] == "https://my-hub-login.auth.eu-west-1.amazoncognito.com"
    assert exports["COGNITO_CLIENT_ID"] == "id-client-jupyterhub"
    assert exports["COGNITO_CLIENT_SECRET"] == "generated-secret-of-client-jupyterhub"
    secret = exports["_secret"]
    assert secret["COGNITO_CLIENT_SECRET"] is True
    assert secret["TRAINING_JOBS_CLIENT_SECRET"] is True
    plain = [k for k, v in secret.items() if not v]
    assert all("SECRET" not in k for k in plain)


def test_custom_domain(mocks):
    exports, resources = provision(
        mocks,
        domain_prefix="",
        custom_domain="login.example.org",
        certificate_arn="arn:aws:acm:us-east-1:1:certificate/x",
    )
    (domain,) = of_type(resources, "aws:cognito/userPoolDomain:UserPoolDomain")
    assert domain.inputs["certificateArn"].startswith("arn:aws:acm:us-east-1")
    assert exports["COGNITO_DOMAIN"] == "https://login.example.org"


def bad(path: str, value: Any) -> dict:
    """The demo description with one entry replaced."""
    return with_entry(DEMO, path, value)


@pytest.mark.parametrize(
    ("data", "entry", "words"),
    [
        pytest.param(
            bad("app_clients.1.allowed_oauth_flows", ["code", "client_credentials"]),
            "app_clients[1] 'training-jobs'",
            "together with code",
            id="mixed-grants",
        ),
        pytest.param(
            bad("app_clients.1.allowed_oauth_scopes", ["openid"]),
            "app_clients[1] 'training-jobs'",
            "only custom scopes",
            id="openid-machine",
        ),
        pytest.param(
            bad("users.0.groups", ["ml-wizards"]),
            "users[0] 'alice'",
            "unknown group 'ml-wizards'",
            id="unknown-group",
        ),
        pytest.param(
            bad("app_clients.0.allowed_oauth_flows", ["implicit"]),
            "app_clients[0] 'jupyterhub'",
            "implicit",
            id="implicit",
        ),
        pytest.param(
            bad("app_clients.0.token_validity", {"access_token": 60}),
            "app_clients[0] 'jupyterhub'",
            "Cognito allows 300-86400 s",
            id="short-token",
        ),
        pytest.param(
            bad("app_clients.0.name", "hub"),
            "app_clients",
            "no app client named",
            id="no-hub-client",
        ),
    ],
)
def test_refused_descriptions_create_nothing_and_name_the_entry(mocks, data, entry, words):
    def load_and_check() -> None:
        pool = validate_pool(data, "pool.json", for_aws=True)
        program.check_for_aws(pool, settings(), "pool.json")

    with pytest.raises(PoolDescriptionError) as info:
        load_and_check()
    assert info.value.entry == entry
    assert words in str(info.value)
    assert mocks.resources == []


@pytest.mark.parametrize(
    ("over", "words"),
    [
        pytest.param({"hub_url": "http://hub.example.org"}, "must be https://", id="http-hub"),
        pytest.param({"hub_url": "https://hub.example.org/hub"}, "origin only", id="hub-path"),
        pytest.param({"domain_prefix": ""}, "exactly one of domainPrefix", id="no-domain"),
        pytest.param({"custom_domain": "login.example.org"}, "exactly one", id="two-domains"),
        pytest.param(
            {"external_idp_client_secret": None}, "externalIdpClientSecret", id="idp-without-secret"
        ),
        pytest.param({"region": ""}, "aws:region", id="no-region"),
    ],
)
def test_refused_settings_create_nothing(mocks, over, words):
    pool = validate_pool(DEMO, "pool.json", for_aws=True)
    with pytest.raises(ConfigurationError, match=words):
        program.check_for_aws(pool, settings(**over), "pool.json")
    assert mocks.resources == []


def test_other_code_clients_keep_their_urls_which_must_be_https(mocks):
    data = copy.deepcopy(DEMO)
    data["app_clients"].append(
        {
            "name": "dashboard",
            "client_id": "dash",
            "allowed_oauth_flows": ["code"],
            "allowed_oauth_scopes": ["openid"],
            "callback_urls": ["http://127.0.0.1:9000/cb"],
        }
    )
    pool = validate_pool(data, "pool.json", for_aws=True)
    with pytest.raises(PoolDescriptionError, match="http only for localhost"):
        program.check_for_aws(pool, settings(), "pool.json")
    data["app_clients"][-1]["callback_urls"] = ["https://dash.example.org/cb"]
    _, resources = provision(mocks, data)
    assert client(resources, "dashboard")["callbackUrls"] == ["https://dash.example.org/cb"]


def test_a_client_naming_an_unconfigured_idp_is_refused(mocks):
    data = bad("app_clients.0.supported_identity_providers", ["COGNITO", "Okta"])
    data["identity_providers"] = [{"name": "Okta", "type": "OIDC"}]
    pool = validate_pool(data, "pool.json", for_aws=True)
    with pytest.raises(PoolDescriptionError, match="'Okta' is not configured"):
        program.check_for_aws(pool, settings(), "pool.json")


def test_the_entry_point_reads_stack_config_and_exports(mocks, monkeypatch):
    """infra/__main__.py as `pulumi up` runs it, with stack configuration and mocks."""
    import runpy

    pulumi.runtime.set_all_config(
        {
            "aws:region": "eu-west-1",
            "project:hubUrl": "https://hub.example.org",
            "project:domainPrefix": "my-hub-login",
            "project:poolFile": str(DEMO_POOL_FILE),
        },
        secret_keys=[],
    )
    exported: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", lambda name, value: exported.setdefault(name, value))
    runpy.run_path(str(ROOT / "infra/__main__.py"), run_name="__main__")
    assert set(exported) >= {
        "COGNITO_REGION",
        "COGNITO_USER_POOL_ID",
        "COGNITO_ISSUER",
        "COGNITO_DOMAIN",
        "COGNITO_CLIENT_ID",
        "COGNITO_CLIENT_SECRET",
        "TRAINING_JOBS_CLIENT_ID",
        "TRAINING_JOBS_CLIENT_SECRET",
    }
    assert exported["COGNITO_REGION"] == "eu-west-1"
    from pulumi.runtime.sync_await import _sync_await

    client_id = _sync_await(pulumi.Output.from_input(exported["COGNITO_CLIENT_ID"]).future())
    assert client_id == "id-client-jupyterhub"
    assert client(mocks.resources, "jupyterhub")["callbackUrls"] == [
        "https://hub.example.org/hub/oauth_callback"
    ]
    # No externalIdpIssuer in this stack: no federated provider, Cognito users only.
    assert not of_type(mocks.resources, "aws:cognito/identityProvider:IdentityProvider")
    assert client(mocks.resources, "jupyterhub")["supportedIdentityProviders"] == ["COGNITO"]


# ---------------------------------------------------------------- token exchange (issue 23)


def test_the_hub_client_may_exchange_by_delegation_and_keeps_refresh(provisioned):
    _, resources = provisioned
    hub = client(resources, "jupyterhub")
    # Setting flows on AWS replaces Cognito's defaults: exactly what the description asks, no SRP,
    # no password flows, no impersonation.
    assert sorted(hub["explicitAuthFlows"]) == [
        "ALLOW_REFRESH_TOKEN_AUTH",
        "ALLOW_TOKEN_EXCHANGE_DELEGATION",
    ]
    for name in ("training-jobs", "jupyterhub-actor"):
        assert client(resources, name)["explicitAuthFlows"] == ["ALLOW_REFRESH_TOKEN_AUTH"]


def test_the_pool_is_on_the_described_feature_plan(mocks):
    _, resources = provision(mocks)
    (pool,) = of_type(resources, "aws:cognito/userPool:UserPool")
    assert pool.inputs["userPoolTier"] == "ESSENTIALS"


def test_the_plus_plan_is_sent_as_described(mocks):
    _, resources = provision(mocks, bad("feature_plan", "PLUS"))
    (pool,) = of_type(resources, "aws:cognito/userPool:UserPool")
    assert pool.inputs["userPoolTier"] == "PLUS"


def test_the_actor_machine_client_is_provisioned_with_its_one_scope(provisioned):
    exports, resources = provisioned
    actor = client(resources, "jupyterhub-actor")
    assert actor["allowedOauthFlows"] == ["client_credentials"]
    assert actor["allowedOauthScopes"] == ["notebook-platform/act"]
    assert actor["generateSecret"] is True
    assert exports["JUPYTERHUB_ACTOR_CLIENT_ID"] == "id-client-jupyterhub-actor"
    assert exports["_secret"]["JUPYTERHUB_ACTOR_CLIENT_SECRET"] is True


def test_a_hub_client_without_refresh_in_its_flows_still_gets_it(mocks):
    data = bad("app_clients.0.explicit_auth_flows", ["ALLOW_TOKEN_EXCHANGE_DELEGATION"])
    _, resources = provision(mocks, data)
    assert sorted(client(resources, "jupyterhub")["explicitAuthFlows"]) == [
        "ALLOW_REFRESH_TOKEN_AUTH",
        "ALLOW_TOKEN_EXCHANGE_DELEGATION",
    ]


@pytest.mark.parametrize(
    ("data", "entry", "words"),
    [
        pytest.param(
            bad("feature_plan", "LITE"),
            "app_clients[0] 'jupyterhub'",
            "feature_plan ESSENTIALS or PLUS",
            id="exchange-on-lite",
        ),
        pytest.param(
            {**DEMO, "app_clients": DEMO["app_clients"][:2]},
            "app_clients[0] 'jupyterhub'",
            "'jupyterhub-actor'",
            id="delegation-without-actor",
        ),
        pytest.param(
            bad("app_clients.2.allowed_oauth_scopes", ["ai-access/datasets.read"]),
            "app_clients[2] 'jupyterhub-actor'",
            "only the actor's scope",
            id="actor-with-data-scopes",
        ),
        pytest.param(
            bad("app_clients.0.explicit_auth_flows", ["ALLOW_USER_PASSWORD_AUTH"]),
            "app_clients[0] 'jupyterhub'",
            "ALLOW_USER_PASSWORD_AUTH",
            id="password-flow",
        ),
    ],
)
def test_an_exchange_cognito_would_refuse_is_refused_before_anything(mocks, data, entry, words):
    pool = validate_pool(data, "pool.json", for_aws=True)
    with pytest.raises(PoolDescriptionError) as info:
        program.check_for_aws(pool, settings(), "pool.json")
    assert info.value.entry == entry
    assert words in str(info.value)
    assert mocks.resources == []


def test_advanced_security_needs_the_plus_plan(mocks):
    pool = validate_pool(DEMO, "pool.json", for_aws=True)
    with pytest.raises(ConfigurationError, match=r"PLUS feature plan.*feature_plan"):
        program.check_for_aws(pool, settings(advanced_security="ENFORCED"), "pool.json")
    plus = validate_pool(bad("feature_plan", "PLUS"), "pool.json", for_aws=True)
    program.check_for_aws(plus, settings(advanced_security="ENFORCED"), "pool.json")


def test_the_provider_gap_is_named_with_what_to_upgrade():
    """pulumi-aws documents explicit_auth_flows' values; a release that predates token exchange
    gets a warning naming the package to upgrade (its provider may refuse the flags at preview)."""
    message = program.provider_gap(
        ["ALLOW_TOKEN_EXCHANGE_DELEGATION"], documented=["ALLOW_USER_AUTH"]
    )
    assert message is not None
    assert "pulumi-aws" in message and "ALLOW_TOKEN_EXCHANGE_DELEGATION" in message
    assert program.provider_gap(["ALLOW_REFRESH_TOKEN_AUTH"], documented=[]) is None
