"""A Hub restart loses nothing: the README's deployment, restarted mid-session by SIGTERM and SIGKILL.

The repository's ``jupyterhub_config.py`` runs as ``./run-demo`` runs it: without
``$JUPYTERHUB_CRYPT_KEY`` (the configuration keeps the crypt key in its state folder). alice logs
in and out (her session is on the revocation feed); bob logs in, his server runs a kernel. Then the
Hub alone is stopped, with SIGTERM (it cleans up as configured) or SIGKILL (nothing cleans up),
and started again with the same state, ports and environment. Afterwards:

- the example registry (a Hub service that follows the feed, restarted with the Hub) still
  refuses alice's old access token, while it accepts bob's from before the restart;
- bob is still logged in (his browser's cookie), his server and the same kernel still run, and
  the kernel gets new tokens, which the Hub refreshes with the refresh token it sealed before
  the restart;
- bob's server watches the Hub again: his logout reaches the kernel within seconds, and the Hub
  revokes his refresh token at Cognito (it can still open it).
"""

from __future__ import annotations

import hashlib
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jupyter_ai_access_testing.harness.deployment import watched_deployment
from jupyter_ai_access_testing.harness.users import (
    BOUND,
    kernel,
    login,
    probe,
    registry_status,
    run,
    spawn,
    until,
)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, canaries, leak_watcher) -> Iterator[dict[str, Any]]:
    with watched_deployment(tmp_path_factory, canaries, leak_watcher, crypt_key_in_env=False) as hub:
        yield hub


def wait_for(check: Any, what: str, bound: float = BOUND) -> None:
    deadline = time.monotonic() + bound
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {bound} s")
        time.sleep(0.25)


def services_up(deployment: dict[str, Any]) -> bool:
    try:
        return all(
            httpx.get(f"{deployment[s]}/health", timeout=2).status_code == 200
            for s in ("registry", "cognito")
        )
    except httpx.TransportError:
        return False


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


KERNEL_TOKEN_HASH = """
import hashlib
from jupyter_ai_access.client import get_token
print(hashlib.sha256(get_token(force=True).encode()).hexdigest())
"""


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
async def test_a_hub_restart_loses_no_session_and_no_revocation(deployment, canaries, sig):
    hub = deployment["hub"]
    # alice's session ends before the restart: the registry follows the feed and refuses it
    alice = login(deployment, "alice")
    alice_token = hub.user("alice")["auth_state"]["access_token"]
    canaries.register(alice_token, "alice's access token")
    assert registry_status(deployment, alice_token) == 200
    alice.go("/hub/logout")
    alice.close()
    wait_for(lambda: registry_status(deployment, alice_token) == 401, "the registry refused alice")

    # bob stays logged in, with a running kernel
    bob = login(deployment, "bob")
    spawn(deployment, "bob")
    k = await kernel(deployment, "bob")
    try:
        await run(k, "marker = 'set before the restart'")
        assert (await probe(k))["token"] is True
        before = hub.user("bob")["auth_state"]
        canaries.register(before["access_token"], "bob's access token")
        server_pid = hub.user("bob")["servers"][""]["state"].get("pid")

        hub.restart(sig)
        wait_for(lambda: services_up(deployment), "the registry and the emulator came back", 60)

        # ended sessions stay refused by the registry; sessions that did not end still work
        statuses = (
            registry_status(deployment, alice_token),
            registry_status(deployment, before["access_token"]),
        )
        assert statuses == (401, 200), "(alice's ended session, bob's)"
        # bob is still logged in, and his server (the same process) still runs
        home = bob.go("/hub/home")
        assert home.status_code == 200 and "/hub/login" not in str(home.url)
        model = hub.user("bob")
        assert model["servers"][""]["ready"] is True
        assert model["servers"][""]["state"].get("pid") == server_pid

        # the same kernel (through the new proxy) gets new tokens, refreshed after the restart
        # with the refresh token sealed before it: bob's tokens come due (as an hour later)
        await k.reconnect()
        assert await run(k, "print(marker)") == "set before the restart"
        due = {**before, "access_token_expires_at": time.time() + 30}
        due["id_token_expires_at"] = due["access_token_expires_at"]
        assert hub.api("PATCH", "/users/bob", json={"auth_state": due}).status_code == 200
        fresh_hash = await run(k, KERNEL_TOKEN_HASH)
        after = hub.user("bob")["auth_state"]
        canaries.register(after["access_token"], "bob's refreshed access token")
        assert after["access_token"] != before["access_token"]
        assert fresh_hash == sha256(after["access_token"])
        assert registry_status(deployment, after["access_token"]) == 200

        # bob's server watches the new Hub: his logout reaches the kernel, and the Hub revokes
        # the refresh token it sealed before the restart
        refresh_token = hub.unseal(after["refresh_token"])
        assert refresh_token
        canaries.register(refresh_token, "bob's refresh token")
        bob.go("/hub/logout")
        state, _ = await until(k, lambda s: "ended" in s)
        assert "ended" in state
        answer = httpx.post(
            f"{deployment['cognito']}/oauth2/token",
            auth=(deployment["client_id"], deployment["secret"]),
            data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            timeout=10,
        )
        assert answer.json() == {"error": "invalid_grant"}
    finally:
        bob.close()
        await k.shutdown()
