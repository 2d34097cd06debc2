"""Start and stop the local Cognito emulator (a Node.js process running ``server.mjs``).

:class:`LocalCognito` is used by the ``jupyter-ai-access local-cognito`` command (which the
local Hub runs as a managed service) and by the test fixtures. It validates the pool description,
fills in generated client secrets (kept 0600 in the state folder), copies the emulator's scripts
next to a ``node_modules`` link in the state folder, starts Node and waits for the one
``{"event": "ready"}`` line the emulator prints.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from traitlets import Bool, Float, Int, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from ..demo.settings import DEMO_POOL_FILE
from ..errors import (
    ConfigurationError,
    EmulatorStartError,
    NodeNotFoundError,
    NodePackagesMissingError,
)
from ..files import write_private_file
from ..net import find_free_port, is_loopback
from ..pooldesc import PoolDescription, load_pool
from .generated import Generated, ensure_generated

__all__ = [
    "HERE",
    "LocalCognito",
    "RunningPool",
    "find_free_port",
    "stop_process",
]

HERE = Path(__file__).resolve().parent
SCRIPTS = ("server.mjs", "store.mjs", "pages.mjs", "exchange.mjs")
MIN_NODE = (20, 19)
NODE_HELP = (
    "Install the Node packages of the project with `npm ci` in its checkout, or "
    "`npm install --prefix DIR oidc-provider@9` and set "
    "JUPYTER_AI_ACCESS_NODE_MODULES=DIR/node_modules (or LocalCognito.node_modules)."
)


@dataclass(frozen=True)
class RunningPool:
    """What a started emulator offers: URLs, the validated pool and the effective client secrets."""

    issuer: str
    domain: str
    port: int
    pool: PoolDescription
    client_secrets: dict[str, str] = field(repr=False)
    #: every user's effective password (given in the description, or generated): by username,
    #: federated users as "<provider>/<username>"
    passwords: dict[str, str] = field(repr=False)
    state_dir: Path
    log_file: Path

    @property
    def discovery_url(self) -> str:
        """The OpenID discovery document of the pool."""
        return f"{self.issuer}/.well-known/openid-configuration"

    @property
    def jwks_url(self) -> str:
        """The pool's JSON Web Key Set."""
        return f"{self.issuer}/.well-known/jwks.json"

    def endpoint(self, name: str) -> str:
        """A hosted-UI or OAuth endpoint: authorize, token, userInfo, revoke, login, logout."""
        paths = {
            "authorize": "/oauth2/authorize",
            "token": "/oauth2/token",
            "userInfo": "/oauth2/userInfo",
            "revoke": "/oauth2/revoke",
            "login": "/login",
            "logout": "/logout",
        }
        return self.domain + paths[name]

    def secret_for(self, client: str) -> str:
        """The client secret of an app client (by name or id)."""
        return self.client_secrets[self.pool.client(client).client_id]


