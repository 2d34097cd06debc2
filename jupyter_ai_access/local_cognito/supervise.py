"""``./run-demo``'s last step: JupyterHub under a supervisor that knows what "stop" means.

    python -m jupyter_ai_access.local_cognito.supervise jupyterhub -f jupyterhub_config.py

Two ways a demo's Hub goes away, and what each keeps:

- **a person stops the demo** — Ctrl-C, SIGTERM or SIGHUP to ``./run-demo`` (this process):
  every user's server is stopped through the Hub's API first (their kernels end and their token
  folders are removed, as the server does when it stops), then the Hub with its proxy and
  services. Nothing of the demo is left running;
- **the Hub restarts** — a signal to the Hub process itself (a supervisor, an upgrade) or a
  crash: users' servers and kernels keep running (``JupyterHub.cleanup_servers`` is False in
  ``jupyterhub_config.py``) and the next Hub takes them back; this process then exits with the
  Hub's status.

The Hub runs in a session of its own, so a terminal's Ctrl-C reaches only this process, and with
SIGINT at its default however this process was started (a script's background job inherits an
ignored SIGINT; JupyterHub stops its services with SIGINT first). The Hub API token this process
uses is made for this run only and handed to the Hub in ``$JAIA_SUPERVISOR_TOKEN``: the
configuration registers it as the ``demo-supervisor`` service, allowed to list users and stop
servers, nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from types import FrameType
from typing import Any

from ..demo.deployment import demo_ports
from ..demo.settings import local_url

__all__ = ["SUPERVISOR_SCOPES", "SUPERVISOR_TOKEN_ENV", "main", "stop_all_servers"]

#: The environment variable that carries this run's supervisor token to the Hub's configuration.
SUPERVISOR_TOKEN_ENV = "JAIA_SUPERVISOR_TOKEN"
#: What the ``demo-supervisor`` service may do.
SUPERVISOR_SCOPES = ["list:users", "admin:servers"]
#: How long stopping users' servers may take before the Hub is stopped anyway (seconds).
STOP_SERVERS_TIMEOUT = 60.0
#: How long the Hub may take to exit after SIGTERM before it is killed (seconds).
STOP_HUB_TIMEOUT = 60.0


def _api(api_url: str, token: str, method: str, path: str) -> Any:
    request = urllib.request.Request(  # noqa: S310 - the Hub's API on loopback, http only
        api_url.rstrip("/") + path, method=method, headers={"Authorization": f"token {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        body = answer.read()
    return json.loads(body) if body else None


def _running_servers(api_url: str, token: str) -> list[tuple[str, str]]:
    users = _api(api_url, token, "GET", "/users?state=active&limit=10000") or []
    if isinstance(users, dict):  # paginated answer
        users = users.get("items", [])
    return [(user["name"], server) for user in users for server in user.get("servers") or {}]


def stop_all_servers(api_url: str, token: str, timeout: float = STOP_SERVERS_TIMEOUT) -> int:
    """Ask the Hub to stop every user's servers; wait (bounded) until none runs. Returns how many
    were asked to stop. Errors are reported on stderr, never raised: stopping goes on."""
    try:
        servers = _running_servers(api_url, token)
    except (OSError, ValueError) as e:
        print(f"run-demo: could not list users' servers ({e}); stopping the Hub", file=sys.stderr)
        return 0
    for name, server in servers:
        quoted = urllib.parse.quote(name, safe="")
        path = f"/users/{quoted}/servers/{urllib.parse.quote(server, safe='')}"
        try:
            _api(api_url, token, "DELETE", f"/users/{quoted}/server" if not server else path)
        except (OSError, ValueError) as e:
            print(f"run-demo: could not stop {name}'s server ({e})", file=sys.stderr)
    deadline = time.monotonic() + timeout
    while servers and time.monotonic() < deadline:
        time.sleep(0.5)
        try:
            if not _running_servers(api_url, token):
                break
        except (OSError, ValueError):
            break
    return len(servers)


def main(argv: list[str] | None = None) -> int:
    """Run the Hub command in ``argv``; stop the whole demo on SIGINT, SIGTERM or SIGHUP."""
    command = list(sys.argv[1:] if argv is None else argv)
    if not command:
        print("usage: python -m jupyter_ai_access.local_cognito.supervise jupyterhub ...")
        return 2
    token = secrets.token_hex(32)
    port = demo_ports(os.environ, emulator=False)["the Hub's internal API"][0]
    api_url = f"{local_url(port)}/hub/api"
    stop_requested: list[int] = []

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, request_stop)
    hub = subprocess.Popen(
        command,
        env={**os.environ, SUPERVISOR_TOKEN_ENV: token},
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    while hub.poll() is None and not stop_requested:
        with contextlib.suppress(subprocess.TimeoutExpired):
            hub.wait(timeout=0.5)
    if hub.returncode is not None:
        return hub.returncode  # the Hub went away by itself: a restart keeps users' servers
    print("\nrun-demo: stopping users' servers, then the Hub...", file=sys.stderr)
    stopped = stop_all_servers(api_url, token)
    if stopped:
        print(f"run-demo: {stopped} server(s) stopped", file=sys.stderr)
    hub.send_signal(signal.SIGTERM)
    try:
        hub.wait(timeout=STOP_HUB_TIMEOUT)
    except subprocess.TimeoutExpired:
        hub.kill()
        hub.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
