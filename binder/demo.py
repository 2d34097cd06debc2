"""``binder/start <server command>``: the Binder demo around a Jupyter server, and nothing after it.

Before the server starts:

- its prefix from ``$JUPYTERHUB_SERVICE_PREFIX`` (Binder's ``/user/<id>/``; else ``/``) and its
  port from the command (``--port`` / ``--ServerApp.port``, ``=N`` or `` N``), else from
  ``$JUPYTERHUB_SERVICE_URL``, else 8888; ``ServerApp.port_retries = 0``, so the server listens
  on that port or stops (the sign-in's callback is registered for that port only);
- the emulator's pool: the demo pool plus a "jupyterlab" app client whose callback and sign-out
  URLs are this server's loopback ones (the server's proxy turns them into paths for the
  browser), every route under ``<prefix>ai-access/cognito``, and the demo users' generated
  passwords on the sign-in page (this emulator is reachable only through this user's own,
  authenticated Jupyter server); the app client's secret in a 0600 file; all of it in the state
  folder (``$JAIA_STATE_DIR``, else ``.state/binder`` in the repository; ``rm -r`` it to start
  afresh), with the emulator's and the registry's logs;
- ``examples/train.ipynb`` copied to ``work/train.ipynb`` (``$JAIA_WORK_DIR``) unless there
  already: runs save their outputs there, never into the tracked example;
- as root, ``ServerApp.allow_root`` with a warning (every notebook is then a root shell);
- the emulator and the example registry on loopback, in process groups of their own (the
  terminal's Ctrl-C reaches the server alone, which may ask before stopping), waited for.

Then the server runs from the repository's root (as on Binder) with ``COGNITO_*`` for its
standalone sign-in. When it exits — Ctrl-C, SIGTERM or SIGHUP to this process (forwarded to the
server), or on its own — the emulator and the registry are stopped, and this exits with the
server's status. Were this process killed outright, they get SIGTERM from the kernel (Linux).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jupyter_ai_access.demo.settings import DEMO_POOL_FILE
from jupyter_ai_access.files import ensure_private_dir, write_private_file
from jupyter_ai_access.local_cognito.generated import ensure_generated
from jupyter_ai_access.local_cognito.process import find_free_port
from jupyter_ai_access.pooldesc import load_pool
from jupyter_ai_access.protocol import CognitoEnv

CLIENT = "4jupyterlabdemo0000000000a"
REPO = Path(__file__).resolve().parent.parent
PORT_OPTIONS = ("--port", "--ServerApp.port", "--NotebookApp.port")
READY_TIMEOUT = 60.0  # seconds for the emulator and the registry to answer
# The app client's scopes (binder/jupyter_ai_access_binder.json asks for the same): the
# registry's own, which the server's exchanges for model-registry narrow to, and the older ones.
SCOPES = (
    "openid",
    "email",
    "profile",
    "ai-access/datasets.read",
    "ai-access/models.write",
    "model-registry/models.read",
    "model-registry/models.write",
)


def say(message: str) -> None:
    """One line on stderr, marked as this script's."""
    print(f"binder/start: {message}", file=sys.stderr, flush=True)


def server_port(argv: list[str], environ: dict[str, str]) -> int:
    """The port the server is told to listen on (the last ``--port`` wins, as in traitlets)."""
    port: int | None = None
    for i, arg in enumerate(argv):
        name, eq, value = arg.partition("=")
        if name not in PORT_OPTIONS:
            continue
        if not eq:
            value = argv[i + 1] if i + 1 < len(argv) else ""
        if not value.isdigit() or not 0 < int(value) < 65536:
            raise SystemExit(f"binder/start: {name} must be a port number, not {value!r}")
        port = int(value)
    return port or urlsplit(environ.get("JUPYTERHUB_SERVICE_URL", "")).port or 8888


