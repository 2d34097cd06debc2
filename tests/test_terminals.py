"""Tokens in JupyterLab terminals, as in kernels (a real server, real terminals, the stand-in Hub).

A terminal gets its own token folder, endpoint URL and secret, the server's Python first on
PATH, and ``jupyter-ai-access token`` prints the access token for shell tools; closing the
terminal removes its folder.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from jupyter_ai_access.server.app import AIAccessApp


@pytest.fixture
def jp_server_config(fake_hub_tokens, tmp_path):
    return {
        "ServerApp": {
            "jpserver_extensions": {"jupyter_ai_access": True, "jupyter_server_terminals": True}
        },
        "TerminalsExtensionApp": {
            "terminal_manager_class": "jupyter_ai_access.server.terminals.AIAccessTerminalManager"
        },
        "TokenBroker": {
            "hub_api_url": fake_hub_tokens.url,
            "user": "alice",
            "login_url": "https://hub.example.org/hub/login",
        },
        "KernelTokenStore": {"token_dir": str(tmp_path / "kernel-tokens")},
    }


async def wait_for(path: Path, seconds: float = 30.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().endswith("\n"):
            return path.read_text()
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} was not written within {seconds} s")


async def test_a_terminal_gets_the_users_token_and_the_servers_python(
    jp_serverapp,
    fake_hub_tokens,
    tmp_path,
    canaries,
):
    app = AIAccessApp.active
    assert app is not None
    await app.broker.get()
    manager = jp_serverapp.web_app.settings["terminal_manager"]
    model = manager.create()
    name = model["name"]
    folder = Path(app.store.kernels[f"terminal-{name}"])
    out = tmp_path / "out"
    code = (
        "import json, os, shutil, sys; from jupyter_ai_access.client import get_token; "
        "print(json.dumps({'python': sys.executable, 'token': get_token(), "
        "'dir': os.environ['JUPYTER_AI_ACCESS_DIR']}))"
    )
    command = (
        f'python -c "{code}" > {out}.json && '
        f"jupyter-ai-access token > {out}.token && echo done >> {out}.token\n"
    )
    manager.get_terminal(name).ptyproc.write(command)
    await wait_for(Path(f"{out}.token"))
    facts = json.loads(Path(f"{out}.json").read_text())
    token = Path(f"{out}.token").read_text().splitlines()[0]
    canaries.register(token, "terminal token")
    assert facts["token"] == token == fake_hub_tokens.issued[-1]
    assert Path(facts["python"]).parent == Path(__import__("sys").executable).parent
    assert facts["dir"] == str(folder)
    await manager.terminate(name, force=True)
    assert not folder.exists()
