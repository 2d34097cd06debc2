"""Attacks replayed against the README's deployment: a real Hub, two users, real kernels.

The repository's ``jupyterhub_config.py`` (the emulator and the model registry as Hub services)
runs on free ports. alice and bob log in through the hosted sign-in page; their servers are
spawned and kernels started; code in the kernels then does what an attacker's notebook would.

- session end: logout reaches alice's running kernels within seconds (token files gone, the
  client says "log in again at <absolute URL>"), a boto3 client running across the logout fails
  at its next re-ask (within a minute), a kernel started afterwards gets nothing, the
  registry refuses the model-registry token her kernel held (exchanged from her session: the
  revocation feed covers it), and logging in again serves the same kernel without a restart;
- isolation (the Hub runs as root, as in CI and containers): bob's kernel cannot read alice's
  token folder, her server's environment, the Hub's database or the Hub's environment; the
  Hub's actor client secret is in neither her kernel's nor her server's environment;
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
from jupyter_ai_access_testing.harness.ci import skip_or_fail
from jupyter_ai_access_testing.harness.deployment import watched_deployment
from jupyter_ai_access_testing.harness.notebooks import ServerKernel
from jupyter_ai_access_testing.harness.users import (
    BOUND,
    export_held_token,
    held_token_status,
    hold_registry_token,
    kernel,
    login,
    probe,
    registry_status,
    run,
    spawn,
    until,
)

from jupyter_ai_access.protocol import TOKENS_SCOPE


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, canaries, leak_watcher) -> Iterator[dict[str, Any]]:
    with watched_deployment(tmp_path_factory, canaries, leak_watcher) as hub:
        yield hub


async def aws_probe(k: ServerKernel) -> str:
    """A new boto3 session's identity (an ARN), or the credential error's text."""
    return await run(
        k,
        "import boto3\n"
        "try:\n    print(boto3.Session().client('sts').get_caller_identity()['Arn'])\n"
        "except Exception as e:\n    print(f'{type(e).__name__}: {e}')",
    )


#: a boto3 client made before the logout and kept, called until it fails (100 s at most). It
#: re-asks the server every AWSCredentialBroker.recheck_seconds (50 s): its clock is moved that
#: far first (botocore's own expiry of the credentials it holds), so the test does not wait for
#: it (benchmarks/bench_aws_end.py measures the real wait, tests/test_aws_session_end.py the
#: re-asks)
RUNNING_CLIENT = """
import datetime, time
held = running_sts._request_signer._credentials  # botocore's RefreshableCredentials
held._expiry_time -= datetime.timedelta(seconds=50)
error, deadline = "", time.monotonic() + 100
while not error and time.monotonic() < deadline:
    try:
        running_sts.get_caller_identity()
        time.sleep(0.5)
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
print(error)
"""


async def test_logout_reaches_running_kernels_new_kernels_and_the_registry(deployment, canaries):
    browser = login(deployment, "alice")
    spawn(deployment, "alice")
    k1, k2 = await kernel(deployment, "alice"), await kernel(deployment, "alice")
    try:
        # the token her notebook's HttpxAuth() sends the registry (audience model-registry),
        # held in k1's memory: the registry accepts only such tokens, not her broad one
        token = deployment["hub"].user("alice")["auth_state"]["access_token"]
        canaries.register(token, "alice's access token")
        registry = f"{deployment['registry']}/datasets/demo"
        await hold_registry_token(k1)
        assert (await probe(k2))["token"] is True
        assert (await held_token_status(k1, registry))[0] == 200
        assert registry_status(deployment, token) == 401  # broad: refused by the strict registry
        assert (await aws_probe(k2)).endswith("/alice")
        code = "import boto3\nrunning_sts = boto3.client('sts')\nrunning_sts.get_caller_identity()"
        await run(k2, code)  # a client that keeps running across the logout

        browser.go("/hub/logout")
        for k in (k1, k2):
            state, _ = await until(k, lambda s: "ended" in s and not s["file"])
            assert state["file"] is False
            assert f"Log in again at {deployment['url']}/hub/login" in state["ended"]
        # AWS credentials are no longer served either: a new botocore session, and the running
        # client at its next re-ask, fail with the same message
        ended = "AWS access ended with your JupyterHub session: Your JupyterHub session has ended"
        assert ended in await aws_probe(k2)
        running = await k2.execute(RUNNING_CLIENT, timeout=120)
        assert running["error"] is None and ended in running["stdout"], running
        assert f"Log in again at {deployment['url']}/hub/login" in running["stdout"]

        k3 = await kernel(deployment, "alice")  # started after the logout: nothing
        try:
            assert await probe(k3) == {"file": False, "ended": (await probe(k1))["ended"]}
        finally:
            await k3.shutdown()

        deadline = time.monotonic() + BOUND  # the registry follows the revocation feed
        while (await held_token_status(k1, registry))[0] != 401:
            assert time.monotonic() < deadline, "the registry still accepts her exchanged token"
            await asyncio.sleep(0.25)

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
                " 'server_pid': os.getppid(), 'uid': os.getuid(),"
                " 'env': [open(f'/proc/{p}/environ', 'rb').read().decode(errors='replace')"
                " for p in ('self', os.getppid())]}))",
            )
        )
        # the Hub's actor client secret (it exchanges per-resource tokens) is in neither her
        # kernel's environment nor her server's, under any name
        secrets = json.loads((two_users["state"] / "local-cognito/client_secrets.json").read_text())
        actor = next(v for k, v in secrets.items() if k.startswith("4jupyterhubactor"))
        assert facts["env"][1] and not [e for e in facts["env"] if actor in e]
        assert not [e for e in facts["env"] if "COGNITO_ACTOR_CLIENT_SECRET" in e]
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


STORM = 400  # session watches bob's kernel opens with the server token it inherited
STORM_CODE = """
import json, os, selectors, socket, threading, time, urllib.parse
from jupyter_ai_access.client import get_token
from jupyter_ai_access.protocol import fingerprint
api = urllib.parse.urlsplit(os.environ["JUPYTERHUB_API_URL"])
path = (api.path.rstrip("/") + "/ai-access/users/" + os.environ["JUPYTERHUB_USER"]
        + "/tokens?wait=120&have=" + fingerprint(get_token()))
