"""Experiment tracking as the person: MLflow's client and a tracking server behind our verifier.

Real processes on 127.0.0.1: ``mlflow server`` from its own venv (constraints-mlflow-server.txt)
behind ``python -m jupyter_ai_access.engines.mlflow_service`` (the proxy), a loopback issuer
whose keys sign alice's and bob's tokens (bound to the ``tracker`` audience), and MLflow's own
client in a subprocess that finds our ``mlflow.request_header_provider`` entry point itself:
the token reaches the server with no ``MLFLOW_TRACKING_TOKEN`` anywhere.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jupyter_ai_access_testing.harness import ROOT
from jupyter_ai_access_testing.jwks_server import IssuerServer
from jupyter_ai_access_testing.ports import free_port
from jupyter_ai_access_testing.tokens import TokenFactory

from jupyter_ai_access.engines.mlflow_venv import ensure_server_venv

pytestmark = pytest.mark.timeout(600)

SCOPES = "tracker/runs.read tracker/runs.write"

# MLflow's client as a training notebook uses it; the OS user claims to be "mallory" and the
# code sets mlflow.user itself: the server must record the token's user all the same.
CLIENT = r"""
import json, os, tempfile
import mlflow
from mlflow.tracking.request_header.registry import _request_header_provider_registry as reg
providers = [type(p).__module__ + "." + type(p).__name__ for p in reg._registry]
mlflow.set_experiment("mlflow-test-" + os.environ["RUN_SUFFIX"])
with mlflow.start_run(tags={"mlflow.user": "mallory"}) as run:
    mlflow.log_param("lr", 0.1)
    mlflow.log_metric("loss", 0.5)
    folder = tempfile.mkdtemp()
    with open(os.path.join(folder, "model.txt"), "w") as f:
        f.write("weights")
    mlflow.log_artifact(os.path.join(folder, "model.txt"))
print(json.dumps({"run_id": run.info.run_id, "experiment_id": run.info.experiment_id,
                  "providers": providers}))
