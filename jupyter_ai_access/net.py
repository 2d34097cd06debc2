"""Addresses and identifiers shared by every process: loopback hosts, Cognito user pool ids.

Imports only the standard library (the verifier, the kernel client and the pool description
depend on it).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import urlsplit

__all__ = ["POOL_ID", "find_free_port", "is_loopback", "safe_next_url"]

#: A user pool id, ``<region>_<1-55 alphanumerics>``: the one definition (verifier and emulator).
POOL_ID = re.compile(r"^(?P<region>[a-z]{2}(-gov)?-[a-z]+-\d)_[0-9A-Za-z]{1,55}$")


def find_free_port(host: str = "127.0.0.1") -> int:
    """Ask the OS for a free TCP port on ``host`` (bound once, then released for the caller)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def is_loopback(host: str | None) -> bool:
    """True when ``host`` is ``localhost`` or a loopback address (127.0.0.0/8, ::1, [::1])."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def safe_next_url(next_url: str | None) -> str | None:
    """``next_url`` when it is a path on this site, else None.

    Refused: anything with a scheme or host (``https://evil``, ``https:/evil``), protocol-relative
    forms (``//evil``, ``/\\evil``, ``/%2F/evil`` after decoding), whitespace or control characters
    that browsers strip (``/\\t/evil``), and backslashes.
    """
    if not next_url or not next_url.startswith("/") or next_url.startswith("//"):
        return None
    if _UNSAFE.search(next_url):
        return None
    parts = urlsplit(next_url)
    if parts.scheme or parts.netloc:
        return None
    return next_url
