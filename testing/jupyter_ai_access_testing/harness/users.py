"""What a user does on the README's deployment, for tests: log in, spawn, start kernels, probe.

``deployment`` is the dict :func:`.deployment.local_deployment` yields (``url``, ``hub``,
``passwords``, ``registry``). Every wait is bounded (:data:`BOUND` for a state to show).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from .hub import HubBrowser
from .notebooks import ServerKernel

__all__ = [
    "BOUND",
    "export_held_token",
    "held_token_status",
    "hold_registry_token",
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


HOLD = """
from jupyter_ai_access.client import get_token
_held_token = get_token(audience="model-registry")
"""

HELD_STATUS = """
import httpx, json
_r = httpx.get({url!r}, headers={{"Authorization": "Bearer " + _held_token}}, timeout=10)
print(json.dumps([_r.status_code, _r.headers.get("WWW-Authenticate", "") + " " + _r.text]))
"""


async def hold_registry_token(k: ServerKernel) -> None:
    """Keep, in the kernel's memory, the token its ``HttpxAuth()`` sends the registry.

    The deployment's URL map (``KernelTokenStore.audiences``) gives the registry's URL the
    audience model-registry with no scopes of its own: the same cached token as
    ``get_token(audience="model-registry")``. The token never leaves the kernel (no output).
    """
    await run(k, HOLD)


async def held_token_status(k: ServerKernel, url: str) -> tuple[int, str]:
    """``GET url`` from the kernel with the token :func:`hold_registry_token` kept: the status,
    and the refusal's WWW-Authenticate header and body."""
    status, text = json.loads(await run(k, HELD_STATUS.format(url=url)))
    return int(status), str(text)


EXPORT = """
import os
_path = os.path.expanduser("~/.held-registry-token")
_fd = os.open(_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
os.write(_fd, _held_token.encode())
os.close(_fd)
print(_path)
"""


async def export_held_token(k: ServerKernel) -> str:
    """The token :func:`hold_registry_token` kept, through a 0600 file in the user's home that
    the test (root) reads and removes: never in kernel output."""
    path = Path(await run(k, EXPORT))
    try:
        return path.read_text()
    finally:
        path.unlink()
