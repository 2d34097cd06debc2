"""The local AWS emulator (moto's server, :mod:`jupyter_ai_access.local_aws`) as a child process.

``LocalAWS(pool_file, client_id).start()`` runs ``python -m jupyter_ai_access.local_aws`` on a
free loopback port and waits until it has seeded the roles, policies, bucket and identity pool and
switched IAM enforcement on; :attr:`LocalAWS.info` is its ``/health`` answer (role ARNs, bucket,
identity pool id). Its output goes to a log file that the leak check can watch.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from jupyter_ai_access.local_cognito.process import find_free_port, stop_process

__all__ = ["LocalAWS"]


class LocalAWS:
    """moto's server seeded from a pool description, on 127.0.0.1."""

    def __init__(
        self, pool_file: Path, client_id: str, log_file: Path, *, enforce: bool = True
    ) -> None:
        self.pool_file = pool_file
        self.client_id = client_id
        self.log_file = log_file
        self.enforce = enforce
        self.port = find_free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.info: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> LocalAWS:
        """Start and wait until seeded (raises with the log's tail when it does not come up)."""
        command = [
            sys.executable,
            "-m",
            "jupyter_ai_access.local_aws",
            f"--pool={self.pool_file}",
            f"--port={self.port}",
            f"--client-id={self.client_id}",
        ]
        if not self.enforce:
            command.append("--no-enforce")
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.endpoint}/health", timeout=2) as r:  # noqa: S310
                    self.info = json.loads(r.read())
                    return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        self.stop()
        tail = self.log_file.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the local AWS emulator did not come up:\n{tail}")

    def role(self, group: str) -> str:
        """The ARN of a group's role."""
        return str(self.info["roles"][group])

    def stop(self) -> None:
        """Stop the emulator."""
        stop_process(self._proc)
        self._proc = None
