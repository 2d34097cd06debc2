"""The kernel-side credential helpers against a real loopback endpoint answering as the kernel's
AWS endpoint does (jupyter_ai_access/server/aws/endpoint.py): the ``aws-credentials`` command and
the Polars provider, with credentials, after the session has ended, and without a secret.

The same helpers in real kernels of the README's deployment: tests/test_engines_deployment.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from jupyter_ai_access_testing.ports import free_port

from jupyter_ai_access.engines.polars_credentials import KernelCredentialsForPolars
from jupyter_ai_access.errors import AWSCredentialsError

SECRET = "kernel-secret-0123456789"
ENDED = "AWS access ended with your JupyterHub session: Your JupyterHub session has ended."


class Endpoint:
    """What the kernel's endpoint answers next, and the Authorization headers it was sent."""

    def __init__(self) -> None:
        self.body: dict[str, Any] = {}
        self.seen: list[str] = []

    def credentials(self, expires_in: float) -> None:
        expiry = datetime.fromtimestamp(time.time() + expires_in, timezone.utc)
        self.body = {
            "AccessKeyId": "ASIAKERNEL",
            "SecretAccessKey": "kernel-secret-key",
            "Token": "kernel-session-token",
            "Expiration": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    def ended(self) -> None:
        self.body = {
            "error": "login_required",
            "message": ENDED,
            "login_url": "http://127.0.0.1:8000/hub/login",
            "AccessKeyId": "",
            "SecretAccessKey": "",
            "Token": "",
            "Expiration": ENDED,
        }


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[tuple[Endpoint, dict[str, str]]]:
    state = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.seen.append(self.headers.get("Authorization", ""))
            if self.headers.get("Authorization") != SECRET:
                self.send_response(401)
                body = b'{"error": "unauthorized", "message": "wrong secret"}'
            else:
                self.send_response(200)
                body = json.dumps(state.body).encode()
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    secret = tmp_path / "aws-secret"
    secret.write_text(SECRET, encoding="utf-8")
    environ = {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": f"http://127.0.0.1:{server.server_port}/aws",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(secret),
    }
    try:
        yield state, environ
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_polars_gets_the_kernels_credentials_for_at_most_a_minute(endpoint):
    state, environ = endpoint
    state.credentials(expires_in=950)  # as the endpoint advertises: 15 min + recheck_seconds
    provider = KernelCredentialsForPolars(environ=environ)
    before = time.time()
    credentials, expiry = provider()
    assert credentials == {
        "aws_access_key_id": "ASIAKERNEL",
        "aws_secret_access_key": "kernel-secret-key",
        "aws_session_token": "kernel-session-token",
    }
    assert before + 59 <= expiry <= time.time() + 60
    assert state.seen == [SECRET] and provider.fetches == 1


def test_an_advertised_expiry_sooner_than_the_minute_is_kept(endpoint):
    state, environ = endpoint
    state.credentials(expires_in=20)
    _, expiry = KernelCredentialsForPolars(seconds=60, environ=environ)()
    assert time.time() + 15 <= expiry <= time.time() + 21


def test_after_the_session_polars_gets_the_log_in_again_message(endpoint):
    state, environ = endpoint
    state.ended()
    with pytest.raises(AWSCredentialsError) as raised:
        KernelCredentialsForPolars(environ=environ)()
    assert ENDED in str(raised.value)


def test_without_the_kernels_endpoint_polars_is_told_what_is_missing():
    with pytest.raises(AWSCredentialsError, match="AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        KernelCredentialsForPolars(environ={})()
    with pytest.raises(ValueError, match="seconds must be > 0"):
        KernelCredentialsForPolars(seconds=0)


def test_the_credentials_command_says_the_session_ended_instead_of_printing_empty_keys(endpoint):
    state, environ = endpoint
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | environ
    command = [sys.executable, "-m", "jupyter_ai_access.cli", "aws-credentials"]
    state.credentials(expires_in=950)
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["AccessKeyId"] == "ASIAKERNEL"
    state.ended()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1 and done.stdout == ""  # an SDK gets no keys to cache
    assert ENDED in done.stderr
