"""The in-process Jupyter server of pytest-jupyter with the extension, against the stand-in Hub.

:func:`server_config` is the extension's configuration for ``jp_server_config`` (the token
broker asks :class:`~jupyter_ai_access_testing.fake_hub.FakeHubTokens`); :func:`start_kernel`
and :func:`run` drive real ipykernel kernels of that server, handing their output to the leak
check.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from typing import Any

from ..fake_hub import FakeHubTokens
from ..leaks import observe

__all__ = ["run", "server_config", "start_kernel"]


def server_config(hub: FakeHubTokens, tmp_path: Path) -> dict[str, Any]:
    """The server with the extension and its provisioner, tokens from ``hub`` for alice."""
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_ai_access": True}},
        "KernelProvisionerFactory": {"default_provisioner_name": "ai-access-provisioner"},
        "TokenBroker": {
            "hub_api_url": hub.url,
            "user": "alice",
            "renew_before": 20,
            "login_url": "https://hub.example.org/hub/login",
        },
        "KernelTokenStore": {"token_dir": str(tmp_path / "kernel-tokens")},
    }


async def start_kernel(jp_serverapp: Any) -> str:
    """A new python3 kernel of the server; its id."""
    kernel_id: str = await jp_serverapp.kernel_manager.start_kernel(kernel_name="python3")
    return kernel_id


async def run(jp_serverapp: Any, kernel_id: str, code: str, timeout: float = 60) -> str:
    """Execute ``code`` in a real kernel; return its stdout (raise with the traceback on error).

    What it writes to stderr (a library's warning, say) is watched for leaks like the rest, but
    not returned: a test parses what the code printed.
    """
    km = jp_serverapp.kernel_manager.get_kernel(kernel_id)
    client = km.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=timeout)
        msg_id = client.execute(textwrap.dedent(code))
        out: list[str] = []
        seen: list[str] = []
        error = None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = await client.get_iopub_msg(timeout=timeout)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "stream":
                seen.append(msg["content"]["text"])
                if msg["content"].get("name") == "stdout":
                    out.append(msg["content"]["text"])
            elif kind == "error":
                error = "\n".join(msg["content"]["traceback"])
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                break
        observe(f"kernel output of {kernel_id}", "".join(seen) + (error or ""))
        if error:
            raise AssertionError(f"kernel error:\n{error}")
        return "".join(out)
    finally:
        client.stop_channels()
