"""What a user does on the README's deployment, for tests: log in, spawn, start kernels, probe.

``deployment`` is the dict :func:`.deployment.local_deployment` yields (``url``, ``hub``,
``passwords``, ``registry``). Every wait is bounded (:data:`BOUND` for a state to show).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from .hub import HubBrowser
from .notebooks import ServerKernel

__all__ = [
    "BOUND",
    "kernel",
    "login",
    "probe",
    "registry_status",
    "run",
    "spawn",
    "until",
]

BOUND = 15.0
"""How long a test waits for a state before failing, seconds (the product's goal is 5 s)."""


def login(deployment: dict[str, Any], name: str) -> HubBrowser:
    """``name`` signed in through the hosted page (asserts the login succeeded)."""
    browser = HubBrowser(deployment["url"])
    assert browser.login(name, deployment["passwords"][name]).status_code == 200
    return browser


def spawn(deployment: dict[str, Any], name: str) -> str:
    """Start ``name``'s server through the API and wait (120 s at most); its URL."""
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
    """A new kernel on ``name``'s running server (as the Hub's admin service)."""
    return await ServerKernel(
        f"{deployment['url']}/user/{name}/", token=deployment["hub"].admin_token
    ).start()


async def run(k: ServerKernel, code: str) -> str:
    """Run ``code`` in the kernel; its stripped stdout (asserts no error)."""
    out = await k.execute(code, timeout=60)
    assert out["error"] is None, out
    return str(out["stdout"]).strip()


PROBE = """
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


async def probe(k: ServerKernel) -> dict[str, Any]:
    """What the kernel can get now: the token file's presence and get_token()'s outcome."""
    state: dict[str, Any] = json.loads(await run(k, PROBE))
    return state


async def until(
    k: ServerKernel, check: Callable[[dict[str, Any]], bool]
) -> tuple[dict[str, Any], float]:
    """Probe until ``check`` holds or :data:`BOUND` passed; the last state and the time taken."""
    started = time.monotonic()
    while True:
        state = await probe(k)
        if check(state) or time.monotonic() - started > BOUND:
            return state, time.monotonic() - started
        await asyncio.sleep(0.2)


def registry_status(deployment: dict[str, Any], token: str) -> int:
    """The example registry's status for ``GET /datasets/demo`` with ``token``."""
    return httpx.get(
        f"{deployment['registry']}/datasets/demo",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).status_code
