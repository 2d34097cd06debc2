"""``jupyter-ai-access check-pool`` against the local emulator: each mistake is named."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

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
