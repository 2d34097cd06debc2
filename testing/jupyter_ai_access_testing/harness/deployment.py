"""The README's deployment (the repository's ``jupyterhub_config.py``) on free ports, for tests.

The emulator and the example registry run as Hub services, as under ``./run-demo``; the demo
pool's passwords and client secrets are replaced by canaries (when a registry is given). Run as
root, the Hub isolates users with system accounts that carry a prefix of this run and are
removed afterwards, so tests never touch a demo's ``jaia-*`` accounts. The deployment leaves
users' servers running when the Hub stops (``cleanup_servers``, for restarts): the fixture stops
them through the API before it stops the Hub. ``hub.restart(signal)`` restarts the Hub alone.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from jupyter_ai_access.demo.settings import DEMO_POOL_FILE

from ..canary import CanaryRegistry
from ..leaks import LeakWatcher
from ..ports import free_port
from ..processes import register_account_prefix, remove_accounts
from . import ROOT
from .hub import HubProcess

__all__ = ["local_deployment", "watched_deployment"]


@contextlib.contextmanager
def local_deployment(
    root: Path,
    folder: Path,
    canaries: CanaryRegistry | None = None,
    watch_log: Any = None,
    *,
    crypt_key_in_env: bool = True,
    env: dict[str, str] | None = None,
) -> Iterator[dict[str, Any]]:
    """Run ``root/jupyterhub_config.py`` with its state in ``folder``; yield its URLs and secrets.

    ``env``: more settings for the configuration (e.g. ``{"JAIA_MLFLOW": "on", ...}``).

    ``watch_log(path)`` is called with the Hub's log file (the leak check watches it).
    ``crypt_key_in_env=False`` starts it as ``./run-demo`` does, without
    ``$JUPYTERHUB_CRYPT_KEY``: the configuration keeps a key in its state folder.
    """

    def secret(name: str) -> str:
        return canaries.secret(name) if canaries else f"{name}-{secrets.token_urlsafe(16)}"

    port, cognito_port, registry_port = free_port(), free_port(), free_port()
    aws_port = free_port()
    pool = json.loads(DEMO_POOL_FILE.read_text())
    passwords = {}
    for user in pool["users"]:
        user["password"] = passwords[user["username"]] = secret(f"pw-{user['username']}")
    hub_client = pool["app_clients"][0]
    hub_client["client_secret"] = secret("demo-hub-secret")
    hub_client["callback_urls"] = [f"http://127.0.0.1:{port}/hub/oauth_callback"]
    hub_client["logout_urls"] = [f"http://127.0.0.1:{port}/hub/logout-complete"]
    pool["app_clients"][1]["client_secret"] = secret("demo-machine-secret")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "pool.json").write_text(json.dumps(pool))
    config = f"""
load_subconfig({str(root / "jupyterhub_config.py")!r})
c.JupyterHub.redirect_to_server = True
c.JupyterHub.services.append({{"name": "test-admin", "api_token": ADMIN_TOKEN}})
# load_subconfig replaces lists: give the test service its role back.
c.JupyterHub.load_roles.append({{"name": "test-admin", "services": ["test-admin"],
    "scopes": ["admin:users", "admin:auth_state", "read:users", "list:users", "admin:servers",
               "access:servers", "tokens"]}})
