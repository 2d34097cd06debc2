"""The ``jupyter-ai-access local-cognito`` command, run as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from jupyter_ai_access_testing.ports import free_port

from jupyter_ai_access.errors import (
    ConfigurationError,
    EmulatorStartError,
    NodeNotFoundError,
    NodePackagesMissingError,
)
from jupyter_ai_access.local_cognito.process import LocalCognito
from jupyter_ai_access.net import is_loopback

CLI = [sys.executable, "-c", "from jupyter_ai_access.cli import main; main()"]


def run_cli(
    *args: str, env: dict | None = None, timeout: float = 60
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.0.0.5", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host, expected):
    assert is_loopback(host) is expected


def test_local_cognito_starts_prints_issuer_users_and_serves_discovery(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [
            *CLI,
            "local-cognito",
            f"--port={port}",
            f"--state-dir={tmp_path / 'state'}",
            "--show-passwords",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "carol /" in line:
                break
        out = "".join(lines)
        issuer = f"http://127.0.0.1:{port}/us-east-1_LocalDemo"
        assert f"issuer (ID/access tokens 'iss'): {issuer}" in out
        passwords = json.loads((tmp_path / "state" / "passwords.json").read_text())
        assert f"alice / {passwords['alice']} / ml-training, ml-publishers" in out
        assert "jupyterhub: client_id=4jupyterhubdemo0000000000a" in out
        client_secrets = json.loads((tmp_path / "state" / "client_secrets.json").read_text())
        assert client_secrets["4jupyterhubdemo0000000000a"]
        for secret in client_secrets.values():  # client secrets are never printed
            assert secret not in out
        doc = httpx.get(f"{issuer}/.well-known/openid-configuration").json()
        assert doc["issuer"] == issuer
    finally:
        proc.terminate()
        proc.wait(20)
    assert proc.returncode == 0


def test_non_loopback_host_is_refused_unless_allowed(tmp_path):
    result = run_cli("local-cognito", "--host=0.0.0.0", f"--state-dir={tmp_path}")
    assert result.returncode == 2
    assert "is not a loopback address" in result.stderr
    assert "--allow-non-loopback" in result.stderr
    assert not (tmp_path / "keys.json").exists()


def test_missing_node_says_what_to_install(tmp_path):
    result = run_cli(
        "local-cognito",
        f"--state-dir={tmp_path}",
        env={"JUPYTER_AI_ACCESS_NODE": str(tmp_path / "no-node-here")},
    )
    assert result.returncode == 2
    assert "Node.js was not found" in result.stderr
    assert "apt-get install nodejs" in result.stderr


def test_missing_node_packages_say_how_to_install_them(tmp_path):
    result = run_cli(
        "local-cognito",
        f"--state-dir={tmp_path}",
        env={"JUPYTER_AI_ACCESS_NODE_MODULES": str(tmp_path)},
    )
    assert result.returncode == 2
    assert "oidc-provider is not installed" in result.stderr
    assert "npm ci" in result.stderr


def test_too_old_node_is_refused(tmp_path):
    fake = tmp_path / "node"
    fake.write_text("#!/bin/sh\necho v18.19.0\n")
    fake.chmod(0o755)
    with pytest.raises(NodeNotFoundError, match=r"v18.19.0 .* too old"):
        LocalCognito(node=str(fake)).check_node()


def test_bad_pool_file_is_reported_before_anything_starts(tmp_path):
    bad = tmp_path / "pool.json"
    bad.write_text(
        json.dumps(
            {
                "region": "eu-west-1",
                "user_pool_id": "eu-west-1_X1",
                "app_clients": [
                    {"name": "c", "client_id": "c", "allowed_oauth_flows": ["implicit"]}
                ],
            }
        )
    )
    result = run_cli("local-cognito", f"--pool={bad}", f"--state-dir={tmp_path / 's'}")
    assert result.returncode == 2
    assert "app_clients[0] 'c': the implicit grant is not offered" in result.stderr
    assert not (tmp_path / "s").exists()


def test_port_in_use_is_a_clear_error(tmp_path, local_cognito):
    emulator = LocalCognito(port=local_cognito.port, state_dir=str(tmp_path / "s"))
    with pytest.raises(EmulatorStartError, match="could not listen") as info:
        emulator.start()
    assert "Choose another --port" in str(info.value)


def test_invalid_port_setting_names_the_trait():
    with pytest.raises(ConfigurationError, match=r"LocalCognito.port must be 0-65535"):
        LocalCognito(port=70000)


def test_node_packages_found_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_AI_ACCESS_NODE_MODULES", str(tmp_path))
    assert LocalCognito().node_modules == str(tmp_path)
    with pytest.raises(NodePackagesMissingError, match="oidc-provider is not installed"):
        LocalCognito().check_node_modules()
    # Without the variable: the repository's node_modules (npm ci), found above the package.
    monkeypatch.delenv("JUPYTER_AI_ACCESS_NODE_MODULES")
    repository = Path(__file__).resolve().parent.parent / "node_modules"
    assert LocalCognito().check_node_modules() == repository.resolve()  # a link is followed


def test_generated_client_secrets_are_private_and_stable(tmp_path):
    pool = {
        "region": "us-east-1",
        "user_pool_id": "us-east-1_Gen000001",
        "app_clients": [
            {
                "name": "jobs",
                "client_id": "jobs000000000000000000000a",
                "generate_secret": True,
                "allowed_oauth_flows": ["client_credentials"],
                "allowed_oauth_scopes": ["rs/read"],
            }
        ],
        "resource_servers": [{"identifier": "rs", "scopes": [{"name": "read"}]}],
    }
    path = tmp_path / "pool.json"
    path.write_text(json.dumps(pool))
    emulator = LocalCognito(port=free_port(), pool_file=str(path), state_dir=str(tmp_path / "state"))
    with emulator as running:
        secret = running.secret_for("jobs")
        response = httpx.post(
            running.endpoint("token"),
            data={"grant_type": "client_credentials"},
            auth=("jobs000000000000000000000a", secret),
        )
        assert response.status_code == 200
    secrets_file = tmp_path / "state" / "client_secrets.json"
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    with LocalCognito(port=free_port(), pool_file=str(path), state_dir=str(tmp_path / "state")) as running:
        assert running.secret_for("jobs") == secret
    assert secret not in repr(running)


def test_passwords_are_not_printed_when_the_output_is_not_a_terminal(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "local-cognito", f"--port={port}", f"--state-dir={tmp_path / 'state'}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if not line or "carol /" in line:
                break
        out = "".join(lines)
        assert "alice / **** / ml-training, ml-publishers" in out
        assert "Passw0rd" not in out
    finally:
        proc.terminate()
        proc.wait(20)


# ---------------------------------------------------------------- stopped during start-up
def emulator_children(parent: int) -> dict[int, str]:
    """Live emulator processes (node running server.mjs) whose parent is ``parent``: pid ->
    start time, from /proc."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = process_stat(int(entry))
            if stat and int(stat[1]) == parent and b"server.mjs" in cmdline(int(entry)):
                found[int(entry)] = stat[19]
    return found


