"""Machine tokens for headless jobs: a plain Python process, the emulator's machine client.

Each job is a real ``python`` process with only ``COGNITO_*`` in its environment (no Jupyter
around); its tokens are verified by the verifier and used against the example registry, which
accepts them for the data set (scope) and refuses uploads (no user, no group).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from jupyter_ai_access_testing.harness.lab import start_registry
from jupyter_ai_access_testing.ports import free_port

from jupyter_ai_access.cognito.verify import CognitoTokenVerifier
from jupyter_ai_access.local_cognito.process import LocalCognito, stop_process

ROOT = Path(__file__).resolve().parent.parent
MACHINE = "machineclient0000000000000"
SCOPE = "ai-access/datasets.read"

JOB = """
import json, sys
from jupyter_ai_access import machine
from jupyter_ai_access.client import get_token
first = get_token()
again = get_token()
renewed = get_token(min_valid=3600)  # longer than the lifetime: renewed ahead of expiry
after = get_token()
print(json.dumps({"first": first, "again": again, "renewed": renewed, "after": after,
                  "requests": machine._tokens.requests}))
"""


@pytest.fixture
def job_env(local_cognito, tmp_path) -> dict[str, str]:
    secret_file = tmp_path / "machine-secret"
    secret_file.write_text(local_cognito.client_secrets[MACHINE] + "\n")
    secret_file.chmod(0o600)
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER_AI_ACCESS_", "JUPYTERHUB_", "COGNITO_"))
    }
    env.update(
        COGNITO_DOMAIN=local_cognito.domain,
        COGNITO_CLIENT_ID=MACHINE,
        COGNITO_CLIENT_SECRET_FILE=str(secret_file),
        COGNITO_SCOPES=SCOPE,
        XDG_RUNTIME_DIR=str(runtime),
    )
    return env


def run_job(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )


def test_a_job_gets_caches_and_renews_machine_tokens(local_cognito, job_env, canaries):
    result = run_job(JOB, job_env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    for name, token in out.items():
        if name != "requests":
            canaries.register(token, f"machine token ({name})")
    assert out["first"] == out["again"]  # cached, no second request
    assert out["renewed"] != out["first"]
    assert out["after"] == out["renewed"]
    assert out["requests"] == 2
    verifier = CognitoTokenVerifier(issuer=local_cognito.issuer, client_ids=[MACHINE])
    claims = verifier.verify(out["renewed"], scopes=[SCOPE])
    assert claims["sub"] == MACHINE and "username" not in claims

    # Another process of the same job shares the token through the private runtime file.
    second = run_job(JOB.replace("get_token(min_valid=3600)", "get_token()"), job_env)
    shared = json.loads(second.stdout)
    assert shared["first"] == out["renewed"] and shared["requests"] == 0
    (cache,) = (Path(job_env["XDG_RUNTIME_DIR"]) / "jupyter-ai-access" / "machine").iterdir()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700
    assert local_cognito.client_secrets[MACHINE] not in cache.read_text()

    # Memory only: no file, a request of its own.
    alone = run_job(JOB, {**job_env, "JUPYTER_AI_ACCESS_MACHINE_CACHE": "memory"})
    assert json.loads(alone.stdout)["requests"] == 2


def test_jupyter_ai_access_token_prints_a_machine_token(local_cognito, job_env, canaries):
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_ai_access.cli", "token"],
        env={**job_env, "JUPYTER_AI_ACCESS_MACHINE_CACHE": "memory"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    canaries.register(token, "machine token (cli)")
    verifier = CognitoTokenVerifier(issuer=local_cognito.issuer, client_ids=[MACHINE])
    assert verifier.verify(token, scopes=[SCOPE])["client_id"] == MACHINE


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            {"COGNITO_CLIENT_SECRET": "not-the-secret", "COGNITO_CLIENT_SECRET_FILE": ""},
            "refused the machine app client's credentials (invalid_client): check "
            "COGNITO_CLIENT_SECRET",
            id="wrong-secret",
        ),
        pytest.param(
            {"COGNITO_CLIENT_SECRET_FILE": ""},
            "no secret: set COGNITO_CLIENT_SECRET_FILE",
            id="no-secret",
        ),
        pytest.param(
            {"COGNITO_SCOPES": "ai-access/models.write"},
            "refused the scopes COGNITO_SCOPES='ai-access/models.write' (invalid_scope)",
            id="scope-not-allowed",
        ),
        pytest.param(
            {"COGNITO_CLIENT_ID": "hubclient00000000000000000", "COGNITO_CLIENT_SECRET": "hub"},
            "(unauthorized_client)",
            id="not-a-machine-client",
        ),
        pytest.param(
            {"COGNITO_CLIENT_ID": "hubclient00000000000000000,machineclient0000000000000"},
            "COGNITO_CLIENT_ID 'hubclient00000000000000000,machineclient0000000000000' holds "
            "several ids",
            id="a-list-of-clients",
        ),
    ],
)
def test_a_wrong_setting_is_named(local_cognito, job_env, change, expected):
    env = {**job_env, **change, "JUPYTER_AI_ACCESS_MACHINE_CACHE": "memory"}
    if env.get("COGNITO_CLIENT_SECRET") == "hub":  # the Hub's own client, with its own secret
        env["COGNITO_CLIENT_SECRET"] = local_cognito.client_secrets["hubclient00000000000000000"]
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_ai_access.cli", "token"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_the_registry_serves_data_to_jobs_and_refuses_their_uploads(
    local_cognito, job_env, tmp_path
):
    registry, url = start_registry(
        ROOT / "examples/model_registry.py",
        tmp_path,
        {
            "COGNITO_ISSUER": local_cognito.issuer,
            "COGNITO_CLIENT_IDS": f"hubclient00000000000000000,{MACHINE}",
            "REGISTRY_ACCEPT_BROAD_TOKENS": "true",  # the test pool has no registry audience
        },
    )
    try:
        job = f"""
