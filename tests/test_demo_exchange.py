"""Per-resource tokens in the README's deployment: code in a kernel asks the Hub directly.

The repository's jupyterhub_config.py (exchange_policy for ml-training / ml-publishers, the
actor client from the emulator's state, login scopes with the downstream scopes). A kernel holds
its server's API token, so the attacker's view and the user's are the same request: alice's
kernel gets a model-registry token whose act names the Hub's actor client; bob's kernel is
refused the registry, and gets only what his group may have.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_ai_access_testing.harness.deployment import watched_deployment
from jupyter_ai_access_testing.harness.users import kernel, login, run, spawn

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
