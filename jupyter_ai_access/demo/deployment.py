"""Helpers for the local deployment (``jupyterhub_config.py``): ports and the emulator's pool.

- :func:`check_ports` stops start-up with one line when a port the demo binds is taken, naming
  the port and the environment variable that moves it — before anything has started, so nothing
  is left behind; after a Hub that was killed (SIGKILL, OOM) it waits a little for the ports its
  services still hold (:func:`exit_with_hub` makes them exit when the Hub dies) and leaves the
  proxy's ports to JupyterHub, which replaces a leftover proxy itself;
- :func:`pool_for_hub` writes the pool the emulator runs: the description with the Hub's actual
  callback and sign-out URLs added to its Hub client, so moving the Hub's port or public URL
  needs no edit of the description.
"""

from __future__ import annotations

import difflib
import fcntl
import json
import os
import socket
import stat
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..files import write_private_file
from ..pooldesc import load_pool
from .settings import DEMO_PORTS, DEMO_SETTINGS, HOST, ISOLATION_MODES, local_url

__all__ = [
    "check_ports",
    "claim_accounts",
    "demo_ports",
    "exit_with_hub",
    "hub_urls",
    "isolate_users",
    "pool_for_hub",
    "previous_hub_killed",
    "public_url",
    "unknown_settings",
    "unreachable_by_others",
]


def unknown_settings(environ: Mapping[str, str]) -> list[str]:
    """One warning line per ``JAIA_*`` variable nothing reads (a misspelling is ignored)."""
    known = [variable for variable, _ in DEMO_PORTS.values()] + list(DEMO_SETTINGS)
    lines = []
    for name in sorted(n for n in environ if n.startswith("JAIA_") and n not in known):
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        lines.append(
            f"jupyter_ai_access: WARNING: {name} is not a setting of the demo and is ignored "
            f'({hint}the JAIA_* settings are listed in docs/tutorial/local-demo.md)'
        )
    return lines


def public_url(environ: Mapping[str, str], hub_port: int) -> str:
    """``JAIA_PUBLIC_URL`` (default ``http://127.0.0.1:<hub_port>/``), or exit with one line."""
    value = environ.get("JAIA_PUBLIC_URL", "")
    if not value:
        return local_url(hub_port) + "/"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = urlsplit("")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        sys.exit(
            f"jupyter_ai_access: JAIA_PUBLIC_URL={value!r} is not a URL the browsers can use: "
            f"give http:// or https://, the host and the port, e.g. {local_url(hub_port)}/"
        )
    return value if value.endswith("/") else value + "/"


def demo_ports(environ: Mapping[str, str], *, emulator: bool) -> dict[str, tuple[int, str]]:
    """The ports the local deployment binds, as moved by ``JAIA_*``: name -> (port, variable)."""
    ports = {}
    for what, (variable, default) in DEMO_PORTS.items():
        if what == "the local Cognito emulator" and not emulator:
            continue
        value = environ.get(variable, str(default))
        if not value.isdigit() or not 0 < int(value) < 65536:
            sys.exit(f"jupyter_ai_access: {variable}={value!r} is not a port number (1-65535)")
        ports[what] = (int(value), variable)
    return ports


def check_ports(
    ports: Mapping[str, tuple[int, str]],
    host: str = HOST,
    *,
    wait: float = 0.0,
    skip: Iterable[str] = (),
) -> None:
    """Exit with one line if a port is taken: ``{"what": (port, "JAIA_VARIABLE")}``.

    ``wait``: seconds to wait for a taken port to be freed (the services of a killed Hub exit
    within a second or two); ``skip``: names not to check.
    """
    skipped = set(skip)
    deadline = time.monotonic() + wait
    for what, (port, variable) in ports.items():
        if what in skipped:
            continue
        while not _free(host, port):
            if time.monotonic() >= deadline:
                sys.exit(
                    f"jupyter_ai_access: port {port} ({what}) is already in use on {host}: "
                    f"stop what uses it, or choose another port with {variable}=<port>"
                )
            time.sleep(0.2)


def _free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # as the servers bind: a port whose last connections are in TIME_WAIT is free
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def _running(pid_file: Path) -> bool | None:
    """Whether the pid in ``pid_file`` runs; None without a readable pid file."""
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def previous_hub_killed(hub_pid_file: Path, proxy_pid_file: Path) -> tuple[bool, bool]:
    """(the previous Hub was killed without cleaning up, its proxy still runs).

    JupyterHub removes its pid file when it exits cleanly; a pid file naming a process that
    no longer runs is a Hub that was killed. JupyterHub stops such a leftover proxy itself (by
    its pid file) before starting a new one.
    """
    killed = _running(hub_pid_file) is False
    return killed, killed and bool(_running(proxy_pid_file))


#: Run as ``python -c _EXIT_WITH_HUB command...``: ask Linux to send SIGTERM when the parent
#: (the Hub) dies, then become ``command`` (the request survives exec).
_EXIT_WITH_HUB = """
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG
except (AttributeError, OSError):
    pass  # not Linux: the service outlives a killed Hub
if os.getppid() == 1:
    sys.exit("the Hub exited before its service started")
os.execv(sys.argv[1], sys.argv[1:])
"""


def exit_with_hub(command: list[str]) -> list[str]:
    """``command`` wrapped so that the process gets SIGTERM when the Hub that started it dies.

    For the Hub's services (emulator, registry): a Hub killed by SIGKILL cannot stop them, and
    the next Hub must bind their ports. Users' servers are not wrapped: they outlive the Hub.
    """
    return [sys.executable, "-c", _EXIT_WITH_HUB, *command]


