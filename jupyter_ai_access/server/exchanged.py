"""Per-resource tokens: access tokens bound to one audience (RFC 8693 token exchange).

The exchange happens where the client secret lives (the Hub, or the standalone server): the
source's :meth:`~.tokenset.TokenSource.exchange`. :func:`hub_exchange` is the Hub source's
request (``GET`` :data:`~jupyter_ai_access.protocol.HUB_EXCHANGE_PATH`), and
:class:`ExchangedTokens` the broker's cache of what the source gave:

- one entry per ``(audience, scope_key(scopes))``; one request in flight per key, however many
  kernels ask (:class:`~jupyter_ai_access.retry.SingleFlight`);
- renewed ahead of expiry: a kernel asking within ``TokenBroker.renew_before`` of the expiry
  makes the broker ask again (at most once per ``retry_after`` seconds per key), and while the
  source is unreachable the still-valid token is served;
- withdrawn, every entry, when the session ends (the broker's ``withdraw``); a request that was
  in flight then is not cached.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlencode

from ..errors import (
    AudienceRefusedError,
    ExchangeRefusedError,
    IdentityProviderError,
    SessionEndedError,
    TokenEndpointError,
    TokensUnavailableError,
)
from ..protocol import (
    TOKENS_SCOPE,
    ErrorCode,
    ExchangedToken,
    hub_exchange_url,
    scope_key,
)
from ..retry import SingleFlight
from .tokenset import ExchangedSet, TokenSet

if TYPE_CHECKING:
    from ..cognito.endpoint import TokenEndpoint
    from .hub_source import HubSource
    from .tokenset import TokenSource

__all__ = ["ExchangedTokens", "audience_refused_message", "hub_exchange", "standalone_exchange"]


def audience_refused_message(audience: str, detail: str = "") -> str:
    """What a refused audience says (the policy's owner and setting, never a token)."""
    why = f" ({detail.rstrip('.')})" if detail else ""
    return (
        f"You may not get a token for the audience {audience!r}{why}: the Hub's "
        "CognitoOAuthenticator.exchange_policy decides which audiences and scopes each group "
        "may ask for. Ask the Hub's administrator."
    )


async def hub_exchange(source: HubSource, audience: str, scopes: tuple[str, ...]) -> ExchangedSet:
    """A token bound to ``audience`` from the Hub (the Hub exchanges, with its actor token)."""
    if not source.enabled:
        raise TokensUnavailableError(
            "Not running under JupyterHub: no Hub to exchange tokens with "
            "(HubSource.hub_api_url, api_token and user are empty)."
        )
    url = hub_exchange_url(source.hub_api_url, source.user)
    url += "?" + urlencode({"audience": audience, "scope": scope_key(scopes)})
    code, body = await source.get_json(url, f"exchange a token for {audience!r}")
    if code == 200:
        answer = cast(ExchangedToken, body)
        return ExchangedSet(
            access_token=answer["access_token"],
            expires_at=float(answer["access_token_expires_at"]),
            audience=answer.get("audience", audience),
            scope=tuple(answer.get("scope", ())),
            username=answer.get("username", source.user),
            actor=answer.get("actor"),
        )
    error = body.get("error")
    message = str(body.get("message") or f"JupyterHub answered HTTP {code}")
    if code == 401 and error == ErrorCode.LOGIN_REQUIRED:
        raise SessionEndedError(message, source.login_url or str(body.get("login_url", "")))
    if code == 403 and error == ErrorCode.AUDIENCE_REFUSED:
        raise AudienceRefusedError(audience_refused_message(audience, message))
    if code == 502 and error == ErrorCode.EXCHANGE_REFUSED:
        raise ExchangeRefusedError(
            str(body.get("code", "") or ErrorCode.EXCHANGE_REFUSED),
            f"Cognito refused to exchange a token for {audience!r}: {message}",
        )
    if code in (401, 403, 404):
        raise TokensUnavailableError(
            f"JupyterHub refused the exchange request (HTTP {code}): the Hub must "
            f"serve per-resource tokens and the server's role needs the scope {TOKENS_SCOPE}!user.",
            failure="refused",
            reason=f"JupyterHub refused the exchange request (HTTP {code})",
        )
    cognito = error == ErrorCode.IDP_UNAVAILABLE
    raise TokensUnavailableError(message, failure="cognito_unreachable" if cognito else "hub_error")


async def standalone_exchange(
    endpoint: TokenEndpoint,
    tokens: TokenSet,
    audience: str,
    scopes: tuple[str, ...],
    clock: Callable[[], float] = time.time,
) -> ExchangedSet:
    """Exchange the user's access token at Cognito with the standalone server's app client."""
    try:
        answer = await endpoint.token_exchange(tokens.access_token, audience, list(scopes))
    except TokenEndpointError as e:
        raise ExchangeRefusedError(
            e.error,
            f"Cognito refused to exchange a token for {audience!r} ({e.error}): the app client "
            "needs ALLOW_TOKEN_EXCHANGE_IMPERSONATION and the audience must be a resource server "
            "of the pool.",
        ) from None
    except IdentityProviderError as e:
        raise TokensUnavailableError(
            f"Amazon Cognito cannot be reached to exchange a token for {audience!r}; retrying.",
            failure="cognito_unreachable",
            reason=f"Cognito cannot be reached ({type(e).__name__})",
        ) from None
    return ExchangedSet(
        access_token=str(answer["access_token"]),
        expires_at=clock() + float(answer.get("expires_in", 0)),
        audience=audience,
        scope=tuple(str(answer.get("scope", "")).split()),
        username=tokens.username,
        actor=None,
    )


class ExchangedTokens:
    """The broker's per-resource tokens, per ``(audience, scope_key)``."""

    #: Seconds between two renewal attempts of one key while its token is still valid.
    retry_after = 5.0

    def __init__(
        self,
        source: TokenSource,
        clock: Callable[[], float],
        renew_before: Callable[[], float],
        on_ended: Callable[[SessionEndedError], None],
    ) -> None:
        self.source = source
        self.clock = clock
        self.renew_before = renew_before
        self.on_ended = on_ended
        self.entries: dict[tuple[str, str], ExchangedSet] = {}
        self.exchanges = 0  # requests to the source
        self._tried: dict[tuple[str, str], float] = {}  # key -> monotonic time of last request
        self._flight: SingleFlight[ExchangedSet] = SingleFlight()
        self._generation = 0

    def clear(self) -> None:
        """The session ended: forget every per-resource token (and what is in flight)."""
        self._generation += 1
        self.entries.clear()
        self._tried.clear()

    async def get(
        self, audience: str, scopes: tuple[str, ...], min_valid: float = 0.0, *, force: bool = False
    ) -> ExchangedSet:
        """A token for ``audience`` valid for ``min_valid`` seconds when the source can give it."""
        key = (audience, scope_key(scopes))
        current = self.entries.get(key)
        left = current.expires_at - self.clock() if current is not None else 0.0
        if current is not None and not force and left > min_valid:
            recently = time.monotonic() - self._tried.get(key, float("-inf")) < self.retry_after
            if left > self.renew_before() or recently:
                return current
        try:
            return await self._flight.run(lambda: self._request(key), key)
        except TokensUnavailableError:
            if current is not None and current.expires_at > self.clock() + min_valid:
                return current  # still valid: keep serving it while the source is away
            raise

    async def _request(self, key: tuple[str, str]) -> ExchangedSet:
        self.exchanges += 1
        self._tried[key] = time.monotonic()
        generation = self._generation
        try:
            token = await self.source.exchange(key[0], tuple(key[1].split()))
        except SessionEndedError as e:
            self.on_ended(e)
            raise
        if generation == self._generation:
            self.entries[key] = token
        return token

    def summary(self) -> list[dict[str, Any]]:
        """What is held (no token text): audience, scope, expiry, actor."""
        return [
            {"audience": a, "scope": s, "expires_at": t.expires_at, "actor": t.actor}
            for (a, s), t in self.entries.items()
        ]
