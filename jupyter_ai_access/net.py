"""Network helpers shared by the verifier, the pool description and the emulator launcher.

Imports only the standard library (``verify.py`` and ``oidc.py`` depend on it).
"""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


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
