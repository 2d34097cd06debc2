"""``JAIA_MLFLOW=on``: the README's deployment with its MLflow tracking server, used from kernels.

alice and bob log in through the emulator's page; their kernels use MLflow's client with nothing
configured (``MLFLOW_TRACKING_URI`` from the deployment, the token from our header provider,
bound to the ``tracker`` audience by the URL map): alice's run is recorded as alice although
her code claims another user, and bob's kernel cannot delete it; the example notebook
(examples/train_engines.ipynb) logs its training run, recorded as alice; once she logs out, a
tracker token held in her kernel is refused.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jupyter_ai_access_testing.harness import ROOT
from jupyter_ai_access_testing.harness.deployment import watched_deployment
from jupyter_ai_access_testing.harness.users import BOUND, kernel, login, run, spawn
from jupyter_ai_access_testing.ports import free_port

from jupyter_ai_access.engines.mlflow_venv import ensure_server_venv

pytestmark = pytest.mark.timeout(900)

ALICE = """
import json, os, mlflow
mlflow.set_experiment("alice-deployment")
with mlflow.start_run(tags={"mlflow.user": "mallory"}) as run:
    mlflow.log_metric("loss", 0.25)
print(json.dumps({"run_id": run.info.run_id, "uri": mlflow.get_tracking_uri(),
                  "token_env": sorted(k for k in os.environ if "TRACKING_TOKEN" in k)}))
"""

BOB = """
from mlflow import MlflowClient
try:
    MlflowClient().delete_run({run_id!r})
    print("deleted")
except Exception as e:
    print(type(e).__name__, str(e)[:300])
"""

HOLD = """
import httpx, os
from jupyter_ai_access.client import get_token
held = get_token(audience="tracker")
"""

HELD_STATUS = """
print(httpx.post(os.environ["MLFLOW_TRACKING_URI"] + "/api/2.0/mlflow/experiments/search",
                 json={"max_results": 1}, headers={"Authorization": "Bearer " + held}).status_code)
"""


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, canaries, leak_watcher) -> Iterator[dict[str, Any]]:
    ensure_server_venv()  # made once (the Hub's configuration would make it on its first start)
    port = free_port()
    env = {"JAIA_MLFLOW": "on", "JAIA_MLFLOW_PORT": str(port)}
    with watched_deployment(tmp_path_factory, canaries, leak_watcher, env=env) as hub:
        yield {**hub, "mlflow": f"http://127.0.0.1:{port}"}


async def test_alices_kernel_logs_as_alice_and_bobs_cannot_delete_her_run(deployment):
    tracker = deployment["mlflow"]

    deadline = time.monotonic() + 120  # the Hub starts the service; mlflow server takes ~10 s
    while True:
        try:
            assert httpx.get(tracker + "/health", timeout=2).status_code == 401
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, deployment["hub"].log_tail()
            await asyncio.sleep(0.5)
    browsers = {name: login(deployment, name) for name in ("alice", "bob")}
    for name in browsers:
        spawn(deployment, name)
    alice, bob = await kernel(deployment, "alice"), await kernel(deployment, "bob")
    try:
        got = json.loads((await run(alice, ALICE)).splitlines()[-1])
        assert got["uri"] == tracker and got["token_env"] == []
        refused = await run(bob, BOB.format(run_id=got["run_id"]))
        assert refused.startswith("RestException") and "belongs to 'alice'" in refused, refused
        shown = await run(
            alice,
            "from mlflow import MlflowClient\n"
            f"r = MlflowClient().get_run({got['run_id']!r})\n"
            "print(r.info.user_id, r.data.tags['mlflow.user'], r.info.lifecycle_stage)",
        )
        assert shown == "alice alice active"
        # the example notebook logs its training run (with an artifact) to MLflow, as alice
        notebook = json.loads((ROOT / "examples" / "train_engines.ipynb").read_text())
        outputs = await alice.run_notebook(notebook)
        assert all(o["error"] is None for o in outputs), outputs[-1]
        assert "recorded as alice" in outputs[-1]["stdout"], outputs[-1]

        # her session ends: a tracker token held in her kernel is refused from then on (the
        # proxy follows the Hub's revocation feed), well before the token's own expiry
        await run(alice, HOLD)
        assert await run(alice, HELD_STATUS) == "200"
        browsers["alice"].go("/hub/logout")
        deadline = time.monotonic() + BOUND
        while await run(alice, HELD_STATUS) != "401":
            assert time.monotonic() < deadline, "the tracker still accepts her ended session"
            await asyncio.sleep(0.25)
    finally:
        await alice.shutdown()
        await bob.shutdown()
