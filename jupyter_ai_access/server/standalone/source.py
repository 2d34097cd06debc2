"""The standalone token source: the Jupyter server signs its one user in to Amazon Cognito.

With no JupyterHub around (a laptop's ``jupyter lab``, Binder), :class:`StandaloneSource` takes
the Hub's place behind the :class:`~.broker.TokenBroker`, so kernels get their tokens exactly as
under the Hub (same files, endpoint, client and status page):

- sign-in (:mod:`.handlers`): authorization code with PKCE S256, a fresh ``nonce`` and
  ``state``; ``state`` is bound to the browser by a signed cookie and is single use (kept here
  until the callback takes it, for at most ``LOGIN_TTL`` seconds); the code exchange, the
  verification of both tokens, renewal and revocation are the Hub's own, through one
  :class:`~jupyter_ai_access.cognito.client.CognitoClient`;
- the refresh token lives only in this object's memory: never on disk, in a kernel, a log line
  or a page; renewal (when the broker asks) uses it and keeps it when Cognito returns none;
- ``invalid_grant`` ends the session (kernels are told to sign in again at :attr:`login_url`); an
  unreachable Cognito keeps the still-valid tokens and is retried by the broker;
- sign-out withdraws the kernels' tokens at once, revokes the refresh token at ``/oauth2/revoke``
  and sends the browser to Cognito's ``/logout``.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from traitlets import default

from ...cognito.client import CognitoClient, VerifiedClaims
from ...cognito.oauth2 import pkce_pair
from ...errors import (
    IdentityProviderError,
    LoginRequiredError,
    SessionEndedError,
    TokenEndpointError,
    TokenError,
    TokensUnavailableError,
)
from ..exchanged import standalone_exchange
from ..tokenset import ExchangedSet, TokenSet, TokenSink
from .process import make_non_dumpable, scrub_secret_environment
from .settings import StandaloneSettings

__all__ = ["PendingLogin", "StandaloneSource"]

#: Seconds a started sign-in may take before its ``state`` is forgotten.
LOGIN_TTL = 600.0
#: Sign-ins started and not finished that are remembered at once (the oldest go first).
MAX_PENDING = 32


@dataclass(frozen=True)
class PendingLogin:
    """A sign-in between the redirect to Cognito and the callback (never stored on disk)."""

    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)
    redirect_uri: str
    next_url: str
    expires_at: float


class StandaloneSource(StandaloneSettings):
    """Signs the server's user in to Cognito and renews their tokens; the broker's source."""

    kind = "standalone"

    def __init__(
        self,
        *,
        base_url: str = "/",
        server_port: int = 8888,
        connection_url: str = "http://localhost:8888/",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.base_url = "/" + base_url.strip("/") + "/" if base_url.strip("/") else "/"
        self.server_port = server_port  # the loopback callback under serve_domain
        self.connection_url = connection_url
        self.broker: TokenSink | None = None  # the TokenBroker, set by attach()
        self._secret = self._take_secret()
        self._refresh_token: str | None = None
        self._sub: str | None = None
        self._generation = 0  # bumped by every sign-in and sign-out: stale refreshes are dropped
        self._ended_because: str | None = None  # why the last session ended (for kernels)
        self._pending: OrderedDict[str, PendingLogin] = OrderedDict()
        self.cognito: CognitoClient = self.make_cognito_client(client_secret=self._secret)
        self.clock = time.time

    def _take_secret(self) -> str:
        """Read the client secret once; keep it and its path from kernels (environ, /proc)."""
        _ = self.client_secret_file  # its default reads $COGNITO_CLIENT_SECRET_FILE: read it first
        secret = self.client_secret
        removed = scrub_secret_environment()
        if removed:
            self.log.info("Removed %s from the environment kernels inherit", ", ".join(removed))
        if self.protect_process:
            if make_non_dumpable():
                self.log.info("This server is non-dumpable: kernels cannot read its memory")
            else:
                self.log.warning(
                    "Could not make this server non-dumpable (not Linux?): processes of this "
                    "account can read its memory, the client secret and the refresh token included"
                )
        return secret

    # ---------------------------------------------------------------- what the broker reads
    @property
    def enabled(self) -> bool:
        """Token delivery is on when the pool and app client are configured."""
        return self.configured

    @property
    def signed_in(self) -> bool:
        """Whether a sign-in is held (a refresh token in memory)."""
        return self._refresh_token is not None

    user = ""  # known from the tokens once signed in
    watching = False  # sign-ins and sign-outs are pushed; renewal is asked for

    def attach(self, sink: TokenSink) -> None:
        """The broker this source signs in to (it pushes sign-ins and sign-outs there)."""
        self.broker = sink

    def start(self) -> None:
        """Nothing runs in the background: the broker asks for renewals."""

    @default("public_url")
    def _public_url_default(self) -> str:
        return self.base_url if self.serve_domain else self.connection_url

    @property
    def login_url(self) -> str:
        """Where the user signs in: ``<public_url>ai-access/login``."""
        return self.public_url.rstrip("/") + "/ai-access/login"

    async def fetch(self) -> TokenSet:
        """Renew with the refresh token (the broker calls this ahead of expiry)."""
        refresh_token, generation = self._refresh_token, self._generation
        if refresh_token is None:
            why = self._ended_because or "This Jupyter server is not signed in to Amazon Cognito"
            raise SessionEndedError(f"{why}: sign in at {self.login_url}", self.login_url)
        try:
            answer, verified = await self.cognito.refresh(refresh_token)
            tokens, sub = self._token_set(answer, verified), verified.sub
        except LoginRequiredError:
            return self._renewal_refused(generation, "Amazon Cognito ended your session")
        except (IdentityProviderError, TokenEndpointError) as e:
            raise TokensUnavailableError(
                f"Amazon Cognito cannot renew your tokens now: {e}"
            ) from None
        except TokenError as e:
            self.log.warning("Renewed tokens refused by verification: %s", e)
            return self._renewal_refused(generation, "The renewed tokens could not be verified")
        if generation != self._generation:
            return self._current()  # signed out or in again meanwhile: this answer is stale
        if sub != self._sub:
            return self._renewal_refused(generation, "Amazon Cognito answered for another user")
        rotated = answer.get("refresh_token")  # the same one when Cognito does not rotate
        if isinstance(rotated, str) and rotated:
            self._refresh_token = rotated
        return tokens

    def _renewal_refused(self, generation: int, reason: str) -> TokenSet:
        if generation != self._generation:
            return self._current()
        self._forget(reason)
        raise SessionEndedError(f"{reason}: sign in again at {self.login_url}", self.login_url)

    def _current(self) -> TokenSet:
        tokens = self.broker.tokens if self.broker is not None else None
        if tokens is None:
            raise SessionEndedError(f"Signed out: sign in at {self.login_url}", self.login_url)
        return tokens

    def _forget(self, reason: str | None = None) -> None:
        self._refresh_token = self._sub = None
        self._ended_because = reason
        self._generation += 1

    # ---------------------------------------------------------------- sign-in
    async def discover(self) -> dict[str, Any]:
        """Read the pool's discovery document once (its issuer must be ours)."""
        return await self.cognito.discover()

    def begin_login(self, redirect_uri: str, next_url: str) -> tuple[str, str]:
        """Remember a new sign-in; return its ``state`` and the browser's authorize URL."""
        assert self.cognito.document is not None, "discover() first"
        now = self.clock()
        for key in [k for k, p in self._pending.items() if p.expires_at <= now]:
            del self._pending[key]
        while len(self._pending) >= MAX_PENDING:
            self._pending.popitem(last=False)
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier, challenge = pkce_pair()
        self._pending[state] = PendingLogin(
            nonce, verifier, redirect_uri, next_url, now + LOGIN_TTL
        )
        endpoint = self.cognito.authorize_endpoint()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(self.scope),
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return state, f"{self.browser_url(str(endpoint))}?{query}"

    def take_pending(self, state: str) -> PendingLogin | None:
        """The sign-in started with ``state``, once (single use), unless it has expired."""
        pending = self._pending.pop(state, None)
        if pending is None or pending.expires_at <= self.clock():
            return None
        return pending

    async def complete_login(self, pending: PendingLogin, code: str) -> TokenSet:
        """Exchange the code (with the PKCE verifier), verify both tokens, deliver them."""
        answer, verified = await self.cognito.sign_in(
            code, pending.redirect_uri, pending.code_verifier, pending.nonce
        )
        tokens, sub = self._token_set(answer, verified), verified.sub
        refresh = answer.get("refresh_token")
        self._forget()
        self._refresh_token = refresh if isinstance(refresh, str) and refresh else None
        self._sub = sub
        self.log.info("Signed in to Amazon Cognito as %s", tokens.username)
        if self.broker is not None:
            self.broker.install(tokens)
        return tokens

    async def sign_out(self) -> None:
        """Withdraw the kernels' tokens, then revoke the refresh token at Cognito."""
        refresh_token = self._refresh_token
        self._forget("You signed out of Amazon Cognito")
        if self.broker is not None:
            self.broker.withdraw(
                SessionEndedError(
                    f"You signed out of Amazon Cognito: sign in at {self.login_url}",
                    self.login_url,
                )
            )
        await self.cognito.revoke(refresh_token)

    def logout_redirect(self, logout_uri: str) -> str:
        """The browser's way out through Cognito's /logout, back to ``logout_uri``."""
        return self.browser_url(self.cognito.logout_url(logout_uri))

    def browser_url(self, url: str) -> str:
        """A user-pool domain URL as the browser must see it (a path under serve_domain)."""
        if not self.serve_domain:
            return url
        parts = urlsplit(url)
        return urlunsplit(("", "", parts.path, parts.query, ""))

    # ---------------------------------------------------------------- Cognito's answers
    @staticmethod
    def _token_set(answer: dict[str, Any], verified: VerifiedClaims) -> TokenSet:
        """What kernels get from a verified answer (never the refresh token)."""
        access, id_claims = verified.access, verified.id
        username = access.get("username") or id_claims.get("cognito:username") or access["sub"]
        return TokenSet(
            access_token=answer["access_token"],
            id_token=answer["id_token"],
            access_expires_at=float(access["exp"]),
            id_expires_at=float(id_claims["exp"]),
            username=str(username),
            groups=tuple(access.get("cognito:groups") or id_claims.get("cognito:groups") or ()),
            scope=tuple(str(access.get("scope", "")).split()),
        )

    async def exchange(self, audience: str, scopes: tuple[str, ...]) -> ExchangedSet:
        """A token bound to ``audience``: this server's app client exchanges the user's current
        access token at Cognito's token endpoint (no actor)."""
        tokens = self.broker.tokens if self.broker is not None else None
        if tokens is None:
            raise SessionEndedError(
                f"This Jupyter server is not signed in to Amazon Cognito: sign in at "
                f"{self.login_url}",
                self.login_url,
            )
        endpoint = await self.cognito.endpoint()
        return await standalone_exchange(endpoint, tokens, audience, scopes, self.clock)

    async def close(self) -> None:
        """Forget everything (the refresh token goes with this object) and close the client."""
        self._forget()
        self._pending.clear()