"""


@pytest.fixture(scope="module")
def issuer() -> Iterator[tuple[IssuerServer, TokenFactory]]:
    server = IssuerServer().start()
    server.factory = TokenFactory(issuer=server.issuer)
    server.jwks = server.factory.jwks()
    try:
        yield server, server.factory
    finally:
        server.stop()


@pytest.fixture(scope="module")
def tracker(
    issuer: tuple[IssuerServer, TokenFactory], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The proxy's URL, the tracking server behind it (its venv made on first use)."""
    server, factory = issuer
    mlflow = ensure_server_venv()
    port = free_port()
    env = {**os.environ, "COGNITO_ISSUER": server.issuer, "COGNITO_CLIENT_IDS": factory.client_id}
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_ai_access.engines.mlflow_service", f"--port={port}",
         f"--mlflow={mlflow}", f"--state-dir={tmp_path_factory.mktemp('mlflow')}"],
        env=env, cwd=ROOT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            assert process.poll() is None, "the tracking service exited"
            try:
                httpx.get(url + "/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def token(factory: TokenFactory, user: str) -> str:
    return factory.mint(username=user, scope=SCOPES, aud="tracker")


def run_client(tracker: str, factory: TokenFactory, user: str, tmp: Path) -> dict[str, Any]:
    """MLflow's client in a subprocess, as a kernel runs it: token file + endpoint, no secret."""
    token_file = tmp / f"{user}-token"
    token_file.write_text(token(factory, user))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "COGNITO_"))}
    env.update({
        "MLFLOW_TRACKING_URI": tracker,
        "JUPYTER_AI_ACCESS_TOKEN_FILE": str(token_file),
        # the kernel's endpoint; unused while the token file holds a fresh token
        "JUPYTER_AI_ACCESS_URL": "http://127.0.0.1:9/",
        "LOGNAME": "mallory", "USER": "mallory", "RUN_SUFFIX": user,
    })
    assert not any("TRACKING_TOKEN" in k for k in env)
    done = subprocess.run(
        [sys.executable, "-c", CLIENT], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def alices_run(
    tracker: str, issuer: tuple[IssuerServer, TokenFactory], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    return run_client(tracker, issuer[1], "alice", tmp_path_factory.mktemp("alice"))


def api(tracker: str, factory: TokenFactory | None, user: str, method: str, endpoint: str,
        body: dict[str, Any] | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token(factory, user)}"} if factory else {}
    url = f"{tracker}/api/2.0/mlflow/{endpoint}"
    if method == "GET":
        return httpx.get(url, params=body, headers=headers, timeout=30)
    return httpx.post(url, json=body, headers=headers, timeout=30)


def test_mlflow_loads_the_plugin_and_records_the_run_as_the_tokens_user(
    tracker: str, issuer: tuple[IssuerServer, TokenFactory], alices_run: dict[str, Any]
) -> None:
    factory = issuer[1]
    assert (
        "jupyter_ai_access.engines.mlflow_auth.BearerTokenHeaderProvider" in alices_run["providers"]
    )
    got = api(tracker, factory, "bob", "GET", "runs/get", {"run_id": alices_run["run_id"]})
    assert got.status_code == 200, got.text
    run = got.json()["run"]
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert run["info"]["user_id"] == "alice"
    assert tags["mlflow.user"] == "alice"  # the client claimed "mallory" twice
    assert {p["key"]: p["value"] for p in run["data"]["params"]} == {"lr": "0.1"}
    listed = api(tracker, factory, "alice", "GET", "artifacts/list", {"run_id": run["info"]["run_id"]})
    assert [f["path"] for f in listed.json()["files"]] == ["model.txt"]


def test_bob_cannot_change_or_delete_alices_run(
    tracker: str, issuer: tuple[IssuerServer, TokenFactory], alices_run: dict[str, Any]
) -> None:
    factory, run_id = issuer[1], alices_run["run_id"]
    for endpoint, body in [
        ("runs/delete", {"run_id": run_id}),
        ("runs/update", {"run_id": run_id, "status": "FAILED"}),
        ("runs/log-metric", {"run_id": run_id, "key": "loss", "value": 9, "timestamp": 1}),
        ("runs/set-tag", {"run_id": run_id, "key": "note", "value": "bob was here"}),
        ("experiments/delete", {"experiment_id": alices_run["experiment_id"]}),
    ]:
        refused = api(tracker, factory, "bob", "POST", endpoint, body)
        assert refused.status_code == 403, (endpoint, refused.text)
        assert "alice" in refused.json()["message"]
    upload = httpx.put(
        f"{tracker}/api/2.0/mlflow-artifacts/artifacts/{alices_run['experiment_id']}/{run_id}"
        "/artifacts/model.txt",
        content=b"poisoned", headers={"Authorization": f"Bearer {token(factory, 'bob')}"},
    )
    assert upload.status_code == 403, upload.text
    # nor through his own run's folder, climbing out of it
    mine = api(tracker, factory, "bob", "POST", "runs/create",
               {"experiment_id": alices_run["experiment_id"]}).json()["run"]["info"]["run_id"]
    for climb in ["/../", "/..%2F", "%2F..%2F"]:
        sneaky = httpx.put(
            f"{tracker}/api/2.0/mlflow-artifacts/artifacts/{alices_run['experiment_id']}/{mine}"
            f"{climb}..{climb}{alices_run['experiment_id']}/{run_id}/artifacts/model.txt",
            content=b"poisoned", headers={"Authorization": f"Bearer {token(factory, 'bob')}"},
        )
        assert sneaky.status_code == 403, (climb, sneaky.text)
    # alice may not re-own her run either, and she can delete it
    assert api(tracker, factory, "alice", "POST", "runs/set-tag",
               {"run_id": run_id, "key": "mlflow.user", "value": "bob"}).status_code == 403
    run = api(tracker, factory, "alice", "GET", "runs/get", {"run_id": run_id}).json()["run"]
    assert run["info"]["status"] == "FINISHED" and run["info"]["lifecycle_stage"] == "active"
    assert [m["value"] for m in run["data"]["metrics"]] == [0.5]
    assert api(tracker, factory, "alice", "POST", "runs/delete", {"run_id": run_id}).status_code == 200


def test_no_token_or_a_token_for_another_audience_is_401(
    tracker: str, issuer: tuple[IssuerServer, TokenFactory]
) -> None:
    factory = issuer[1]
    bare = api(tracker, None, "", "POST", "runs/search", {"experiment_ids": ["0"]})
    assert bare.status_code == 401
    assert "Authorization: Bearer" in bare.json()["message"]
    other = httpx.get(
        f"{tracker}/api/2.0/mlflow/experiments/search", params={"max_results": 1},
        headers={"Authorization": "Bearer " + factory.mint(username="alice", scope=SCOPES,
                                                          aud="model-registry")},
    )
    assert other.status_code == 401, other.text
    unknown = api(tracker, factory, "alice", "POST", "registered-models/create", {"name": "m"})
    assert unknown.status_code == 403


def test_the_tracking_servers_venv_is_exactly_its_constraints() -> None:
    """Every distribution in the server's venv is pinned in constraints-mlflow-server.txt, at
    that version, and every pin is installed (pip and setuptools aside)."""
    python = ensure_server_venv().parent / "python"
    listed = subprocess.run(
        [str(python), "-c", "from importlib import metadata; print('\\n'.join("
         "f\"{d.metadata['Name']}=={d.version}\" for d in metadata.distributions()))"],
        capture_output=True, text=True, check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    ).stdout.split()

    def norm(line: str) -> str:
        name, _, version = line.partition("==")
        return re.sub(r"[-_.]+", "-", name).lower() + "==" + version

    installed = {norm(x) for x in listed} - {x for x in map(norm, listed)
                                             if x.startswith(("pip==", "setuptools=="))}
    text = (ROOT / "constraints-mlflow-server.txt").read_text().splitlines()
    pinned = {norm(x) for x in text if x and not x.startswith("#")}
    assert installed == pinned, (sorted(installed - pinned), sorted(pinned - installed))
