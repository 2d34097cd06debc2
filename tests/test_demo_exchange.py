"""Per-resource tokens in the README's deployment: code in a kernel asks the Hub directly.

The repository's jupyterhub_config.py (exchange_policy for ml-training / ml-publishers, the
actor client from the emulator's state, login scopes with the downstream scopes). A kernel holds
its server's API token, so the attacker's view and the user's are the same request: alice's
kernel gets a model-registry token whose act names the Hub's actor client; bob's kernel is
refused the registry, and gets only what his group may have. The example notebook's unchanged
HttpxAuth() sends the registry (strict: audience-bound tokens only) a model-registry token through
the deployment's URL map; that token is refused by another resource, and by the registry itself
once alice's session ends (its origin_jti is in the Hub's revocation feed).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_ai_access_testing.harness import ROOT
from jupyter_ai_access_testing.harness.deployment import watched_deployment
from jupyter_ai_access_testing.harness.lab import start_registry
from jupyter_ai_access_testing.harness.users import (
    BOUND,
    held_token_status,
    hold_registry_token,
    kernel,
    login,
    registry_status,
    run,
    spawn,
)

from jupyter_ai_access.protocol import CognitoEnv

ASK = """
import base64, json, os, httpx
from jupyter_ai_access.protocol import hub_exchange_url
url = hub_exchange_url(os.environ["JUPYTERHUB_API_URL"], os.environ["JUPYTERHUB_USER"])
r = httpx.get(url, params={params!r},
              headers={{"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]}})
body = r.json()
out = {{"status": r.status_code, "error": body.get("error"), "message": body.get("message"),
        "keys": sorted(body)}}
if r.status_code == 200:
    p = body["access_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    out.update(aud=claims["aud"], act=claims.get("act"), scope=claims["scope"],
               actor=body["actor"])
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, canaries, leak_watcher) -> Iterator[dict[str, Any]]:
    with watched_deployment(tmp_path_factory, canaries, leak_watcher) as hub:
        generated = hub["state"] / "local-cognito" / "client_secrets.json"
        for client_id, secret in json.loads(generated.read_text(encoding="utf-8")).items():
            canaries.register(secret, f"client secret of {client_id}")  # the actor's too
        yield hub


async def ask(deployment: dict[str, Any], name: str, **params: str) -> dict[str, Any]:
    k = await kernel(deployment, name)
    try:
        answer: dict[str, Any] = json.loads(await run(k, ASK.format(params=params)))
        return answer
    finally:
        await k.shutdown()


async def test_alice_gets_a_registry_token_naming_the_hub_and_bob_is_refused(deployment):
    pool = json.loads((deployment["state"] / "local-cognito" / "client_secrets.json").read_text())
    actor = next(c for c in pool if c.startswith("4jupyterhubactor"))
    with login(deployment, "alice"):
        spawn(deployment, "alice")
        alice = await ask(
            deployment, "alice", audience="model-registry", scope="model-registry/models.write"
        )
    assert alice["status"] == 200, alice
    assert alice["aud"] == "model-registry"
    assert alice["act"]["client_id"] == actor == alice["actor"]
    assert alice["scope"] == "model-registry/models.write"
    assert "refresh_token" not in alice["keys"]
    with login(deployment, "bob"):
        spawn(deployment, "bob")
        refused = await ask(deployment, "bob", audience="model-registry")
        allowed = await ask(deployment, "bob", audience="data-service")
    assert refused["status"] == 403, refused
    assert refused["error"] == "audience_refused"
    assert "CognitoOAuthenticator.exchange_policy" in refused["message"]
    assert allowed["status"] == 200, allowed
    assert allowed["aud"] == "data-service"
    assert allowed["scope"] == "data-service/datasets.read"


NOTEBOOK = """
import base64, json, os, httpx
from jupyter_ai_access.client import AudienceRefusedError, HttpxAuth
registry = os.environ["AI_ACCESS_REGISTRY_URL"]
out = {}
try:
    out["get"] = httpx.get(registry + "/datasets/demo", auth=HttpxAuth()).status_code
    r = httpx.post(registry + "/models/exchange-demo", json={"slope": 3}, auth=HttpxAuth())
    out["post"] = r.status_code
    p = r.request.headers["Authorization"].split()[1].split(".")[1]
    sent = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    out.update(aud=sent["aud"], act=sent.get("act"), scope=sent["scope"])
except AudienceRefusedError as e:
    out["refused"] = str(e)
print(json.dumps(out))
"""


def other_resource(deployment: dict[str, Any], folder: Any) -> Any:
    """A second strict resource on loopback: the example registry bound to data-service."""
    pool = json.loads((deployment["state"] / "local-cognito" / "client_secrets.json").read_text())
    pool_id = json.loads((deployment["state"].parent / "pool.json").read_text())["user_pool_id"]
    return start_registry(
        ROOT / "examples/model_registry.py",
        folder,
        {
            CognitoEnv.ISSUER: f"{deployment['cognito']}/{pool_id}",
            CognitoEnv.CLIENT_IDS: ",".join(pool),
            "REGISTRY_AUDIENCE": "data-service",
            "REGISTRY_ACCEPT_BROAD_TOKENS": "false",
            "JUPYTERHUB_API_URL": "",
        },
    )


async def test_alices_notebook_sends_the_registry_its_own_token_and_nothing_else_takes_it(
    deployment, canaries, tmp_path
):
    pool = json.loads((deployment["state"] / "local-cognito" / "client_secrets.json").read_text())
    actor = next(c for c in pool if c.startswith("4jupyterhubactor"))
    log = deployment["hub"].log_file
    browser = login(deployment, "alice")
    spawn(deployment, "alice")
    k = await kernel(deployment, "alice")
    proc, elsewhere = other_resource(deployment, tmp_path)
    try:
        seen = len(log.read_text(errors="replace"))
        out = json.loads(await run(k, NOTEBOOK))
        assert out["get"] == 200 and out["post"] == 201, out
        assert out["aud"] == "model-registry" and out["act"]["client_id"] == actor, out
        assert set(out["scope"].split()) == {
            "model-registry/models.read",
            "model-registry/models.write",
        }
        deadline = time.monotonic() + BOUND  # the registry's stdout reaches the Hub's log
        audit = "POST /models/exchange-demo by alice via jupyterhub-actor (client jupyterhub)"
        while audit not in log.read_text(errors="replace")[seen:]:
            assert time.monotonic() < deadline, "no audit line from the registry"
            time.sleep(0.25)
        await hold_registry_token(k)  # the one HttpxAuth() sent (cached per audience)
        registry = f"{deployment['registry']}/datasets/demo"
        assert (await held_token_status(k, registry))[0] == 200
        # the same token at another strict resource: refused (bound to model-registry)
        status, refusal = await held_token_status(k, f"{elsewhere}/models")
        assert status == 401 and "model-registry" in refusal, refusal
        # her broad token is refused by the (strict) registry itself
        broad = deployment["hub"].user("alice")["auth_state"]["access_token"]
        canaries.register(broad, "alice's access token")
        assert registry_status(deployment, broad) == 401

        browser.go("/hub/logout")  # the exchanged token shares her session's origin_jti
        deadline = time.monotonic() + BOUND
        while (await held_token_status(k, registry))[0] != 401:
            assert time.monotonic() < deadline, "the registry still accepts her token"
            time.sleep(0.25)
    finally:
        browser.close()
        await k.shutdown()
        proc.terminate()
        proc.wait(10)


async def test_bobs_notebook_is_refused_a_registry_token_by_the_hubs_policy(deployment):
    with login(deployment, "bob"):
        spawn(deployment, "bob")
        k = await kernel(deployment, "bob")
        try:
            out = json.loads(await run(k, NOTEBOOK))
        finally:
            await k.shutdown()
    assert set(out) == {"refused"}, out
    assert (
        "None of your groups (ml-training) may get tokens for 'model-registry'" in (out["refused"])
    )
    assert "CognitoOAuthenticator.exchange_policy" in out["refused"]
