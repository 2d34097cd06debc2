"""A Hub restart loses nothing: the README's deployment, restarted mid-session by SIGTERM and SIGKILL.

The repository's ``jupyterhub_config.py`` runs as ``./run-demo`` runs it: without
``$JUPYTERHUB_CRYPT_KEY`` (the configuration keeps the crypt key in its state folder). alice logs
in, her kernel gets the registry's token (bound to model-registry: the registry is strict), and she
logs out (that session is on the revocation feed); she logs in again and her server runs a kernel
holding the new session's registry token. Then the Hub alone is stopped, with SIGTERM (it cleans
up as configured) or SIGKILL (nothing cleans up), and started again with the same state, ports and
environment. Afterwards:

- the example registry (a Hub service that follows the feed, restarted with the Hub) still
  refuses the ended session's token, while it accepts the live session's from before the restart;
- alice is still logged in (her browser's cookie), her server and the same kernel still run, and
  the kernel gets new tokens, which the Hub refreshes with the refresh token it sealed before
  the restart;
- her server watches the Hub again: her logout reaches the kernel within seconds, and the Hub
  revokes her refresh token at Cognito (it can still open it).
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
    registry = f"{deployment['registry']}/datasets/demo"
    # alice's first session ends before the restart: the registry follows the feed and refuses
    # the model-registry token her kernel held in that session
    first = login(deployment, "alice")
    spawn(deployment, "alice")
    k0 = await kernel(deployment, "alice")
    try:
        await hold_registry_token(k0)
        ended_token = await export_held_token(k0)
    finally:
        await k0.shutdown()
    canaries.register(ended_token, "alice's model-registry token (ended session)")
    assert registry_status(deployment, ended_token) == 200
    first.go("/hub/logout")
    first.close()
    wait_for(
        lambda: registry_status(deployment, ended_token) == 401,
        "the registry refused the ended session's token",
    )

    # alice logs in again and stays logged in, with a running kernel
    browser = login(deployment, "alice")
    spawn(deployment, "alice")
    k = await kernel(deployment, "alice")
    try:
        await run(k, "marker = 'set before the restart'")
        assert (await probe(k))["token"] is True
        await hold_registry_token(k)
        live_token = await export_held_token(k)
        canaries.register(live_token, "alice's model-registry token")
        before = hub.user("alice")["auth_state"]
        canaries.register(before["access_token"], "alice's access token")
        server_pid = hub.user("alice")["servers"][""]["state"].get("pid")

        hub.restart(sig)
        wait_for(lambda: services_up(deployment), "the registry and the emulator came back", 60)

        # ended sessions stay refused by the registry; sessions that did not end still work
        statuses = (
            registry_status(deployment, ended_token),
            registry_status(deployment, live_token),
        )
        assert statuses == (401, 200), "(the ended session's token, the live session's)"
        # alice is still logged in, and her server (the same process) still runs
        home = browser.go("/hub/home")
        assert home.status_code == 200 and "/hub/login" not in str(home.url)
        model = hub.user("alice")
        assert model["servers"][""]["ready"] is True
        assert model["servers"][""]["state"].get("pid") == server_pid

        # the same kernel (through the new proxy) gets new tokens, refreshed after the restart
        # with the refresh token sealed before it: her tokens come due (as an hour later)
        await k.reconnect()
        assert await run(k, "print(marker)") == "set before the restart"
        due = {**before, "access_token_expires_at": time.time() + 30}
        due["id_token_expires_at"] = due["access_token_expires_at"]
        assert hub.api("PATCH", "/users/alice", json={"auth_state": due}).status_code == 200
        fresh_hash = await run(k, KERNEL_TOKEN_HASH)
        after = hub.user("alice")["auth_state"]
        canaries.register(after["access_token"], "alice's refreshed access token")
        assert after["access_token"] != before["access_token"]
        assert fresh_hash == sha256(after["access_token"])
        assert (await held_token_status(k, registry))[0] == 200  # what the kernel sends

        # her server watches the new Hub: her logout reaches the kernel, and the Hub revokes
        # the refresh token it sealed before the restart
        refresh_token = hub.unseal(after["refresh_token"])
        assert refresh_token
        canaries.register(refresh_token, "alice's refresh token")
        browser.go("/hub/logout")
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
        browser.close()
        await k.shutdown()
