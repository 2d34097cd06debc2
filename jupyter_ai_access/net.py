"""Addresses and identifiers shared by every process: loopback hosts, Cognito user pool ids.

Imports only the standard library (the verifier, the kernel client and the pool description
depend on it).
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["POOL_ID", "is_loopback"]

#: A user pool id, ``<region>_<1-55 alphanumerics>``: the one definition (verifier and emulator).
POOL_ID = re.compile(r"^(?P<region>[a-z]{2}(-gov)?-[a-z]+-\d)_[0-9A-Za-z]{1,55}$")


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
