"""``jupyter-ai-access check-pool`` against the local emulator: each mistake is named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest
from jupyter_ai_access_testing.flows import HostedUIClient
from jupyter_ai_access_testing.ports import free_port

from jupyter_ai_access.demo.settings import DEMO_POOL_FILE
from jupyter_ai_access.local_cognito import LocalCognito

HUB_CLIENT = "hubclient00000000000000000"
CLI = [sys.executable, "-c", "from jupyter_ai_access.cli import main; main()"]


def check(local_cognito, hub_url: str, **overrides: str) -> subprocess.CompletedProcess:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("COGNITO_") and k != "AWS_PROFILE"
    }
    env.update(
        {
            "COGNITO_ISSUER": local_cognito.issuer,
            "COGNITO_DOMAIN": local_cognito.domain,
            "COGNITO_CLIENT_ID": HUB_CLIENT,
            "COGNITO_CLIENT_SECRET": local_cognito.client_secrets[HUB_CLIENT],
            **overrides,
        }
    )
    return subprocess.run(
        [*CLI, "check-pool", f"--hub-url={hub_url}"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def callback_hub(local_cognito) -> str:
    callbacks = local_cognito.pool.client(HUB_CLIENT).callback_urls
    return callbacks[0].removesuffix("/hub/oauth_callback")


def test_a_pool_set_up_for_the_hub_passes(local_cognito, canaries):
    result = check(local_cognito, callback_hub(local_cognito))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:4]] == ["ok", "ok", "ok", "ok"]
    assert lines[2].startswith("ok    callback URL: the app client accepts")
    assert canaries.find(result.stdout + result.stderr) == []  # no secret printed


@pytest.mark.parametrize(
    ("overrides", "hub_url", "fails", "fix"),
    [
        pytest.param(
            {"COGNITO_CLIENT_SECRET": "wrong-secret-1234567890"},
            None,
            "client secret",
            "COGNITO_CLIENT_SECRET",
            id="wrong-secret",
        ),
        pytest.param(
            {}, "http://127.0.0.1:9", "callback URL", "callback URLs", id="wrong-callback"
        ),
        pytest.param(
            {"COGNITO_CLIENT_ID": "nosuchclient00000000000000"},
            None,
            "callback URL",
            "COGNITO_CLIENT_ID",
            id="wrong-client",
        ),
        pytest.param(
            {"COGNITO_DOMAIN": "http://localhost:9"},
            None,
            "domain",
            "COGNITO_DOMAIN",
            id="wrong-domain",
        ),
        pytest.param(
            {"COGNITO_DOMAIN": ""}, None, "settings", "COGNITO_DOMAIN", id="missing-domain"
        ),
    ],
)
def test_each_mistake_is_named_with_its_fix(
    local_cognito, canaries, overrides, hub_url, fails, fix
):
    result = check(local_cognito, hub_url or callback_hub(local_cognito), **overrides)
    assert result.returncode == 1, result.stdout + result.stderr
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert failed, result.stdout
    assert failed[0].startswith(f"FAIL  {fails}:")
    assert fix in failed[0]
    assert canaries.find(result.stdout + result.stderr) == []


# ---------------------------------------------------------------- token exchange (issue 23)

DEMO_HUB, DEMO_ACTOR = "4jupyterhubdemo0000000000a", "4jupyterhubactordemo00000a"
DEMO_CALLBACK = "http://127.0.0.1:8000/hub/oauth_callback"
DOWNSTREAM = ("ai-access", "model-registry", "data-service", "tracker")


def _demo_variant(canaries, change: str) -> dict:
    data = json.loads(DEMO_POOL_FILE.read_text())
    data["app_clients"][0]["client_secret"] = canaries.secret("xhub-secret")
    data["app_clients"][2]["client_secret"] = canaries.secret("xactor-secret")
    if change == "lite":
        data["feature_plan"] = "LITE"
    elif change == "no-flag":
        data["app_clients"][0]["explicit_auth_flows"] = ["ALLOW_REFRESH_TOKEN_AUTH"]
    elif change == "no-actor":
        del data["app_clients"][2]
    elif change == "no-registry-scopes":
        hub = data["app_clients"][0]
        hub["allowed_oauth_scopes"] = [
            s for s in hub["allowed_oauth_scopes"] if not s.startswith("model-registry/")
        ]
    return data


@pytest.fixture(scope="module")
def exchange_pools(tmp_path_factory, canaries) -> Iterator[Callable[[str], tuple]]:
    """The demo pool ("demo") or a variant of it, each on its own emulator, started once."""
    started: dict[str, tuple] = {}
    emulators = []

    def get(change: str) -> tuple:
        if change not in started:
            folder = tmp_path_factory.mktemp(f"pool-{change}")
            pool_file = folder / "pool.json"
            pool_file.write_text(json.dumps(_demo_variant(canaries, change)), encoding="utf-8")
            emulator = LocalCognito(port=free_port(), pool_file=str(pool_file), state_dir=str(folder / "state"))
            emulators.append(emulator)
            started[change] = (emulator.start(), pool_file)
        return started[change]

    try:
        yield get
    finally:
        for emulator in emulators:
            emulator.stop()


def check_exchange(running, pool_file, tmp_path, *args: str, actor: bool = True, **env: str):
    """check-pool with the Hub's settings of this pool, the description and the actor's secret."""
    extra = [f"--pool={pool_file}"]
    if actor and DEMO_ACTOR in running.client_secrets:
        secret_file = tmp_path / "actor-secret"
        secret_file.write_text(running.client_secrets[DEMO_ACTOR])
        secret_file.chmod(0o600)
        extra += [f"--actor-client-id={DEMO_ACTOR}", f"--actor-secret-file={secret_file}"]
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("COGNITO_") and k != "AWS_PROFILE"
    } | {
        "COGNITO_ISSUER": running.issuer,
        "COGNITO_DOMAIN": running.domain,
        "COGNITO_CLIENT_ID": DEMO_HUB,
        "COGNITO_CLIENT_SECRET": running.client_secrets[DEMO_HUB],
        **env,
    }
    return subprocess.run(
        [*CLI, "check-pool", "--hub-url=http://127.0.0.1:8000", *extra, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def exchange_lines(result) -> dict[str, str]:
    """'what' -> the line, for the exchange lines."""
    lines = {}
    for line in result.stdout.splitlines():
        what = line[6:].split(":", 1)[0]
        if "exchange" in what:
            lines[what] = line
    return lines


def user_token(running, scope: str) -> str:
    with HostedUIClient(running.domain) as ui:
        result = ui.authorize(
            DEMO_HUB,
            DEMO_CALLBACK,
            scope=scope,
            username="alice",
            password=running.passwords["alice"],
        )
        response = ui.exchange(result, DEMO_HUB, running.client_secrets[DEMO_HUB], DEMO_CALLBACK)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def test_without_a_description_the_exchange_is_not_checked(local_cognito):
    result = check(local_cognito, callback_hub(local_cognito))
    assert "skip  token exchange: give --pool" in result.stdout


def test_the_demo_pool_can_exchange_for_every_downstream_audience(
    exchange_pools, canaries, tmp_path
):
    running, pool_file = exchange_pools("demo")
    result = check_exchange(running, pool_file, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = exchange_lines(result)
    assert lines["exchange actor client"].startswith("ok")
    for audience in DOWNSTREAM:
        assert lines[f"exchange for {audience}"].startswith("ok"), result.stdout
        assert "made-up subject token was refused" in lines[f"exchange for {audience}"]
        assert lines[f"exchange scopes of {audience}"].startswith("ok"), result.stdout
    assert "exchange for notebook-platform" not in lines  # the actor's own server
    assert not [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert canaries.find(result.stdout + result.stderr) == []


def test_with_a_users_token_the_exchange_is_made_for_real(exchange_pools, canaries, tmp_path):
    running, pool_file = exchange_pools("demo")
    scope = "openid email model-registry/models.read data-service/datasets.read tracker/runs.read"
    token = user_token(running, scope)
    token_file = tmp_path / "subject"
    token_file.write_text(token)
    result = check_exchange(running, pool_file, tmp_path, f"--subject-token-file={token_file}")
    lines = exchange_lines(result)
    registry = lines["exchange for model-registry"]
    assert registry.startswith("ok"), result.stdout
    assert "aud 'model-registry', scope 'model-registry/models.read', act " + DEMO_ACTOR in registry
    # alice's token holds no ai-access scope: the exchange for it is refused for the scope
    assert lines["exchange for ai-access"].startswith("FAIL  exchange for ai-access: ")
    assert "(invalid_scope)" in lines["exchange for ai-access"]
    assert "allowed_oauth_scopes" in lines["exchange for ai-access"]
    assert token not in result.stdout + result.stderr
    assert token.split(".")[2] not in result.stdout + result.stderr
    assert canaries.find(result.stdout + result.stderr) == []


@pytest.mark.parametrize(
    ("change", "what", "words"),
    [
        pytest.param(
            "lite",
            "exchange for ai-access",
            ["(unsupported_grant_type)", '"feature_plan": "ESSENTIALS"', "user_pool_tier"],
            id="lite-plan",
        ),
        pytest.param(
            "no-flag",
            "exchange for ai-access",
            ["(unauthorized_client)", "ALLOW_TOKEN_EXCHANGE_DELEGATION", "explicit_auth_flows"],
            id="no-delegation-flag",
        ),
        pytest.param(
            "no-actor",
            "exchange actor client",
            ["no machine app client 'jupyterhub-actor'", "client_credentials", "pulumi up"],
            id="no-actor-client",
        ),
        pytest.param(
            "no-registry-scopes",
            "exchange scopes of model-registry",
            ["(invalid_scope at /oauth2/authorize)", "allowed_oauth_scopes"],
            id="downstream-scopes-not-on-the-hub-client",
        ),
    ],
)
def test_a_pool_that_cannot_exchange_is_named_with_its_fix(
    exchange_pools, canaries, tmp_path, change, what, words
):
    running, pool_file = exchange_pools(change)
    result = check_exchange(running, pool_file, tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    line = exchange_lines(result)[what]
    assert line.startswith(f"FAIL  {what}: "), result.stdout
    for word in words:
        assert word in line, line
    assert str(pool_file) in line  # where to set it
    assert "exchange for notebook-platform" not in exchange_lines(result)  # the actor's server
    assert canaries.find(result.stdout + result.stderr) == []


def test_an_actor_client_the_pool_does_not_know_is_named(exchange_pools, tmp_path):
    running, pool_file = exchange_pools("demo")
    secret_file = tmp_path / "wrong"
    secret_file.write_text("not-the-actor-secret-000000")
    result = check_exchange(
        running,
        pool_file,
        tmp_path,
        f"--actor-client-id={DEMO_ACTOR}",
        f"--actor-secret-file={secret_file}",
        actor=False,
    )
    line = exchange_lines(result)["exchange actor client"]
    assert line.startswith("FAIL  exchange actor client: refused (invalid_client)"), line
    assert "'jupyterhub-actor'" in line


@pytest.mark.parametrize(
    ("tier", "flows", "ok", "words"),
    [
        pytest.param(
            "ESSENTIALS",
            ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_TOKEN_EXCHANGE_DELEGATION"],
            True,
            ["as the Hub needs"],
            id="ready",
        ),
        pytest.param(
            "LITE",
            ["ALLOW_REFRESH_TOKEN_AUTH"],
            False,
            [
                "ALLOW_TOKEN_EXCHANGE_DELEGATION missing from ExplicitAuthFlows",
                "the pool is on the LITE feature plan",
            ],
            id="lite-without-flag",
        ),
    ],
)
def test_with_aws_credentials_the_app_client_line_reads_flows_and_tier(
    monkeypatch, tier, flows, ok, words
):
    """DescribeUserPoolClient / DescribeUserPool, answered by moto's Cognito (in process)."""
    import types

    import boto3
    from moto import mock_aws

    from jupyter_ai_access import poolcheck

    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    callback = "https://hub.example.org/hub/oauth_callback"
    with mock_aws():
        idp = boto3.client("cognito-idp", region_name="eu-west-1")
        pool_id = idp.create_user_pool(PoolName="p", UserPoolTier=tier)["UserPool"]["Id"]
        client_id = idp.create_user_pool_client(
            UserPoolId=pool_id,
            ClientName="jupyterhub",
            ExplicitAuthFlows=flows,
            AllowedOAuthFlows=["code"],
            AllowedOAuthScopes=["openid"],
            CallbackURLs=[callback],
            EnableTokenRevocation=True,
        )["UserPoolClient"]["ClientId"]
        auth = types.SimpleNamespace(region="eu-west-1", user_pool_id=pool_id, client_id=client_id)
        (line,) = poolcheck._aws_checks(auth, callback, True)
    assert line.ok is ok, line
    for word in words:
        assert word in line.detail
