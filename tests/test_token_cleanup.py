"""No valid token stays on disk after the server that put it there stops.

A real ``jupyter server`` (the extension enabled by the package's config) starts a real kernel;
the kernel's token folder must be gone once the server has been stopped with SIGTERM, or with
SIGINT (how JupyterHub stops a server first, and what a script's Ctrl-C sends), and a folder left
by a server that was killed outright is removed when a server of that user starts again, while
the folder of a server that still runs is kept. And on the README's deployment: stopping the Hub
(as stopping ``./run-demo`` does) leaves no token folder of alice's running kernel.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest
from jupyter_ai_access_testing.harness.deployment import watched_deployment
from jupyter_ai_access_testing.harness.hub import HubBrowser
from jupyter_ai_access_testing.harness.lab import LabProcess
from jupyter_ai_access_testing.harness.notebooks import ServerKernel

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(sys.platform != "linux", reason="signals and /proc as on Linux"),
]


def token_dir(runtime: Path) -> Path:
    """Where a server puts its kernels' folders (no Hub: user "local")."""
    return runtime / "jupyter-ai-access" / "local"


def start_kernel(lab: LabProcess, runtime: Path) -> Path:
    response = httpx.post(
        f"{lab.url}/api/kernels",
        headers={"Authorization": f"token {lab.token}"},
        json={"name": "python3"},
        timeout=60,
    )
    response.raise_for_status()
    folder = token_dir(runtime) / response.json()["id"]
    assert (folder / "secret").is_file(), f"no token folder for the kernel: {lab.log_tail()}"
    return folder


def server(folder: Path, runtime: Path) -> LabProcess:
    """A server whose kernels' folders go under ``runtime`` (shared by a user's servers)."""
    runtime.mkdir(mode=0o700, exist_ok=True)
    return LabProcess(folder, {"XDG_RUNTIME_DIR": str(runtime)}, module=("jupyter", "server"))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_the_server_removes_its_kernels_token_folders(tmp_path, sig):
    runtime = tmp_path / "runtime"
    lab = server(tmp_path / "lab", runtime).start()
    try:
        folder = start_kernel(lab, runtime)
        assert lab.proc is not None
        lab.proc.send_signal(sig)
        lab.proc.wait(60)
    finally:
        lab.stop()
    assert not folder.exists(), f"{folder} outlived its server: {sorted(folder.iterdir())}"
    assert list(token_dir(runtime).iterdir()) == []


def test_a_killed_servers_folders_go_at_the_next_start_a_running_ones_stay(tmp_path):
    runtime = tmp_path / "runtime"
    running = server(tmp_path / "running", runtime).start()
    try:
        kept = start_kernel(running, runtime)
        killed = server(tmp_path / "killed", runtime).start()
        try:
            left = start_kernel(killed, runtime)
            assert killed.proc is not None
            killed.proc.kill()  # no cleanup possible: the folder stays, tokens and all
            killed.proc.wait(30)
        finally:
            killed.stop()
        assert (left / "secret").is_file()
        base = token_dir(runtime)
        unowned = base / "kernel-of-an-older-version"  # no record of its server
        unowned.mkdir(mode=0o700)
        (unowned / "access_token").write_text("stale")
        outside = tmp_path / "not-a-token-folder"
        outside.mkdir()
        (base / "a-link").symlink_to(outside)

        restarted = server(tmp_path / "restarted", runtime).start()
        try:
            assert not left.exists()
            assert not unowned.exists()
            assert (kept / "secret").is_file(), "the folder of a running server was removed"
            assert outside.is_dir() and (base / "a-link").is_symlink()
        finally:
            restarted.stop()
    finally:
        running.stop()


@pytest.mark.hub
async def test_stopping_the_demo_removes_the_token_folders_of_running_kernels(
    tmp_path_factory, canaries, leak_watcher
):
    """The README's deployment: the Hub stopped with SIGTERM stops alice's server (SIGINT first)."""
    with watched_deployment(tmp_path_factory, canaries, leak_watcher) as deployment:
        hub = deployment["hub"]
        browser = HubBrowser(deployment["url"])
        assert browser.login("alice", deployment["passwords"]["alice"]).status_code == 200
        hub.api("POST", "/users/alice/server")
        deadline = time.monotonic() + 120
        while not ((hub.user("alice") or {}).get("servers") or {}).get("", {}).get("ready"):
            assert time.monotonic() < deadline, hub.log_tail()
            await asyncio.sleep(0.5)
        kernel = await ServerKernel(
            f"{deployment['url']}/user/alice/", token=hub.admin_token
        ).start()
        out = await kernel.execute("import os; print(os.environ['JUPYTER_AI_ACCESS_DIR'])")
        folder = Path(out["stdout"].strip())
        assert (folder / "access_token").is_file() and (folder / "secret").is_file()
        assert kernel.ws is not None
        kernel.ws.close()
        hub.stop(timeout=60)
        assert not folder.exists(), f"{folder} outlived the demo: {sorted(folder.iterdir())}"
