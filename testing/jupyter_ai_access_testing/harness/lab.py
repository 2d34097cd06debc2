"""A real ``jupyter lab`` process on loopback for tests (no JupyterHub around), and a registry.

:class:`LabProcess` starts ``<python> -m jupyter lab`` (or a given command, e.g. Binder's
``start`` script in front of it) on a free port with a known Jupyter token, private Jupyter
folders and a log file, waits until ``api/status`` answers, and stops it.
:func:`start_registry` runs ``examples/model_registry.py`` as a process on a free port.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from ..ports import free_port
from ..processes import stop_tree

__all__ = ["LabProcess", "start_registry", "wait_for"]


def wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 90) -> None:
    """Poll ``url`` until it answers below 500; fail with the log's tail when the process ends."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited ({proc.returncode}):\n{_tail(log)}")
        try:
            if httpx.get(url, timeout=5).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout} s:\n{_tail(log)}")
        time.sleep(0.3)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class LabProcess:
    """``jupyter lab`` as a child process, its state in ``folder``."""

    def __init__(
        self,
        folder: Path,
        env: dict[str, str],
        *,
        args: Sequence[str] = (),
        port: int | None = None,
        base_url: str = "/",
        prefix: Sequence[str] = (),
        python: str = sys.executable,
        module: Sequence[str] = ("jupyter", "lab"),
        own_group: bool = False,
    ) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.base_url = base_url
        self.token = secrets.token_hex(24)
        self.url = f"http://127.0.0.1:{self.port}{base_url.rstrip('/')}"
        self.root = folder / "notebooks"
        self.runtime = folder / "runtime"
        self.log_file = folder / "lab.log"
        for path in (self.root, self.runtime):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "COGNITO_"))
        }
        self.env.update(
            {
                "JUPYTER_CONFIG_DIR": str(folder / "config"),
                "JUPYTER_DATA_DIR": str(folder / "data"),
                "JUPYTER_RUNTIME_DIR": str(self.runtime / "jupyter"),
                "XDG_RUNTIME_DIR": str(self.runtime),  # the kernels' token folders go here
                "JUPYTER_PLATFORM_DIRS": "1",
            }
        )
        self.env.update(env)
        self.command = [
            *prefix,
            python,
            "-m",
            *module,
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.base_url={base_url}",
            f"--ServerApp.root_dir={self.root}",
            f"--IdentityProvider.token={self.token}",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            *args,
        ]
        if os.getuid() == 0:
            self.command.append("--allow-root")
        self.own_group = own_group  # a process group of its own, stopped whole (start scripts)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 90) -> LabProcess:
        """Start the server and wait until its API answers."""
        log = self.log_file.open("ab")
        self.proc = subprocess.Popen(
            self.command,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,  # as under JupyterHub: no terminal to confirm a Ctrl-C on
            cwd=self.root,
            start_new_session=self.own_group,
        )
        try:
            wait_for(f"{self.url}/api/status?token={self.token}", self.proc, self.log_file, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def api(self, path: str) -> httpx.Response:
        """GET ``<base_url><path>`` with the server's token."""
        return httpx.get(
            f"{self.url}/{path}", headers={"Authorization": f"token {self.token}"}, timeout=30
        )

    def stop(self) -> None:
        """SIGTERM (to its own process group, when it has one), then SIGKILL after 20 s; then
        whatever it left running (its kernels: :func:`.processes.stop_tree`)."""
        if self.own_group and self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
        stop_tree(self.proc, 20)
        if self.own_group and self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # what ignored SIGTERM in its group

    def log_tail(self) -> str:
        """The last lines of the server's log."""
        return _tail(self.log_file)


def start_registry(
    script: Path, folder: Path, env: dict[str, str], python: str = sys.executable
) -> tuple[subprocess.Popen[bytes], str]:
    """Run the example registry on a free port; return the process and its URL."""
    port = free_port()
    log = folder / "registry.log"
    proc = subprocess.Popen(
        [python, str(script)],
        env={
            **os.environ,
            **env,
            "REGISTRY_PORT": str(port),
            "REGISTRY_DIR": str(folder / "models"),
        },
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_for(f"{url}/health", proc, log, timeout=30)
    return proc, url