import httpx
from jupyter_ai_access.client import RequestsAuth, HttpxAuth
import requests
data = requests.get({url!r} + "/datasets/demo", auth=RequestsAuth())
listed = httpx.get({url!r} + "/models", auth=HttpxAuth())
upload = httpx.post({url!r} + "/models/from-a-job", json={{"slope": 3}}, auth=HttpxAuth())
print(data.status_code, len(data.text.splitlines()), listed.status_code, upload.status_code)
print(upload.json()["error_description"])
"""
        result = run_job(job, job_env)
        assert result.returncode == 0, result.stderr
        first, reason = result.stdout.strip().splitlines()
        assert first.split() == ["200", "201", "200", "403"]
        assert reason == "missing required scope(s): ai-access/models.write"
        assert not (tmp_path / "models" / "from-a-job.json").exists()
        anonymous = httpx.get(f"{url}/datasets/demo")
        assert anonymous.status_code == 401
    finally:
        stop_process(registry)


# ---------------------------------------------------------------- per-resource tokens for jobs
IMPERSONATOR = "jobimpersonate000000000000"

EXCHANGE_JOB = """
import base64, json
from jupyter_ai_access import machine
from jupyter_ai_access.client import get_token
def claims(token):
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
first = get_token(audience="registry", scopes=["registry/models.read"])
again = get_token(audience="registry", scopes=["registry/models.read"])
c = claims(first)
print(json.dumps({"aud": c.get("aud"), "scope": c.get("scope"), "act": c.get("act"),
                  "same": first == again, "requests": machine._tokens.requests}))
try:
    get_token(audience="nowhere")
except Exception as e:
    print(type(e).__name__, e)
"""


@pytest.fixture
def exchange_job_env(tmp_path, canaries, leak_watcher) -> Iterator[dict[str, str]]:
    """A pool whose machine client may exchange its token (impersonation), and a job's env."""
    secret = canaries.secret("job-impersonate-secret") + "0" * 24
    desc = {
        "region": "us-east-1",
        "user_pool_id": "us-east-1_JobXchg",
        "feature_plan": "ESSENTIALS",
        "resource_servers": [
            {"identifier": "registry", "scopes": [{"name": "models.read"}]},
            {"identifier": "data", "scopes": [{"name": "datasets.read"}]},
        ],
        "app_clients": [
            {
                "name": "job",
                "client_id": IMPERSONATOR,
                "client_secret": secret,
                "allowed_oauth_flows": ["client_credentials"],
                "allowed_oauth_scopes": ["registry/models.read", "data/datasets.read"],
                "explicit_auth_flows": ["ALLOW_TOKEN_EXCHANGE_IMPERSONATION"],
            }
        ],
    }
    (tmp_path / "pool.json").write_text(json.dumps(desc), encoding="utf-8")
    emulator = LocalCognito(port=free_port(), pool_file=str(tmp_path / "pool.json"), state_dir=str(tmp_path / "st"))
    running = emulator.start()
    leak_watcher.watch_file(running.log_file)
    secret_file = tmp_path / "job-secret"
    secret_file.write_text(secret + "\n")
    secret_file.chmod(0o600)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JUPYTER_AI_ACCESS_", "JUPYTERHUB_", "COGNITO_"))
    }
    env.update(
        COGNITO_DOMAIN=running.domain,
        COGNITO_CLIENT_ID=IMPERSONATOR,
        COGNITO_CLIENT_SECRET_FILE=str(secret_file),
        JUPYTER_AI_ACCESS_MACHINE_CACHE="memory",
    )
    yield env
    emulator.stop()


def test_a_job_exchanges_its_machine_token_for_an_audience_bound_one(exchange_job_env):
    result = run_job(EXCHANGE_JOB, exchange_job_env)
    assert result.returncode == 0, result.stderr
    first, refused = result.stdout.strip().splitlines()
    out = json.loads(first)
    assert out == {
        "aud": "registry",
        "scope": "registry/models.read",
        "act": None,  # impersonation: no actor
        "same": True,  # cached per (audience, scopes)
        "requests": 2,  # the client_credentials token, then one exchange
    }
    assert refused.startswith("MachineTokenError")
    assert "'nowhere'" in refused and "ALLOW_TOKEN_EXCHANGE_IMPERSONATION" in refused
