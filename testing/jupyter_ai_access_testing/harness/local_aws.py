"""The local AWS emulator (moto's server, :mod:`jupyter_ai_access.local_aws`) as a child process.

``LocalAWS(pool_file, client_id).start()`` runs ``python -m jupyter_ai_access.local_aws`` on a
free loopback port and waits until it has seeded the roles, policies, bucket and identity pool and
switched IAM enforcement on; :attr:`LocalAWS.info` is its ``/health`` answer (role ARNs, bucket,
identity pool id). Its output goes to a log file that the leak check can watch.

``exchange="identity_pool"`` with ``issuer`` (and ``jwks_uri``) makes the roles trust the identity
pool and the emulator verify ID tokens and choose roles by group; :attr:`LocalAWS.operator_secret`
opens moto's management API (``/moto-api/``) through :meth:`LocalAWS.operator_get`.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from jupyter_ai_access.local_cognito.process import stop_process

from ..ports import free_port

__all__ = ["LocalAWS"]


class LocalAWS:
    """moto's server seeded from a pool description, on 127.0.0.1."""

    def __init__(
        self,
        pool_file: Path,
        client_id: str,
        log_file: Path,
        *,
        enforce: bool = True,
        exchange: str = "web_identity",
        issuer: str = "",
        jwks_uri: str = "",
    ) -> None:
        self.pool_file = pool_file
        self.client_id = client_id
        self.log_file = log_file
        self.enforce = enforce
        self.exchange, self.issuer, self.jwks_uri = exchange, issuer, jwks_uri
        self.operator_secret = secrets.token_urlsafe(24)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.info: dict[str, Any] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        #: the Hub's IAM user for the session-end deny (infra/'s permission): its key pair
        self.hub_credentials_file = log_file.with_name(f"hub-{secrets.token_hex(4)}.json")

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
        command.append(f"--exchange={self.exchange}")
        command.append(f"--hub-credentials-file={self.hub_credentials_file}")
        if self.issuer:
            command.append(f"--issuer={self.issuer}")
        if self.jwks_uri:
            command.append(f"--jwks-uri={self.jwks_uri}")
        if not self.enforce:
            command.append("--no-enforce")
        env = {**os.environ, "JAIA_LOCAL_AWS_OPERATOR_SECRET": self.operator_secret}
        with self.log_file.open("ab") as log:
            self._proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
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

    def hub_credentials(self) -> dict[str, str]:
        """The Hub's key pair (``AccessKeyId``, ``SecretAccessKey``) for the session-end deny."""
        return dict(json.loads(self.hub_credentials_file.read_text()))

    def operator_get(self, path: str, secret: str | None = None) -> tuple[int, bytes]:
        """GET ``path`` (e.g. ``/moto-api/data.json``) with the operator's secret header."""
        request = urllib.request.Request(  # noqa: S310 - loopback http
            self.endpoint + path,
            headers={"X-Local-AWS-Operator": self.operator_secret if secret is None else secret},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def stop(self) -> None:
        """Stop the emulator."""
        stop_process(self._proc)
        self._proc = None
