"""Attacks replayed against the README's deployment: a real Hub, two users, real kernels.

The repository's ``jupyterhub_config.py`` (the emulator and the model registry as Hub services)
runs on free ports. alice and bob log in through the hosted sign-in page; their servers are
spawned and kernels started; code in the kernels then does what an attacker's notebook would.

- session end: logout reaches alice's running kernels within seconds (token files gone, the
  client says "log in again at <absolute URL>"), a kernel started afterwards gets nothing, the
  registry refuses her earlier access token (revocation feed), and logging in again serves the
  same kernel without a restart;
- isolation (the Hub runs as root, as in CI and containers): bob's kernel cannot read alice's
  token folder, her server's environment, the Hub's database or the Hub's environment;
- the kernel's inherited server token cannot fetch another user's tokens;
- an admin deleting a user ends that session at the registry too.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import local_deployment
from jupyter_ai_access_testing.ci import skip_or_fail
from jupyter_ai_access_testing.hub import HubBrowser
from jupyter_ai_access_testing.notebooks import ServerKernel

BOUND = 15.0  # how long a test waits for a state before failing (the product's goal is 5 s)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, canaries, leak_watcher) -> Iterator[dict[str, Any]]:
    with local_deployment(tmp_path_factory, canaries, leak_watcher) as hub:
        yield hub


def login(deployment: dict[str, Any], name: str) -> HubBrowser:
    browser = HubBrowser(deployment["url"])
    assert browser.login(name, deployment["passwords"][name]).status_code == 200
    return browser


def spawn(deployment: dict[str, Any], name: str) -> str:
    hub = deployment["hub"]
    hub.api("POST", f"/users/{name}/server")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        model = hub.user(name, auth_state=False) or {}
        server = (model.get("servers") or {}).get("")
        if server and server.get("ready"):
            return f"{deployment['url']}/user/{name}/"
        time.sleep(0.5)
    pytest.fail(f"{name}'s server did not start: {hub.log_tail()}")


async def kernel(deployment: dict[str, Any], name: str) -> ServerKernel:
    return await ServerKernel(
        f"{deployment['url']}/user/{name}/", token=deployment["hub"].admin_token
    ).start()


async def run(k: ServerKernel, code: str) -> str:
    out = await k.execute(code, timeout=60)
    assert out["error"] is None, out
    return out["stdout"].strip()


async def probe(k: ServerKernel) -> dict[str, Any]:
    """What the kernel can get now: the token file's presence and get_token()'s outcome."""
    code = """
import json, os
from jupyter_ai_access.client import get_token
from jupyter_ai_access.errors import SessionEndedError, TokensUnavailableError
path = os.environ.get("JUPYTER_AI_ACCESS_TOKEN_FILE", "")
state = {"file": bool(path) and os.path.exists(path)}
try:
    state["token"] = len(get_token()) > 0
except SessionEndedError as e:
    state["ended"] = str(e)
except TokensUnavailableError as e:
    state["unavailable"] = str(e)