def prepare(state: Path, prefix: str, port: int) -> dict[str, str]:
    """Write the pool and the app client's secret; return the environment for the processes."""
    cognito_port, registry_port = find_free_port(), find_free_port()
    server = f"http://127.0.0.1:{port}{prefix}ai-access"
    base_path = f"{prefix}ai-access/cognito"
    raw = json.loads(DEMO_POOL_FILE.read_text(encoding="utf-8"))
    raw["app_clients"].append(
        {
            "name": "jupyterlab",
            "client_id": CLIENT,
            "generate_secret": True,
            "allowed_oauth_flows": ["code"],
            "allowed_oauth_scopes": list(SCOPES),
            # the server exchanges the user's token for one bound to the registry (no Hub, so
            # no actor: impersonation), which its kernels send it through the URL map
            "explicit_auth_flows": [
                "ALLOW_REFRESH_TOKEN_AUTH",
                "ALLOW_TOKEN_EXCHANGE_IMPERSONATION",
            ],
            "callback_urls": [f"{server}/callback"],
            "logout_urls": [f"{server}/status"],
            "token_validity": {"access_token": 3600, "id_token": 3600, "refresh_token": 86400},
        }
    )
    raw["base_path"] = base_path
    pool_file = state / "pool.json"
    write_private_file(pool_file, json.dumps(raw))
    generated = ensure_generated(state / "local-cognito", load_pool(pool_file))
    users = [
        f"{u['username']} / {generated.passwords[u['username']]}"
        f" ({', '.join(u['groups']) or 'no group'})"
        for u in raw["users"]
    ]
    raw["login_hint"] = "Demo users of this Binder's own emulator:\n" + "\n".join(users)
    write_private_file(pool_file, json.dumps(raw))
    secret_file = state / "jupyterlab-client-secret"
    write_private_file(secret_file, generated.client_secrets[CLIENT])
    cognito = f"http://127.0.0.1:{cognito_port}{base_path}"
    machine = next(c["client_id"] for c in raw["app_clients"] if c["name"] == "training-jobs")
    return {
        "JAIA_STATE_DIR": str(state),
        "JAIA_POOL_FILE": str(pool_file),
        "JAIA_COGNITO_PORT": str(cognito_port),
        "JAIA_REGISTRY_PORT": str(registry_port),
        "JUPYTER_AI_ACCESS_NODE_MODULES": str(REPO / "node_modules"),
        CognitoEnv.ISSUER: f"{cognito}/{raw['user_pool_id']}",
        CognitoEnv.DOMAIN: cognito,
        CognitoEnv.CLIENT_ID: CLIENT,
        CognitoEnv.CLIENT_SECRET_FILE: str(secret_file),
        "AI_ACCESS_REGISTRY_URL": f"http://127.0.0.1:{registry_port}",
        "JAIA_REGISTRY_CLIENTS": f"{CLIENT},{machine}",
    }