def process_stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (state, ppid, ...), or None when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def still_running(pid: int, started: str) -> bool:
    """The same process (same start time), alive and not a zombie."""
    stat = process_stat(pid)
    return stat is not None and stat[19] == started and stat[0] not in ("Z", "X")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_the_command_during_start_up_stops_the_emulator(tmp_path, sig):
    """Stopped before the emulator is ready (a managed service stopped by the Hub, Ctrl-C), the
    command must not leave its node child running."""
    slow = tmp_path / "slow-start.cjs"  # node blocks here before the emulator starts listening
    slow.write_text("Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 600000);\n")
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [*CLI, "local-cognito", f"--state-dir={tmp_path / 'state'}"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "NODE_OPTIONS": f"--require={slow}"},
        )
    children: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 60  # bounded: key generation and node start
        while not children and proc.poll() is None and time.monotonic() < deadline:
            children = emulator_children(proc.pid)
            time.sleep(0.02)
        assert children, f"no emulator child appeared:\n{stderr.read_text()}"
        proc.send_signal(sig)
        proc.wait(60)
        deadline = time.monotonic() + 10  # bounded: an orphan would run for 10 minutes
        while any(still_running(*c) for c in children.items()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [pid for pid, started in children.items() if still_running(pid, started)] == []
        assert "Traceback" not in stderr.read_text()
    finally:
        for pid, started in children.items():  # never leave an orphan behind, even on failure
            if still_running(pid, started):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
