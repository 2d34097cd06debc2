"""The user's short-lived tokens as the server holds them, and where they come from.

:class:`TokenSet` is what the broker caches and hands to kernels (never a refresh token);
:class:`TokenSource` is a source other than the Hub (the standalone sign-in) that the broker asks
instead of JupyterHub's token endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["TokenSet", "TokenSource"]


@dataclass(frozen=True)
class TokenSet:
    """The user's short-lived tokens (never a refresh token)."""

    access_token: str = field(repr=False)
    id_token: str = field(repr=False)
    access_expires_at: float
    id_expires_at: float
    username: str
    groups: tuple[str, ...]
    scope: tuple[str, ...]
    cognito_username: str | None = None

    @property
    def expires_at(self) -> float:
        """When the first of the two tokens expires."""
        return min(self.access_expires_at, self.id_expires_at)


class TokenSource(Protocol):
    """Where the broker gets tokens when not from the Hub (``server/standalone.py``)."""

    @property
    def enabled(self) -> bool:
        """Whether the source is configured (token delivery is on)."""

    @property
    def login_url(self) -> str:
        """The absolute URL where the user signs in (again)."""

    async def fetch(self) -> TokenSet:
        """Fresh tokens; raise SessionEndedError (sign in) or TokensUnavailableError (retry)."""
