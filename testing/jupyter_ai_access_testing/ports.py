"""Free ports for tests that run in parallel (pytest-xdist) without taking each other's.

Asking the OS for port 0 and closing the socket (what the product's emulator does) races when
several test processes do it at once: the OS may hand the same port to another worker's Hub
before the process this port was meant for has bound it. That happened in CI — a deployment's
emulator could not bind its port and the test polled another worker's Hub on it for a minute.

Here each xdist worker takes ports from its own slice of ``LOW``..``HIGH``, below Linux's
ephemeral range (32768-60999): ports the OS hands out for port 0 (JupyterHub's user servers,
kernels, outgoing connections) never fall in it, and two workers' slices never overlap. A
worker walks its slice in order (from a random start), so it gives a port again only after all
the others, and only if nothing holds it at that moment.
"""

from __future__ import annotations

import itertools
import os
import secrets
import socket
from collections.abc import Mapping

__all__ = ["HIGH", "LOW", "free_port", "worker_range"]

LOW = 20_000
HIGH = 32_700  # below the ephemeral range's start (32768)

_cursor: itertools.count[int] | None = None


def worker_range(environ: Mapping[str, str] = os.environ) -> tuple[int, int]:
    """This process's slice ``[low, high)``: the whole range outside xdist, else gwK's K-th."""
    worker = environ.get("PYTEST_XDIST_WORKER", "")
    count = int(environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    if not worker.startswith("gw") or count <= 1:
        return LOW, HIGH
    index = int(worker[2:]) % count
    size = (HIGH - LOW) // count
    return LOW + index * size, LOW + (index + 1) * size


def _bindable(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that no other test worker is given and that nothing holds now."""
    global _cursor
    low, high = worker_range()
    if _cursor is None:  # start at a random place: runs one after another do not reuse ports
        _cursor = itertools.count(secrets.randbelow(high - low))
    for _ in range(high - low):
        port = low + next(_cursor) % (high - low)
        if _bindable(host, port):
            return port
    raise RuntimeError(f"no free port left in {low}..{high} on {host}")