request = ("GET " + path + " HTTP/1.1\\r\\nHost: " + api.netloc + "\\r\\nAuthorization: token "
           + os.environ["JUPYTERHUB_API_TOKEN"] + "\\r\\nConnection: close\\r\\n\\r\\n").encode()
storm = {"answers": {}, "open": 0, "stop": False}
selector = selectors.DefaultSelector()
for _ in range(STORM_N):
    s = socket.create_connection((api.hostname, api.port), timeout=10)
    s.sendall(request)
    s.setblocking(False)
    selector.register(s, selectors.EVENT_READ, bytearray())
    storm["open"] += 1
def read():
    deadline = time.monotonic() + 600
    while not storm["stop"] and storm["open"] and time.monotonic() < deadline:
        for key, _ in selector.select(0.2):
            try:
                chunk = key.fileobj.recv(65536)
            except OSError:
                chunk = b""
            key.data.extend(chunk)
            if b"\\r\\n" in key.data or not chunk:
                line = bytes(key.data).split(b"\\r\\n", 1)[0].split()
                status = line[1].decode() if len(line) > 1 else "closed"
                storm["answers"][status] = storm["answers"].get(status, 0) + 1
                storm["open"] -= 1
                selector.unregister(key.fileobj)
                key.fileobj.close()
threading.Thread(target=read, daemon=True).start()
print("started")
""".replace("STORM_N", str(STORM))
STORM_STATE = "import json; print(json.dumps({'answers': storm['answers'], 'open': storm['open']}))"


async def storm_state(k: ServerKernel, check: Any, bound: float = 60) -> dict[str, Any]:
    """The storm's counts once ``check`` holds (or after ``bound`` seconds: the test then fails)."""
    deadline = time.monotonic() + bound
    while True:
        state = json.loads(await run(k, STORM_STATE))
        if check(state) or time.monotonic() > deadline:
            return state
        await asyncio.sleep(0.5)