def server_config(state: Path, environ: dict[str, str], registry: str) -> str:
    """A config folder for the server (``$JUPYTER_CONFIG_PATH``): no port retries; root if so;
    kernels send the registry (at ``registry``) a token bound to model-registry."""
    config: dict[str, Any] = {"port_retries": 0}
    if os.geteuid() == 0:
        say(
            "WARNING: running as root, so the server is started with ServerApp.allow_root"
            " (every notebook and terminal is a root shell). Run as an ordinary account"
            " to avoid it."
        )
        config["allow_root"] = True
    folder = ensure_private_dir(state / "jupyter-config", "JAIA_STATE_DIR")
    audiences = {registry.rstrip("/") + "/": "model-registry"}
    write_private_file(
        folder / "jupyter_server_config.json",
        json.dumps({"ServerApp": config, "KernelTokenStore": {"audiences": audiences}}),
    )
    return os.pathsep.join(filter(None, [str(folder), environ.get("JUPYTER_CONFIG_PATH", "")]))


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_helper(
    name: str, cmd: list[str], env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """A helper process in a group of its own, its output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # this process starts no threads
        )


def wait_ready(helpers: dict[str, tuple[subprocess.Popen[bytes], str, Path]]) -> None:
    """Poll each helper's URL until it answers; stop with its log's tail if it exits or hangs."""
    deadline = time.monotonic() + READY_TIMEOUT
    for name, (proc, url, log) in helpers.items():
        while True:
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(url, timeout=5) as answer,  # noqa: S310 - loopback
            ):
                if answer.status == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
                raise SystemExit(
                    f"binder/start: the {name} did not start; {log} ends with:\n{tail}"
                )
            time.sleep(0.2)


def stop_helper(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the helper's group; SIGKILL to whatever is left of it after 10 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run(argv: list[str]) -> int:
    """Prepare, start the helpers, run the server, stop the helpers; the server's status."""
    if not argv:
        raise SystemExit(
            "usage: binder/start <Jupyter server command>, e.g. binder/start jupyter lab"
        )
    environ = dict(os.environ)
    prefix = ("/" + environ.get("JUPYTERHUB_SERVICE_PREFIX", "/").strip("/") + "/").replace(
        "//", "/"
    )
    port = server_port(argv, environ)
    state = Path(environ.get("JAIA_STATE_DIR") or REPO / ".state" / "binder").absolute()
    ensure_private_dir(state, "JAIA_STATE_DIR")
    env = {**environ, **prepare(state, prefix, port)}
    env["JUPYTER_CONFIG_PATH"] = server_config(state, environ, env["AI_ACCESS_REGISTRY_URL"])
    work = Path(environ.get("JAIA_WORK_DIR") or REPO / "work").absolute()
    work.mkdir(parents=True, exist_ok=True)
    notebook = work / "train.ipynb"
    if not notebook.exists():
        shutil.copyfile(REPO / "examples" / "train.ipynb", notebook)

    bin_dir = Path(sys.executable).parent
    cli = (
        str(bin_dir / "jupyter-ai-access")
        if (bin_dir / "jupyter-ai-access").exists()
        else "jupyter-ai-access"
    )
    cognito_cmd = [
        cli,
        "local-cognito",
        f"--pool={env['JAIA_POOL_FILE']}",
        f"--port={env['JAIA_COGNITO_PORT']}",
        f"--state-dir={state / 'local-cognito'}",
    ]
    registry_env = {
        **env,
        CognitoEnv.CLIENT_IDS: env["JAIA_REGISTRY_CLIENTS"],
        "REGISTRY_PORT": env["JAIA_REGISTRY_PORT"],
        "REGISTRY_DIR": str(state / "registry"),
        # strict, as in the README's deployment: only tokens bound to model-registry
    }
    registry_cmd = [sys.executable, str(REPO / "examples" / "model_registry.py")]
    procs: list[subprocess.Popen[bytes]] = []
    server: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: Any) -> None:
        if server is None:  # before the server: stop here (the helpers are stopped below)
            raise SystemExit(128 + signum)
        # Ctrl-C reaches the server from the terminal itself (it may ask "Shutdown?" first)
        if signum != signal.SIGINT and server.poll() is None:
            server.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, forward)
    try:
        procs.append(start_helper("emulator", cognito_cmd, env, state / "local-cognito.log"))
        procs.append(start_helper("registry", registry_cmd, registry_env, state / "registry.log"))
        wait_ready(
            {
                "local Cognito emulator": (
                    procs[0],
                    env[CognitoEnv.ISSUER] + "/.well-known/openid-configuration",
                    state / "local-cognito.log",
                ),
                "example registry": (
                    procs[1],
                    env["AI_ACCESS_REGISTRY_URL"] + "/health",
                    state / "registry.log",
                ),
            }
        )
        say(
            f"the local Cognito emulator (pid {procs[0].pid}, port {env['JAIA_COGNITO_PORT']})"
            f" and the example registry (pid {procs[1].pid}, port {env['JAIA_REGISTRY_PORT']})"
            f" run until the server stops; state and logs: {state}"
        )
        say(
            f"sign in at http://127.0.0.1:{port}{prefix}ai-access/login?next=lab/tree/"
            f"{os.path.relpath(notebook, REPO)} once the server's URL (with its token) is open;"
            f" the notebook is a copy: {notebook}"
        )
        try:
            server = subprocess.Popen(argv, env=env, cwd=REPO)
        except OSError as e:
            raise SystemExit(f"binder/start: cannot run {argv[0]!r}: {e.strerror}") from None
        status = server.wait()
    finally:
        for proc in reversed(procs):
            stop_helper(proc)
    if status != 0:
        say(
            f"the server exited with status {status}; the emulator and the registry are"
            f" stopped (if port {port} was taken, choose another: --port=N)"
        )
    return 128 - status if status < 0 else status


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
