"""Stopping everything the tests started, and removing the accounts they made (Linux /proc).

A Hub's children do not stay in its process group: JupyterHub starts every single-user server and
service in a session of its own, and kernels get one too. So what a test started is found as a
tree (:func:`descendants`), taken before its root is stopped (once the root is gone, its
children belong to init). :func:`stop_tree` stops a child process and everything under it:
SIGTERM, then SIGKILL after a bound, whatever the signal dispositions the run inherited.

:func:`sweep` is the last resort, at the end of the test session (and at exit): whatever still
runs under the test process, and every process of the system accounts made by this run
(:func:`register_account_prefix`), is stopped, then those accounts are removed (``userdel``
fails while an account has processes), with their runtime folders.

A script's background job (``./run-tests &``) inherits an ignored SIGINT and passes it on to
every process it starts; JupyterHub stops servers and services with SIGINT first, so they would
linger until its escalation. :func:`default_sigint` gives this process a SIGINT handler, which
``exec`` resets to the default in every child.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jupyter_ai_access.local_cognito.process import stop_process

__all__ = [
    "default_sigint",
    "descendants",
    "ident",
    "register_account_prefix",
    "remove_accounts",
    "stop_tree",
    "sweep",
    "terminate",
]

#: A process named so that a later one reusing its pid is not taken for it: (pid, start time).
Proc = tuple[int, str]

_PREFIXES: set[str] = set()
#: Where AccountPerUserSpawner makes each account's runtime folder (its default runtime_root).
RUNTIME_ROOT = "/run/jupyter-ai-access"


def _stat(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (state, ppid, ...), or None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def ident(pid: int) -> Proc | None:
    """The running process ``pid`` as (pid, start time), or None."""
    fields = _stat(pid)
    return (pid, fields[19]) if fields and len(fields) > 19 else None


def _alive(proc: Proc) -> bool:
    """Still running (a zombie is not: it only waits for its parent to collect it)."""
    fields = _stat(proc[0])
    if not fields or len(fields) < 20:
        return False
    return fields[0] not in ("Z", "X") and fields[19] == proc[1]


def _command(pid: int) -> str:
    with contextlib.suppress(OSError):
        words = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split()
        return " ".join(w for word in words for w in word.split("\0") if w)[:120]
    return "?"


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def descendants(pid: int) -> list[Proc]:
    """Every process below ``pid`` now (children, theirs, ...), whatever session or group."""
    children: dict[int, list[int]] = {}
    for other in _all_pids():
        fields = _stat(other)
        if fields and len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(other)
    found: list[Proc] = []
    todo = list(children.get(pid, []))
    while todo:
        child = todo.pop()
        proc = ident(child)
        if proc is not None:
            found.append(proc)
        todo.extend(children.get(child, []))
    return found


def terminate(procs: Iterable[Proc], timeout: float = 10.0) -> list[Proc]:
    """SIGTERM each process still running, SIGKILL what still runs after ``timeout`` s.

    Returns the processes that had to be killed.
    """
    procs = [p for p in procs if p[0] != os.getpid() and _alive(p)]
    for pid, _ in procs:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in procs) and time.monotonic() < deadline:
        _reap(procs)
        time.sleep(0.1)
    killed = [p for p in procs if _alive(p)]
    for pid, _ in killed:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in killed) and time.monotonic() < deadline:
        time.sleep(0.05)
    _reap(procs)
    return killed


def _reap(procs: Iterable[Proc]) -> None:
    """Collect those of ``procs`` that are this process's own children and have ended."""
    for pid, _ in procs:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def stop_tree(proc: subprocess.Popen[Any] | None, timeout: float = 20.0) -> None:
    """Stop ``proc`` (SIGTERM, SIGKILL after ``timeout`` s), then whatever it left running.

    The tree is taken first, so the processes ``proc`` started in sessions of their own (a Hub's
    servers, services and their kernels) are found even once ``proc`` has gone.
    """
    if proc is None:
        return
    tree = descendants(proc.pid)
    stop_process(proc, timeout)
    terminate(tree + descendants(proc.pid), timeout=10)


def default_sigint() -> None:
    """Give SIGINT a handler here when it is ignored, so children start with the default."""
    with contextlib.suppress(ValueError):  # not the main thread: leave it
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def register_account_prefix(prefix: str) -> str:
    """Note a prefix of system accounts this run creates (``jt<hex>-``), for :func:`sweep`."""
    _PREFIXES.add(prefix)
    return prefix


def _accounts(prefix: str) -> dict[str, int]:
    out = {}
    with contextlib.suppress(OSError):
        for line in Path("/etc/passwd").read_text(encoding="utf-8").splitlines():
            fields = line.split(":")
            if len(fields) > 2 and fields[0].startswith(prefix):
                out[fields[0]] = int(fields[2])
    return out


def _processes_of(uids: set[int]) -> list[Proc]:
    found = []
    for pid in _all_pids():
        with contextlib.suppress(OSError):
            if os.stat(f"/proc/{pid}").st_uid in uids:
                proc = ident(pid)
                if proc is not None:
                    found.append(proc)
    return found


def remove_accounts(prefix: str) -> list[str]:
    """Stop every process of the accounts named ``<prefix>…``, then remove them (as root)."""
    if os.getuid() != 0 or not prefix:
        return []
    accounts = _accounts(prefix)
    if not accounts:
        return []
    terminate(_processes_of(set(accounts.values())), timeout=10)
    for name, uid in accounts.items():
        subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)
        # The account's runtime folder (AccountPerUserSpawner.runtime_root's default; kernels'
        # token folders): a later account given the same uid would own it. rmtree works on
        # directory fds and never follows a link.
        # (a link in its place is refused by rmtree, whose errors are ignored here)
        # AccountPerUserSpawner keys it by account name (older versions: by uid).
        for key in (name, str(uid)):
            shutil.rmtree(Path(RUNTIME_ROOT) / key, ignore_errors=True)
    return [name for name in accounts if name in _accounts(prefix)]  # those userdel left


def sweep() -> list[str]:
    """Stop what still runs under this process and remove this run's accounts.

    Returns a description of what was left over (empty when the tests had stopped everything).
    """
    running = [p for p in descendants(os.getpid()) if _alive(p)]
    left = [f"process {pid} ({_command(pid)})" for pid, _ in running]
    terminate(running, timeout=10)
    for prefix in sorted(_PREFIXES):
        left += [f"account {name}" for name in _accounts(prefix)]
        still = remove_accounts(prefix)
        left += [f"account {name} (userdel failed)" for name in still]
    return left