def unreachable_by_others(paths: Iterable[Path]) -> str | None:
    """Why another account could not run the servers from here, or None when it could.

    Each user's server runs under its own account and needs the interpreter and the checkout:
    every folder above them must be searchable by others (no 0700 home or temporary folder).
    """
    found = _first_unreachable(paths)
    return found[1] if found else None


def _first_unreachable(paths: Iterable[Path]) -> tuple[Path, str, str] | None:
    """(folder, why, the chmod that fixes it) for the first path others cannot use, or None.

    Every folder above a path must let other accounts enter it (o+x); a folder named itself
    (the checkout, a sys.path entry) must also let them list it (o+rx: Python's import system
    lists the folders on sys.path), and a file must be readable (o+r).
    """
    for path in paths:
        target = path.resolve()
        for folder in [target, *target.parents]:
            mode = folder.stat().st_mode
            shown = f"{folder} (mode {stat.S_IMODE(mode):o})"
            if folder.is_dir():
                need = stat.S_IXOTH | (stat.S_IROTH if folder == target else 0)
                if mode & need != need:
                    if folder == target:
                        return folder, f"{shown} cannot be listed by other accounts", "o+rx"
                    return folder, f"{shown} cannot be entered by other accounts", "o+x"
            elif folder == target and not mode & stat.S_IROTH:
                return folder, f"{shown} cannot be read by other accounts", "o+r"
    return None


def isolate_users(environ: Mapping[str, str], *, root: bool, paths: Iterable[Path]) -> bool:
    """Whether the demo gives every user a system account of their own (``JAIA_ISOLATION``).

    Fails closed: run as root, it isolates users or refuses to start (one line naming the folder
    that keeps the accounts out and the fix), and runs users' servers as root only when the
    operator says ``JAIA_ISOLATION=off``. Not run as root, it cannot isolate: False.
    """
    mode = environ.get("JAIA_ISOLATION", "accounts")
    if mode not in ISOLATION_MODES:
        sys.exit(
            f"jupyter_ai_access: JAIA_ISOLATION={mode!r} is not one of {', '.join(ISOLATION_MODES)}"
        )
    if mode == "off" or not root:
        return False
    found = _first_unreachable(paths)
    if found:
        folder, why, fix = found
        sys.exit(
            f"jupyter_ai_access: refusing to start as root: {why}, so the per-user accounts "
            f"could not run the servers. Move the checkout to a folder every account can enter, "
            f"or let them in (chmod {fix} {folder}); or, to run every user's server as root "
            "(each notebook is a root shell), set JAIA_ISOLATION=off"
        )
    return True


def claim_accounts(prefix: str, state: Path, locks: Path = Path("/run/jupyter-ai-access")) -> int:
    """Hold the accounts ``<prefix>*`` for this demo while its process runs, or exit with one line.

    Two demos on one machine with the same prefix would share the system accounts: the other
    pool's "alice" would get this alice's home and token folders. The claim is an exclusive
    lock on ``<locks>/accounts-<prefix>lock`` (a root-owned folder; the file holds the state
    folder of its holder), released when the process ends. Returns the lock's descriptor.
    """
    locks.mkdir(mode=0o755, parents=True, exist_ok=True)
    folder = os.open(locks, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        info = os.fstat(folder)
        if info.st_uid != os.getuid() or info.st_mode & 0o022:
            sys.exit(f"jupyter_ai_access: {locks} must be this account's, writable by no other")
        fd = os.open(
            f"accounts-{prefix}lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600, dir_fd=folder
        )
    finally:
        os.close(folder)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 4096, 0).decode(errors="replace") or "unknown"
        os.close(fd)
        sys.exit(
            f"jupyter_ai_access: another demo on this machine (state folder {holder}) gives its "
            f"users the accounts {prefix}<name>; this one would share them (its alice would be "
            f"the other's alice). Stop the other one, or choose other accounts for this one with "
            f"JAIA_ACCOUNT_PREFIX=<prefix>"
        )
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(state).encode(), 0)
    return fd


def hub_urls(port: int, public_url: str = "") -> list[str]:
    """Where browsers reach the Hub: 127.0.0.1 and localhost on ``port``, and the public URL."""
    urls = [local_url(port), local_url(port, "localhost")]
    if public_url:
        urls.insert(0, public_url.rstrip("/"))
    return list(dict.fromkeys(urls))


def pool_for_hub(
    pool_file: Path, client: str, urls: Iterable[str], state: Path, base_url: str = "/hub/"
) -> Path:
    """Write ``state/pool-for-hub.json``: the description, with the Hub's URLs registered.

    The app client ``client`` gets ``<url><base_url>oauth_callback`` and
    ``<url><base_url>logout-complete`` for every URL, first (the emulator's "try a login" hint
    shows the first), then the ones already described.
    The file is validated like any description before it is written.
    """
    raw: dict[str, Any] = json.loads(pool_file.read_text(encoding="utf-8"))
    entry = next(
        (c for c in raw.get("app_clients", []) if client in (c.get("name"), c.get("client_id"))),
        None,
    )
    if entry is None:
        sys.exit(f"jupyter_ai_access: the pool {pool_file} has no app client {client!r}")
    base = "/" + base_url.strip("/") + "/"
    for key, path in (("callback_urls", "oauth_callback"), ("logout_urls", "logout-complete")):
        wanted = [f"{url}{base}{path}" for url in urls]
        entry[key] = list(dict.fromkeys([*wanted, *entry.get(key, [])]))
    target = state / "pool-for-hub.json"
    state.mkdir(parents=True, exist_ok=True)
    write_private_file(target, json.dumps(raw, indent=1))
    load_pool(target)  # refuse here, naming the entry, rather than in the emulator's log
    return target
