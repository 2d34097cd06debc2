"""Canary strings: every secret and token used in tests carries one, and a leak check finds them.

A leak is any appearance, in text that must not hold secrets (logs, error pages, exception text),
of the session's canary string (also in each of its three base64url alignments, which is how it
shows up inside a JWT), or of a registered secret value (refresh tokens and other values that
cannot carry a canary). Reports name what leaked, never the value.
"""

from __future__ import annotations

import base64
import secrets
import threading

__all__ = ["CanaryRegistry"]


def _b64_variants(text: str) -> list[str]:
    """The canary as it appears inside base64url text, at each of the three byte alignments."""
    raw = text.encode()
    out = []
    for pad in range(3):
        encoded = base64.urlsafe_b64encode(b"\0" * pad + raw).decode().rstrip("=")
        # Drop the characters that depend on the neighbouring bytes.
        start = (pad * 4 + 2) // 3
        end = len(encoded) - 2
        if end - start >= 12:
            out.append(encoded[start:end])
    return out


class CanaryRegistry:
    """The session's canary and the secret values registered during the run."""

    def __init__(self, canary: str | None = None) -> None:
        self.canary = canary or f"JAIACANARY{secrets.token_hex(6)}"
        self._lock = threading.Lock()
        self._needles: dict[str, str] = {self.canary: "canary"}
        for i, variant in enumerate(_b64_variants(self.canary)):
            self._needles[variant] = f"canary (base64url, alignment {i})"

    def secret(self, label: str, nbytes: int = 16) -> str:
        """A fresh random secret that carries the canary."""
        return f"{label}-{self.canary}-{secrets.token_urlsafe(nbytes)}"

    def register(self, value: str, name: str) -> None:
        """Watch for a secret value that cannot carry the canary (e.g. an opaque refresh token)."""
        if value and len(value) >= 12:
            with self._lock:
                self._needles[value] = name

    def find(self, text: str) -> list[str]:
        """Names of the secrets that appear in ``text`` (empty when clean)."""
        if not text:
            return []
        with self._lock:
            needles = list(self._needles.items())
        return sorted({name for needle, name in needles if needle in text})
