"""The test harness stops what it started and removes the accounts it made, run as a script runs it.

A small pytest session (the README's deployment, alice's server and a kernel: everything a real
run starts) is run the way ``./run-tests &`` runs in a script, with SIGINT ignored and in the
background of a shell (``bash -c '... & wait'``); it completes, or is stopped with SIGTERM while
the deployment runs. Once it has ended, no process of that run and
no system account of it may remain: they are found by a marker in the environment, the run's
folder (in command lines, environments and working folders) and the run's account prefix.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from jupyter_ai_access_testing.processes import ident, remove_accounts, terminate

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.hub,
    pytest.mark.skipif(sys.platform != "linux", reason="/proc as on Linux"),
]

INNER = """
import json, os, pwd, time
from pathlib import Path

import httpx
from jupyter_ai_access_testing.harness.deployment import local_deployment
from jupyter_ai_access_testing.harness.hub import HubBrowser


def test_a_deployment_with_a_server_and_a_kernel(tmp_path):
    root = Path(os.environ["HARNESS_TEST_REPO"])
    with local_deployment(root, tmp_path / "deployment") as deployment:
        report = {"prefix": deployment["account_prefix"], "isolated": deployment["isolated"]}
        Path(os.environ["HARNESS_TEST_REPORT"]).write_text(json.dumps(report))
        browser = HubBrowser(deployment["url"])
        assert browser.login("alice", deployment["passwords"]["alice"]).status_code == 200
        hub = deployment["hub"]
        hub.api("POST", "/users/alice/server")
        deadline = time.monotonic() + 120
        while not ((hub.user("alice") or {}).get("servers") or {}).get("", {}).get("ready"):
            assert time.monotonic() < deadline, hub.log_tail()
            time.sleep(0.5)
        response = httpx.post(
            f"{deployment['url']}/user/alice/api/kernels",
            headers={"Authorization": f"token {hub.admin_token}"},
            json={"name": "python3"},
            timeout=60,
        )
        assert response.status_code == 201, response.text
        if deployment["isolated"]:
            report["uid"] = pwd.getpwnam(deployment["account_prefix"] + "alice").pw_uid
        report["ready"] = os.getpid()
        Path(os.environ["HARNESS_TEST_REPORT"]).write_text(json.dumps(report))
        # the kernel runs; with HARNESS_TEST_WAIT, until the run is stopped from outside
        time.sleep(300 if os.environ.get("HARNESS_TEST_WAIT") else 2)
"""


def accounts(prefix: str) -> list[str]:
    lines = Path("/etc/passwd").read_text(encoding="utf-8").splitlines()
    return [line.split(":", 1)[0] for line in lines if line.startswith(prefix)]


def processes_of_the_run(marker: str, folder: Path, prefix: str) -> dict[int, str]:
    """Running processes with the marker or the run's folder, or of the run's accounts."""
    uids = set()
    for line in Path("/etc/passwd").read_text(encoding="utf-8").splitlines():
        fields = line.split(":")
        if fields[0].startswith(prefix):
            uids.add(int(fields[2]))
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        proc = Path("/proc") / name
        try:
            if proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue  # ended, waiting to be collected
            cmdline = proc.joinpath("cmdline").read_bytes()
            environ = proc.joinpath("environ").read_bytes()
            cwd = os.readlink(proc / "cwd")
            uid = proc.stat().st_uid
        except OSError:
            continue
        if (
            marker.encode() in environ
            or str(folder).encode() in cmdline + environ
            or cwd.startswith(str(folder))
            or uid in uids
        ):
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")[:150]
            found[int(name)] = command
    return found


@pytest.mark.parametrize("ending", ["completes", "SIGTERM"])
def test_a_background_run_with_sigint_ignored_leaves_no_process_and_no_account(tmp_path, ending):
    """The run completes, or is stopped with SIGTERM while the deployment and kernel run."""
    inner = tmp_path / "test_inner.py"
    inner.write_text(INNER, encoding="utf-8")
    report = tmp_path / "report.json"
    marker = f"harness-run-{secrets.token_hex(8)}"
    env = {
        **os.environ,
        "HARNESS_TEST_REPO": str(ROOT),
        "HARNESS_TEST_REPORT": str(report),
        "HARNESS_TEST_MARKER": marker,
    }
    if ending == "SIGTERM":
        env["HARNESS_TEST_WAIT"] = "1"
    pytest_command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "jupyter_ai_access_testing.pytest_plugin",
        "-p",
        "no:cacheprovider",
        "-q",
        f"--basetemp={tmp_path / 'run'}",
        str(inner),
    ]
    script = " ".join(f"'{word}'" for word in pytest_command) + " & wait"
    with (tmp_path / "output.txt").open("w+") as output:
        shell = subprocess.Popen(
            ["bash", "-c", script],
            env=env,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
            start_new_session=True,
        )
        try:
            if ending == "SIGTERM":
                deadline = time.monotonic() + 300
                while "ready" not in (report.read_text() if report.exists() else ""):
                    if shell.poll() is not None or time.monotonic() > deadline:
                        output.seek(0)  # the inner run ended (or hangs) before it was ready
                        pytest.fail(f"the inner run never got ready:\n{output.read()[-3000:]}")
                    time.sleep(0.5)
                os.kill(json.loads(report.read_text())["ready"], signal.SIGTERM)
            returncode = shell.wait(600)
        finally:
            if shell.poll() is None:
                os.killpg(shell.pid, signal.SIGKILL)
        output.seek(0)
        text = output.read()
    made = json.loads(report.read_text())
    prefix = made["prefix"]
    left = processes_of_the_run(marker, tmp_path, prefix)
    left_accounts = accounts(prefix)
    # what the run left is removed here, before judging, so that a failure leaves nothing either
    terminate([p for p in map(ident, left) if p is not None])
    remove_accounts(prefix)
    assert not left, "\n".join(f"{pid}: {command}" for pid, command in left.items())
    assert left_accounts == []
    # (`wait` with no operand returns 0 whatever the job did: pytest's summary tells)
    expected = "1 passed" if ending == "completes" else "KeyboardInterrupt: signal 15"
    assert returncode == 0 and expected in text, text[-3000:]
    # alice's runtime folder (her kernels' token folders) went with her account
    assert not (Path("/run/jupyter-ai-access") / f"{prefix}alice").exists()
    if "uid" in made:  # (older spawners keyed it by uid)
        runtime = Path("/run/jupyter-ai-access") / str(made["uid"])
        assert not runtime.exists() or runtime.stat().st_mtime > report.stat().st_mtime, (
            f"{runtime} outlived its account"
        )
