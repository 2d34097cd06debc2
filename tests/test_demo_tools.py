"""What a person uses in the README's deployment besides the notebook: the terminal, the AWS CLI,
and stopping it.

The repository's ``jupyterhub_config.py`` on free ports (``local_deployment``); alice signs in
through the hosted sign-in page and her server is spawned (as root: under her own account).

- JupyterLab's terminal is bash: the README's shell lines (``${VAR/x/y}``) work, and the
  per-user account's shell is bash (it has no password: nobody can log in to it);
- ``aws sts get-caller-identity`` in a notebook answers as alice's role (the AWS CLI is in the
  demo extra and on the servers' ``PATH``);
- stopping the Hub while alice's server watches her session logs no 500 and no traceback.
"""

from __future__ import annotations

import asyncio
import json
import pwd
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jupyter_ai_access_testing.harness.deployment import watched_deployment
from jupyter_ai_access_testing.harness.users import kernel, login, run, spawn
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

from jupyter_ai_access.hub.spawner import account_name

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, canaries, leak_watcher) -> Iterator[dict[str, Any]]:
    with watched_deployment(tmp_path_factory, canaries, leak_watcher) as hub:
        login(hub, "alice").close()
        spawn(hub, "alice")
        yield hub


async def terminal(deployment: dict[str, Any], name: str, line: str) -> str:
    """Open a JupyterLab terminal of ``name`` (jupyter_server_terminals' API), type ``line``,
    and return what the terminal shows until the line's output ends with ``END``."""
    server = f"{deployment['url']}/user/{name}/"
    headers = {"Authorization": f"token {deployment['hub'].admin_token}"}
    async with httpx.AsyncClient(timeout=60) as client:
        created = await client.post(f"{server}api/terminals", headers=headers)
        created.raise_for_status()
    term = created.json()["name"]
    ws = await websocket_connect(
        HTTPRequest(f"{server}terminals/websocket/{term}".replace("http", "ws", 1), headers=headers)
    )
    try:
        await ws.write_message(json.dumps(["stdin", line + "\r"]))
        await ws.write_message(json.dumps(["stdin", "echo E''ND\r"]))
        shown, deadline = "", time.monotonic() + 60
        while "END" not in shown.replace("E''ND", ""):
            assert time.monotonic() < deadline, f"the terminal showed: {shown!r}"
            message = await asyncio.wait_for(ws.read_message(), timeout=60)
            assert message is not None, f"the terminal closed; it showed: {shown!r}"
            kind, *content = json.loads(message)
            if kind == "stdout":
                shown += content[0]
        return shown.replace("E''ND", "")
    finally:
        ws.close()
        async with httpx.AsyncClient(timeout=60) as client:
            await client.delete(f"{server}api/terminals/{term}", headers=headers)


async def test_the_terminal_is_bash_and_the_readme_s_shell_lines_work(deployment):
    # bash syntax, as in the README's examples: dash (/bin/sh) says "Bad substitution"
    shown = await terminal(deployment, "alice", 'x=shell; echo "${x/sh/b} $BASH_VERSION"')
    assert "Bad substitution" not in shown
    assert "bell 5." in shown, shown
    if deployment["isolated"]:  # the account's own shell: what the terminal would fall back to
        account = account_name(deployment["account_prefix"], "alice")
        assert pwd.getpwnam(account).pw_shell == "/bin/bash"


def test_the_demo_installs_the_aws_cli():
    # scripts/bootstrap installs the demo with `pip install -e ".[hub,server,demo]"`
    demo = re.search(r"^demo = \[(.*?)^\]", (ROOT / "pyproject.toml").read_text(), re.M | re.S)
    assert demo is not None and re.search(r'^\s*"awscli[<>=]', demo.group(1), re.M)


async def test_the_aws_cli_in_a_notebook_is_the_user_with_her_role(deployment):
    k = await kernel(deployment, "alice")
    try:
        out = await run(k, "!aws sts get-caller-identity --output json 2>&1")
    finally:
        await k.shutdown()
    assert '"Arn"' in out, out  # not "/bin/sh: 1: aws: not found"
    arn = json.loads(out[out.index("{") :])["Arn"]
    assert ":assumed-role/" in arn and arn.endswith("/alice"), arn


@pytest.fixture(scope="module")
def stopping(deployment) -> str:
    """The Hub's log from "initiating shutdown" on, after stopping it (SIGTERM, as Ctrl-C would
    SIGINT) while alice's server holds her session watch open (a long-poll)."""
    hub = deployment["hub"]
    hub.stop(timeout=60)
    text = hub.log_file.read_text(errors="replace")
    return text[text.index("initiating shutdown") :]


def test_stopping_the_demo_prints_no_traceback(stopping):
    # the Hub stops its services with SIGINT: the example registry stops quietly
    assert "Traceback" not in stopping and "KeyboardInterrupt" not in stopping, stopping[-3000:]
    assert "model registry stopped" in stopping


def test_stopping_the_demo_logs_no_500(stopping):
    assert " 500 GET " not in stopping, stopping[-3000:]