"""
    prefix = register_account_prefix(f"jt{secrets.token_hex(3)}-")  # swept at session end
    hub = HubProcess(
        folder / "hub",
        config,
        port=port,
        env={
            "JAIA_STATE_DIR": str(folder / "state"),
            "JAIA_HUB_PORT": str(port),
            "JAIA_COGNITO_PORT": str(cognito_port),
            "JAIA_REGISTRY_PORT": str(registry_port),
            "JAIA_AWS_PORT": str(aws_port),
            "JAIA_POOL_FILE": str(folder / "pool.json"),
            "JAIA_ACCOUNT_PREFIX": prefix,
            # opens the local AWS's management API (/moto-api/) to the tests, as to an operator
            "JAIA_LOCAL_AWS_OPERATOR_SECRET": secret("local-aws-operator"),
            **(env or {}),
        },
    )
    if not crypt_key_in_env:
        hub.env["JUPYTERHUB_CRYPT_KEY"] = ""
        hub.crypt_key_file = folder / "state" / "jupyterhub_crypt_key"
    # jupyterhub_config.py binds what JAIA_* say: the same free ports HubProcess picked
    hub.env["JAIA_PROXY_API_PORT"] = str(hub.proxy_api_port)
    hub.env["JAIA_HUB_API_PORT"] = str(hub.hub_port)
    hub.user_config = f"ADMIN_TOKEN = {hub.admin_token!r}\n" + hub.user_config
    if canaries:
        canaries.register(hub.admin_token, "hub admin token")
        if crypt_key_in_env:
            canaries.register(hub.env["JUPYTERHUB_CRYPT_KEY"], "JUPYTERHUB_CRYPT_KEY")
    if watch_log:
        watch_log(hub.log_file)
    hub.start(timeout=90)
    if canaries and hub.crypt_key_file is not None:
        canaries.register(hub.crypt_key_file.read_text().strip(), "the demo's crypt key file")
    try:
        _wait_for_services(hub, cognito_port, registry_port, aws_port)
        yield {
            "hub": hub,
            "url": hub.url,
            "passwords": passwords,
            "cognito": f"http://127.0.0.1:{cognito_port}",
            "registry": f"http://127.0.0.1:{registry_port}",
            "aws": f"http://127.0.0.1:{aws_port}",
            "aws_operator_secret": hub.env["JAIA_LOCAL_AWS_OPERATOR_SECRET"],
            "state": folder / "state",
            "client_id": hub_client["client_id"],
            "secret": hub_client["client_secret"],
            "isolated": _isolated(hub),
            "account_prefix": prefix,
        }
    finally:
        if hub.pid is not None:
            _stop_servers(hub)
        hub.stop(timeout=30)
        _remove_accounts(prefix)


@contextlib.contextmanager
def watched_deployment(
    tmp_path_factory: Any, canaries: CanaryRegistry, leak_watcher: LeakWatcher, **options: Any
) -> Iterator[dict[str, Any]]:
    """:func:`local_deployment` of this checkout in a new temporary folder, all of it watched.

    Its logs, what the users' servers and the example registry write (notebooks, uploaded
    models) and, with one account per user, alice's, bob's and carol's homes go to the leak
    check. ``options`` as for :func:`local_deployment`.
    """
    folder = tmp_path_factory.mktemp("local-hub")
    with local_deployment(ROOT, folder, canaries, leak_watcher.watch_file, **options) as hub:
        leak_watcher.watch_tree(folder / "state" / "users")
        leak_watcher.watch_tree(folder / "state" / "registry")
        if hub["isolated"]:
            for name in ("alice", "bob", "carol"):
                leak_watcher.watch_tree(Path("/home") / f"{hub['account_prefix']}{name}")
        yield hub


def _stop_servers(hub: HubProcess) -> None:
    """Stop every user's server through the API (the Hub leaves them running when it stops)."""
    try:
        users = hub.api("GET", "/users").json()
        running = [u["name"] for u in users if u.get("server") or u.get("pending")]
        for name in running:
            hub.api("DELETE", f"/users/{name}/server")
        deadline = time.monotonic() + 60
        while running and time.monotonic() < deadline:
            running = [n for n in running if (hub.user(n) or {}).get("server")]
            time.sleep(0.5)
    except (httpx.HTTPError, ValueError):
        pass  # the Hub is gone: nothing more to do from here


def _isolated(hub: HubProcess) -> bool:
    """What the configuration decided (it prints it at start): one account per user or not."""
    for line in hub.log_file.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{") and '"isolated"' in line:
            return bool(json.loads(line).get("isolated"))
    return False


def _wait_for_services(hub: HubProcess, *ports: int) -> None:
    """The Hub starts its services (emulators, registry) itself: wait until they answer."""
    deadline = time.monotonic() + 60
    for port in ports:
        url = f"http://127.0.0.1:{port}/health"
        while True:
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up: {hub.log_tail()}")
            time.sleep(0.2)


def _remove_accounts(prefix: str) -> None:
    """Stop the processes of this run's accounts (userdel refuses while they run), remove them."""
    remove_accounts(prefix)
    # the demo's claim on the accounts (claim_accounts), released when its Hub stopped
    Path(f"/run/jupyter-ai-access/accounts-{prefix}lock").unlink(missing_ok=True)