def audit_lines(deployment: dict[str, Any], event: str, user: str, after: int) -> list[dict]:
    """The Hub log's audit records ``event`` about ``user`` written after byte ``after``."""
    text = deployment["hub"].log_file.read_bytes()[after:].decode(errors="replace")
    found = []
    for line in text.splitlines():
        start = line.find('{"ts"')
        if start >= 0 and f'"event": "{event}"' in line:
            record = json.loads(line[start:])
            if record.get("user") == user:
                found.append(record)
    return found


async def test_a_watch_storm_from_one_kernel_is_capped_and_shares_one_answer(two_users):
    """Item 4: bob's kernel opens 400 session watches with its server's token."""
    bob = await kernel(two_users, "bob")
    alice = await kernel(two_users, "alice")
    try:
        assert await run(bob, STORM_CODE) == "started"
        # Each watch beyond the cap ends the oldest at once (409 watch_superseded): the Hub holds
        # at most session_watches_per_token (2) of this token's watches, not 400.
        state = await storm_state(bob, lambda s: s["open"] <= 2)
        assert state["open"] <= 2, state
        assert state["answers"].get("409", 0) >= STORM - 2, state

        # another user's logout still reaches her kernel during the storm
        browser = login(two_users, "alice")
        state_a, _ = await until(alice, lambda s: s.get("token") is True)
        assert state_a["token"] is True
        browser.go("/hub/logout")
        state_a, _ = await until(alice, lambda s: "ended" in s and not s["file"])
        assert "ended" in state_a and state_a["file"] is False
        browser.close()

        # bob logs in again: every open watch wakes to one shared answer, audited once per
        # token (the kernel's watches and the server's own share the server's token)
        log = two_users["hub"].log_file
        offset = log.stat().st_size
        login(two_users, "bob").close()
        state = await storm_state(bob, lambda s: s["open"] == 0)
        assert state["open"] == 0, state
        time.sleep(2)  # the server's own watch may reconnect once more (a shared answer again)
        handed = [r for r in audit_lines(two_users, "tokens_handed", "bob", offset)]
        watch_lines = [r for r in handed if r["mode"] == "watch"]
        assert 1 <= len(watch_lines) <= 3, watch_lines
        assert {r["server"] for r in watch_lines} == {""}  # bob's default server's token
    finally:
        await bob.shutdown()
        await alice.shutdown()


async def test_a_token_an_admin_made_for_alice_cannot_read_her_tokens(two_users):
    """Item 7: only the API token of alice's own server reads her tokens; refusals are audited."""
    hub = two_users["hub"]
    login(two_users, "alice").close()
    made = hub.api("POST", "/users/alice/tokens", json={"scopes": [f"{TOKENS_SCOPE}!user=alice"]})
    assert made.status_code == 201, made.text
    token, token_id = made.json()["token"], made.json()["id"]
    offset = hub.log_file.stat().st_size
    response = httpx.get(
        f"{two_users['url']}/hub/api/ai-access/users/alice/tokens",
        headers={"Authorization": f"token {token}"},
        timeout=10,
    )
    assert response.status_code == 403  # (never print the body: it would hold her tokens)
    assert "own server" in response.json()["message"]
    (refused,) = audit_lines(two_users, "tokens_refused", "alice", offset)
    assert refused["token_id"] == token_id
    assert refused["requester"] == "alice" and refused["server"] is None
    assert "test-admin" in refused["token_note"]  # JupyterHub names who made it
    assert refused["reason"] == "not_a_server_token"
    assert not audit_lines(two_users, "tokens_handed", "alice", offset)


async def test_deleting_a_user_ends_their_session_at_the_registry(deployment, canaries):
    # alice: her groups may get registry tokens (bob's are refused them by exchange_policy)
    login(deployment, "alice").close()
    spawn(deployment, "alice")
    alice = await kernel(deployment, "alice")
    try:
        await hold_registry_token(alice)  # what her notebook's HttpxAuth() sends the registry
        token = await export_held_token(alice)
        canaries.register(token, "alice's model-registry token")
    finally:
        await alice.shutdown()
    assert registry_status(deployment, token) == 200
    hub = deployment["hub"]
    hub.api("DELETE", "/users/alice/server")
    deadline = time.monotonic() + 60
    while hub.api("DELETE", "/users/alice").status_code not in (204, 404):
        assert time.monotonic() < deadline, "alice's server did not stop"
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
