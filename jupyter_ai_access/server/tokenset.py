"""The user's short-lived tokens as the server holds them, and where they come from.

:class:`TokenSet` is what the broker caches and hands to kernels (never a refresh token);
:class:`TokenSource` is the small interface every source of tokens implements (the Hub, the
standalone sign-in, a source of your own), and :class:`TokenSink` what a source pushes changes
into (the broker).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ..errors import SessionEndedError, TokensUnavailableError

__all__ = ["ExchangedSet", "TokenSet", "TokenSink", "TokenSource"]


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


@dataclass(frozen=True)
class ExchangedSet:
    """An access token bound to one audience (RFC 8693 token exchange; no refresh token).

    ``actor`` is the client id in the token's ``act`` claim (who acts for the user), None when
    it was issued without an actor.
    """

    access_token: str = field(repr=False)
    expires_at: float
    audience: str
    scope: tuple[str, ...]
    username: str
    actor: str | None = None


class TokenSink(Protocol):
    """What a source pushes changes into: the :class:`~.broker.TokenBroker` it was attached to.

    ``via`` is ``"fetch"`` for changes the user's action caused (a sign-in, a sign-out) and
    ``"watch"`` for those a session watch heard of (the audit events' ``via``).
    """

    @property
    def tokens(self) -> TokenSet | None:
        """The tokens held now (None: none yet, or the session ended)."""

    def install(self, tokens: TokenSet, via: str = "fetch") -> None:
        """New tokens: every kernel gets them at once, renewal is scheduled."""

    def withdraw(self, error: SessionEndedError, via: str = "fetch") -> None:
        """The session ended: every kernel's tokens are withdrawn."""

    def failed(self, error: TokensUnavailableError, via: str = "fetch") -> None:
        """The source could not be asked (the tokens held stay until they expire)."""


class TokenSource(Protocol):
    """Where the broker gets the user's tokens: the Hub (:mod:`.hub_source`), the standalone
    sign-in (:mod:`.standalone`), or a source of your own.

    The broker asks :meth:`fetch` when its tokens are due for renewal (one call at a time) and
    caches, renews and hands out what it returns; a source that learns of changes by itself
    (a sign-in page, a session watch) pushes them into the :class:`TokenSink` given to
    :meth:`attach`.
    """

    @property
    def kind(self) -> str:
        """A short name for people and the status API's ``token_source`` (``hub``,
        ``standalone``)."""

    @property
    def enabled(self) -> bool:
        """Whether the source is configured (token delivery is on)."""

    @property
    def login_url(self) -> str:
        """The absolute URL where the user signs in (again); "" when unknown."""

    @property
    def user(self) -> str:
        """Whose tokens, when known before any are fetched ("" when not: see the tokens)."""

    @property
    def signed_in(self) -> bool:
        """Whether the source holds a session (False: nothing to fetch until the user signs in
        through the source's own page, the status shows "signed-out")."""

    @property
    def watching(self) -> bool:
        """Whether the source is pushing session changes now (a session watch): while the session
        is over the broker then waits for a push instead of asking."""

    def attach(self, sink: TokenSink) -> None:
        """Called once by the broker that owns this source, before anything else."""

    def start(self) -> None:
        """Start pushing changes (idempotent; the broker calls it with its renewal)."""

    async def fetch(self) -> TokenSet:
        """Fresh tokens; raise SessionEndedError (sign in) or TokensUnavailableError (retry)."""

    async def exchange(self, audience: str, scopes: tuple[str, ...]) -> ExchangedSet:
        """A token bound to ``audience`` with ``scopes`` (empty: every scope allowed); raise
        SessionEndedError, AudienceRefusedError, ExchangeRefusedError or TokensUnavailableError."""

    async def close(self) -> None:
        """Stop any background work and forget what the source holds (server shutdown)."""