class LocalCognito(LoggingConfigurable):
    """The local Cognito user pool emulator, run as a child process."""

    pool_file = Unicode(
        str(DEMO_POOL_FILE),
        config=True,
        help="""Pool description file (JSON) that declares users, groups, app clients,
        resource servers and token lifetimes. Default: the demo pool shipped with the package.""",
    )
    host = Unicode(
        "127.0.0.1",
        config=True,
        help="""Address to listen on. Only loopback addresses are accepted unless
        allow_non_loopback is set. Default: 127.0.0.1.""",
    )
    port = Int(
        0,
        config=True,
        help="TCP port to listen on; 0 picks a free port. Default: 0.",
    )
    state_dir = Unicode(
        config=True,
        help="""Folder (created 0700) for the signing keys, generated client secrets and the token
        store, so that tokens and sessions survive a restart. Default: ./.state/local-cognito.""",
    )
    allow_non_loopback = Bool(
        False,
        config=True,
        help="""Listen on a non-loopback address. The emulator is for development: it has demo
        passwords and plain HTTP. Default: False.""",
    )
    node = Unicode(
        config=True,
        help="""Node.js executable (20.19 or newer). Default: $JUPYTER_AI_ACCESS_NODE, else `node`
        on PATH.""",
    )
    node_modules = Unicode(
        config=True,
        help="""Folder holding the emulator's Node packages (oidc-provider). Default:
        $JUPYTER_AI_ACCESS_NODE_MODULES, else the nearest node_modules above the package or the
        current directory that contains oidc-provider.""",
    )
    start_timeout = Float(
        30.0,
        config=True,
        help="Seconds to wait for the emulator to report that it is ready. Default: 30.",
    )
    log_to_stderr = Bool(
        False,
        config=True,
        help="""Also copy the emulator's log lines to this process's stderr (the command line
        does). Default: False: they go to <state_dir>/emulator.log only.""",
    )

    @default("state_dir")
    def _default_state_dir(self) -> str:
        return str(Path.cwd() / ".state" / "local-cognito")

    @default("node")
    def _default_node(self) -> str:
        return os.environ.get("JUPYTER_AI_ACCESS_NODE") or shutil.which("node") or ""

    @default("node_modules")
    def _default_node_modules(self) -> str:
        env = os.environ.get("JUPYTER_AI_ACCESS_NODE_MODULES")
        if env:
            return env
        for start in (HERE, Path.cwd()):
            for folder in (start, *start.parents):
                candidate = folder / "node_modules"
                if (candidate / "oidc-provider" / "package.json").is_file():
                    return str(candidate)
        return ""

    @validate("port")
    def _validate_port(self, proposal: Any) -> int:
        port = int(proposal["value"])
        if not 0 <= port <= 65535:
            raise ConfigurationError(f"LocalCognito.port must be 0-65535, not {port}")
        return port

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._proc: subprocess.Popen[str] | None = None
        self._log_thread: threading.Thread | None = None
        self.running: RunningPool | None = None

    # ------------------------------------------------------------------ checks
    def check_node(self) -> str:
        """Return the Node executable, or raise :class:`NodeNotFoundError` saying what to do."""
        node = self.node
        if not node or not (Path(node).is_file() or shutil.which(node)):
            raise NodeNotFoundError(
                "Node.js was not found: the local Cognito emulator needs Node.js 20.19 or newer. "
                "Install it (Debian: `apt-get install nodejs npm`) or set "
                "JUPYTER_AI_ACCESS_NODE / LocalCognito.node to its path."
            )
        try:
            out = subprocess.run(
                [node, "--version"], capture_output=True, text=True, timeout=15, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError) as e:
            raise NodeNotFoundError(f"{node} --version failed ({e}); install Node.js 20.19+") from e
        match = re.match(r"v(\d+)\.(\d+)", out)
        if not match or (int(match.group(1)), int(match.group(2))) < MIN_NODE:
            raise NodeNotFoundError(f"Node.js {out} at {node} is too old: 20.19 or newer is needed")
        return node

    def check_node_modules(self) -> Path:
        """Return the node_modules folder, or raise :class:`NodePackagesMissingError`."""
        folder = Path(self.node_modules) if self.node_modules else None
        if folder is None or not (folder / "oidc-provider" / "package.json").is_file():
            where = f" (looked in {folder})" if folder else ""
            raise NodePackagesMissingError(
                f"The Node package oidc-provider is not installed{where}. {NODE_HELP}"
            )
        return folder.resolve()

    def check_host(self) -> None:
        """Refuse a non-loopback address unless explicitly allowed."""
        if not is_loopback(self.host) and not self.allow_non_loopback:
            raise ConfigurationError(
                f"LocalCognito.host={self.host!r} is not a loopback address. The emulator serves "
                "demo passwords over plain HTTP; pass --allow-non-loopback "
                "(LocalCognito.allow_non_loopback=True) if you really mean it."
            )

    # ------------------------------------------------------------------ state
    def _prepare_state(self, pool: PoolDescription, node_modules: Path) -> tuple[Path, Generated]:
        state = Path(self.state_dir)
        generated = ensure_generated(state, pool)
        write_private_file(state / "pool.json", json.dumps(generated.description))
        runtime = state / "runtime"
        runtime.mkdir(exist_ok=True)
        for name in SCRIPTS:
            shutil.copyfile(HERE / name, runtime / name)
        link = runtime / "node_modules"
        if link.is_symlink() or link.exists():
            if link.is_symlink() and Path(os.readlink(link)) == node_modules:
                return state, generated
            link.unlink()
        link.symlink_to(node_modules, target_is_directory=True)
        return state, generated

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> RunningPool:
        """Start the emulator and wait until it is ready; return its URLs and clients."""
        if self.running is not None:
            return self.running
        self.check_host()
        pool = load_pool(self.pool_file)
        node = self.check_node()
        node_modules = self.check_node_modules()
        state, generated = self._prepare_state(pool, node_modules)
        port = self.port or find_free_port(self.host)
        log_file = state / "emulator.log"
        cmd = [
            node,
            "--no-deprecation",
            str(state / "runtime" / "server.mjs"),
            "--pool",
            str(state / "pool.json"),
            "--host",
            self.host,
            "--port",
            str(port),
            "--state",
            str(state),
        ]
        started = time.monotonic()
        log = log_file.open("a", encoding="utf-8")
        self._proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "NODE_NO_WARNINGS": "1"},
        )
        try:  # whatever interrupts the start (KeyboardInterrupt, SystemExit), never orphan node
            assert self._proc.stdout is not None and self._proc.stderr is not None
            self._log_thread = threading.Thread(
                target=_pump, args=(self._proc.stderr, log, self.log_to_stderr), daemon=True
            )
            self._log_thread.start()
            ready = self._wait_ready(self._proc.stdout, log_file)
        except BaseException:
            self.stop()
            raise
        threading.Thread(
            target=_pump, args=(self._proc.stdout, log, self.log_to_stderr), daemon=True
        ).start()
        self.log.info(
            "Local Cognito emulator ready at %s in %.2f s",
            ready["issuer"],
            time.monotonic() - started,
        )
        self.running = RunningPool(
            issuer=ready["issuer"],
            domain=ready["domain"],
            port=int(ready["port"]),
            pool=pool,
            client_secrets=generated.client_secrets,
            passwords=generated.passwords,
            state_dir=state,
            log_file=log_file,
        )
        return self.running

    def _wait_ready(self, stdout: IO[str], log_file: Path) -> dict[str, Any]:
        assert self._proc is not None
        result: dict[str, Any] = {}

        def read() -> None:
            for line in stdout:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("event") in ("ready", "error"):
                    result.update(event)
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(self.start_timeout)
        if result.get("event") == "ready":
            return result
        self.stop()
        tail = _tail(log_file)
        if result.get("event") == "error":
            raise EmulatorStartError(
                f"The local Cognito emulator could not listen on {self.host}:"
                f"{self.port or 'a free port'}: {result.get('message')}. Choose another --port."
            )
        raise EmulatorStartError(
            f"The local Cognito emulator did not become ready within {self.start_timeout:g} s. "
            f"Its log ({log_file}) ends with:\n{tail}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the emulator (SIGTERM, then SIGKILL after ``timeout`` seconds)."""
        proc, self._proc = self._proc, None
        self.running = None
        stop_process(proc, timeout)
        if self._log_thread is not None:
            self._log_thread.join(2)

    def wait(self) -> int:
        """Block until the emulator exits; return its exit status."""
        assert self._proc is not None
        return self._proc.wait()

    @property
    def pid(self) -> int | None:
        """The emulator's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    def __enter__(self) -> RunningPool:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_process(proc: subprocess.Popen[Any] | None, timeout: float = 10.0) -> None:
    """Stop a child process: SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def _pump(stream: IO[str], log: IO[str], echo: bool) -> None:
    for line in stream:
        if "Unsupported runtime" in line:
            continue  # oidc-provider asks for Node 22 at every start; it works on 20.19+ (tested)
        log.write(line)
        log.flush()
        if echo:
            sys.stderr.write(line)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8").splitlines()[-lines:])
    except OSError:
        return "(no log)"
