"""The pool description: what a Cognito user pool would refuse is refused, naming the entry."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jupyter_ai_access_testing.harness.descriptions import with_entry

from jupyter_ai_access.demo.settings import DEMO_POOL_FILE
from jupyter_ai_access.errors import ConfigurationError, PoolDescriptionError
from jupyter_ai_access.pooldesc import load_pool, validate_pool

BASE: dict[str, Any] = {
    "region": "eu-west-1",
    "user_pool_id": "eu-west-1_AbC123xyz",
    "groups": [{"name": "ml-training"}],
    "users": [{"username": "alice", "password": "a-long-password", "groups": ["ml-training"]}],
    "resource_servers": [{"identifier": "ai-access", "scopes": [{"name": "datasets.read"}]}],
    "app_clients": [
        {
            "name": "hub",
            "client_id": "hub0000000000000000000000a",
            "client_secret": "0123456789abcdef0123",
            "allowed_oauth_flows": ["code"],
            "allowed_oauth_scopes": ["openid", "ai-access/datasets.read"],
            "callback_urls": ["https://hub.example.org/hub/oauth_callback"],
            "logout_urls": ["https://hub.example.org/hub/logout-complete"],
        },
        {
            "name": "jobs",
            "client_id": "jobs000000000000000000000a",
            "client_secret": "0123456789abcdef0123",
            "allowed_oauth_flows": ["client_credentials"],
            "allowed_oauth_scopes": ["ai-access/datasets.read"],
        },
    ],
}


def edited(path: str, value: Any) -> dict[str, Any]:
    """BASE with one entry replaced."""
    return with_entry(BASE, path, value)


def test_base_description_is_valid_and_parsed():
    pool = validate_pool(BASE)
    assert pool.user_pool_id == "eu-west-1_AbC123xyz"
    assert pool.client("hub").token_validity == {
        "access_token": 3600,
        "id_token": 3600,
        "refresh_token": 2592000,
    }
    assert pool.client("jobs000000000000000000000a").name == "jobs"
    assert pool.custom_scopes == {"ai-access/datasets.read"}
    assert pool.user("ALICE").username == "alice"


def test_shipped_demo_pool_is_valid():
    pool = load_pool(DEMO_POOL_FILE)
    assert {u.username for u in pool.users} == {"alice", "bob", "carol"}
    assert pool.client("jupyterhub").allowed_oauth_flows == ("code",)


@pytest.mark.parametrize(
    ("data", "entry", "words"),
    [
        pytest.param(
            edited("app_clients.1.allowed_oauth_flows", ["code", "client_credentials"]),
            "app_clients[1] 'jobs'",
            "client_credentials together with code",
            id="mixed-grants",
        ),
        pytest.param(
            edited("app_clients.0.allowed_oauth_flows", ["implicit"]),
            "app_clients[0] 'hub'",
            "implicit grant is not offered",
            id="implicit",
        ),
        pytest.param(
            edited("app_clients.1.allowed_oauth_scopes", ["openid", "ai-access/datasets.read"]),
            "app_clients[1] 'jobs'",
            "only custom scopes",
            id="openid-on-machine-client",
        ),
        pytest.param(
            edited("app_clients.0.allowed_oauth_scopes", ["openid", "ai-access/nope"]),
            "app_clients[0] 'hub'",
            "unknown scope 'ai-access/nope'",
            id="unknown-scope",
        ),
        pytest.param(
            edited("users.0.groups", ["ml-admins"]),
            "users[0] 'alice'",
            "unknown group 'ml-admins'",
            id="unknown-group",
        ),
        pytest.param(
            edited("app_clients.0.callback_urls", ["http://hub.example.org/cb"]),
            "app_clients[0] 'hub'",
            "only loopback hosts",
            id="http-callback",
        ),
        pytest.param(
            edited("app_clients.0.callback_urls", []),
            "app_clients[0] 'hub'",
            "at least one callback URL",
            id="no-callback",
        ),
        pytest.param(
            edited("app_clients.1.client_secret", None),
            "app_clients[1] 'jobs'",
            "needs a client secret",
            id="machine-without-secret",
        ),
        pytest.param(
            edited("app_clients.0.supported_identity_providers", ["Corp"]),
            "app_clients[0] 'hub'",
            "unknown identity provider 'Corp'",
            id="unknown-idp",
        ),
        pytest.param(
            edited("app_clients.0.token_validity", {"access_token": -5}),
            "app_clients[0] 'hub'",
            "positive number of seconds",
            id="negative-validity",
        ),
        pytest.param(
            edited("app_clients.0.token_validity", {"acess_token": 60}),
            "app_clients[0] 'hub'",
            "unknown keys",
            id="misspelt-validity",
        ),
        pytest.param(
            edited("user_pool_id", "us-east-1_AbC123xyz"),
            "user_pool_id",
            "must look like 'eu-west-1_",
            id="pool-id-other-region",
        ),
        pytest.param(edited("region", "Europe"), "region", "not an AWS region", id="bad-region"),
        pytest.param(
            edited(
                "users",
                [
                    {"username": "a", "password": "p1234567"},
                    {"username": "A", "password": "p1234567"},
                ],
            ),
            "users[1] 'A'",
            "used twice",
            id="duplicate-username-case-insensitive",
        ),
        pytest.param(
            edited("app_clients.1.name", "hub"),
            "app_clients[1] 'hub'",
            "used twice",
            id="duplicate-client-name",
        ),
        pytest.param(edited("app_clients", []), "app_clients", "at least one", id="no-clients"),
    ],
)
def test_invalid_descriptions_name_the_offending_entry(data, entry, words):
    with pytest.raises(PoolDescriptionError) as info:
        validate_pool(data, "pool.json")
    assert info.value.entry == entry
    assert words in str(info.value)
    assert str(info.value).startswith(f"pool.json: {entry}: ")
    assert isinstance(info.value, ConfigurationError)


def test_short_lifetimes_are_for_the_emulator_only():
    data = edited("app_clients.0.token_validity", {"access_token": 30})
    assert validate_pool(data).client("hub").token_validity["access_token"] == 30
    with pytest.raises(PoolDescriptionError, match=r"access_token=30: Cognito allows 300-86400 s"):
        validate_pool(data, for_aws=True)


def test_load_pool_reports_bad_json_with_its_line(tmp_path):
    path = tmp_path / "pool.json"
    path.write_text('{\n  "region": "eu-west-1",\n  oops\n}')
    with pytest.raises(PoolDescriptionError, match=r"pool.json: line 3: not valid JSON"):
        load_pool(path)
    with pytest.raises(PoolDescriptionError, match="not found"):
        load_pool(tmp_path / "missing.json")


def test_description_round_trips_through_json(tmp_path):
    path = tmp_path / "pool.json"
    path.write_text(json.dumps(BASE))
    assert load_pool(path).app_clients == validate_pool(BASE).app_clients


def test_repr_never_shows_passwords_or_client_secrets():
    text = repr(validate_pool(BASE))
    assert "a-long-password" not in text
    assert "0123456789abcdef0123" not in text
    assert "alice" in text