print(json.dumps(state))
"""
    return json.loads(await run(k, code))


async def aws_probe(k: ServerKernel) -> str:
    """A new boto3 session's identity (an ARN), or the credential error's text."""
    return await run(
        k,
        "import boto3, botocore.exceptions\n"
        "try:\n    print(boto3.Session().client('sts').get_caller_identity()['Arn'])\n"
        "except botocore.exceptions.BotoCoreError as e:\n    print(e)",
    )


async def until(k: ServerKernel, check: Any) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    while True:
        state = await probe(k)
        if check(state) or time.monotonic() - started > BOUND:
            return state, time.monotonic() - started
        await asyncio.sleep(0.2)


def registry_status(deployment: dict[str, Any], token: str) -> int:
    return httpx.get(
        f"{deployment['registry']}/datasets/demo",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).status_code


async def test_logout_reaches_running_kernels_new_kernels_and_the_registry(deployment, canaries):
    browser = login(deployment, "alice")
    spawn(deployment, "alice")
    k1, k2 = await kernel(deployment, "alice"), await kernel(deployment, "alice")
    try:
        # the test reads alice's token from the Hub (as an admin), not from kernel output
        token = deployment["hub"].user("alice")["auth_state"]["access_token"]
        canaries.register(token, "alice's access token")
        assert (await probe(k2))["token"] is True
        assert registry_status(deployment, token) == 200
        assert (await aws_probe(k2)).endswith("/alice")

        browser.go("/hub/logout")
        for k in (k1, k2):
            state, _ = await until(k, lambda s: "ended" in s and not s["file"])
            assert state["file"] is False
            assert f"Log in again at {deployment['url']}/hub/login" in state["ended"]
        # AWS credentials are no longer served either (a new botocore session must fetch)
        assert "login_required" in await aws_probe(k2)

        k3 = await kernel(deployment, "alice")  # started after the logout: nothing
        try:
            assert await probe(k3) == {"file": False, "ended": (await probe(k1))["ended"]}
        finally:
            await k3.shutdown()

        deadline = time.monotonic() + BOUND  # the registry follows the revocation feed
        while registry_status(deployment, token) != 401 and time.monotonic() < deadline:
            time.sleep(0.25)
        assert registry_status(deployment, token) == 401

        login(deployment, "alice").close()  # again: the same kernel is served, no restart
        state, _ = await until(k1, lambda s: s.get("token") and s["file"])
        assert state == {"file": True, "token": True}
    finally:
        browser.close()
        for k in (k1, k2):
            await k.shutdown()


@pytest.fixture(scope="module")
def two_users(deployment) -> dict[str, Any]:
    for name in ("alice", "bob"):
        login(deployment, name).close()
        spawn(deployment, name)
    return deployment


async def test_bobs_kernel_cannot_read_alices_tokens_environment_or_the_hub(two_users):
    if not two_users["isolated"]:
        skip_or_fail(
            "the deployment runs every server as one account (the Hub is not root): it says so "
            "at start, and there is no isolation to attack"
        )
    alice, bob = await kernel(two_users, "alice"), await kernel(two_users, "bob")
    try:
        facts = json.loads(
            await run(
                alice,
                "import json, os; print(json.dumps({'dir': os.environ['JUPYTER_AI_ACCESS_DIR'],"
                " 'server_pid': os.getppid(), 'uid': os.getuid()}))",
            )
        )
        bob_uid = int(await run(bob, "import os; print(os.getuid())"))
        assert bob_uid != facts["uid"] and 0 not in (bob_uid, facts["uid"])
        hub = two_users["hub"]
        targets = {
            "alice's token folder": facts["dir"],
            "alice's access token": facts["dir"] + "/access_token",
            "alice's kernel secret": facts["dir"] + "/secret",
            "alice's server environment": f"/proc/{facts['server_pid']}/environ",
            "the Hub's environment (crypt key)": f"/proc/{hub.pid}/environ",
            "the Hub's database": str(hub.folder / "hub.sqlite"),
            "the demo's state (cookie secret, emulator keys)": str(two_users["state"]),
        }
        code = f"""
import json, os
results = {{}}
for what, path in {targets!r}.items():
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            open(path, "rb").read(1)
        results[what] = "READ"
    except PermissionError:
        results[what] = "refused"
    except FileNotFoundError:
        results[what] = "refused (not reachable)"
print(json.dumps(results))
"""
        results = json.loads(await run(bob, code))
        assert set(results) == set(targets)
        assert not [what for what, outcome in results.items() if outcome == "READ"], results
    finally:
        await alice.shutdown()
        await bob.shutdown()


async def test_a_kernels_server_token_cannot_fetch_another_users_tokens(two_users):
    bob = await kernel(two_users, "bob")
    try:
        code = """
import json, os, urllib.request, urllib.error
api = os.environ["JUPYTERHUB_API_URL"]
out = {}
for who in ("alice", "bob"):
    request = urllib.request.Request(
        f"{api}/ai-access/users/{who}/tokens",
        headers={"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"]},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            out[who] = r.status
    except urllib.error.HTTPError as e:
        out[who] = e.code
print(json.dumps(out))
"""
        assert json.loads(await run(bob, code)) == {"alice": 404, "bob": 200}
    finally:
        await bob.shutdown()


async def test_deleting_a_user_ends_their_session_at_the_registry(deployment, canaries):
    login(deployment, "bob").close()
    spawn(deployment, "bob")
    bob = await kernel(deployment, "bob")
    assert (await probe(bob))["token"] is True
    token = deployment["hub"].user("bob")["auth_state"]["access_token"]
    canaries.register(token, "bob's access token")
    await bob.shutdown()
    assert registry_status(deployment, token) == 200
    hub = deployment["hub"]
    hub.api("DELETE", "/users/bob/server")
    deadline = time.monotonic() + 60
    while hub.api("DELETE", "/users/bob").status_code not in (204, 404):
        assert time.monotonic() < deadline, "bob's server did not stop"
        time.sleep(0.5)
    deadline = time.monotonic() + BOUND
    while registry_status(deployment, token) != 401 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert registry_status(deployment, token) == 401


def test_the_sign_out_return_address_ignores_a_forged_host_header(deployment):
    response = httpx.get(
        f"{deployment['url']}/hub/logout",
        headers={"Host": "evil.example"},
        follow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302
    location = httpx.URL(response.headers["Location"])
    assert str(location).startswith(f"{deployment['cognito']}/logout?")
    assert location.params["logout_uri"] == f"{deployment['url']}/hub/logout-complete"
