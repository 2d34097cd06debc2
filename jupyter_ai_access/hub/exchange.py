"""Per-resource tokens at the Hub: policy, the actor token, and one exchange per key.

The Hub holds the client secret, so it is where a user's access token is exchanged (RFC 8693,
:meth:`~jupyter_ai_access.cognito.endpoint.TokenEndpoint.token_exchange`) for a token bound to
one audience. :class:`Exchanger` (``authenticator.exchanger``):

- policy: the scopes the user's groups may ask for an audience
  (``CognitoOAuthenticator.exchange_policy``); no entry → :class:`AudienceRefusedError`;
- the actor token: the actor client's ``client_credentials`` token, cached until
  ``exchange_renew_margin`` before its expiry, fetched once at a time;
- a cache per (user, audience, :func:`~jupyter_ai_access.protocol.scope_key` of the scopes), one
  exchange in flight per key however many servers and kernels ask; renewed ahead of expiry from
  the user's *current* access token (refreshed first when due, by the caller's ``current``);
  while Cognito is down a still-valid cached token is served;
- :meth:`Exchanger.drop_user` (called by :meth:`.HubSessions.end_session`) forgets the user's
  tokens; an exchange that was in flight then is not kept. A cached token of another ``sub``
  is never served.

Tokens are never logged; the audit names user, audience, scopes, actor and expiry.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..cognito.client import CognitoClient
from ..cognito.endpoint import TokenEndpoint
from ..cognito.exchange import actor_of, unverified_claims
from ..errors import (
    AudienceRefusedError,
    ExchangeRefusedError,
    IdPUnavailableError,
    TokenEndpointError,
)
from ..protocol import ErrorCode, fingerprint, scope_key
from ..retry import SingleFlight
from .audit import HubAudit

__all__ = ["ExchangeOwner", "Exchanged", "Exchanger"]

Key = tuple[str, str, str]
#: Cached tokens beyond which expired ones are forgotten at the next exchange.
MAX_CACHED = 10_000


@dataclass(frozen=True)
class Exchanged:
    """One cached per-resource token (``subject``: fingerprint of the token it came from)."""

    token: str = field(repr=False)
    audience: str
    scopes: list[str]
    expires_at: float
    actor: str | None
    sub: str
    subject: str
    origin_jti: str | None = None


class ExchangeOwner(Protocol):
    """What :class:`Exchanger` uses of its authenticator."""

    log: logging.Logger
    cognito: CognitoClient
    exchange_actor_client_id: str
    exchange_actor_client_secret: str
    exchange_actor_scopes: list[str]
    exchange_renew_margin: float
    http_timeout: float
    max_response_bytes: int
    validate_server_cert: bool

    @property
    def audit(self) -> HubAudit: ...

    def clock(self) -> float: ...

    def allowed_exchange(self, groups: list[str], audience: str) -> set[str]: ...

    async def discover(self) -> dict[str, Any]: ...


class Exchanger:
    """The Hub's per-resource tokens (see the module's docstring)."""

    def __init__(self, auth: ExchangeOwner) -> None:
        self.auth = auth
        self._cache: dict[Key, Exchanged] = {}
        self._flight: SingleFlight[Exchanged] = SingleFlight()
        self._actor: tuple[str, float] | None = None
        self._actor_flight: SingleFlight[str] = SingleFlight()
        self._generation: dict[str, int] = {}
        #: exchanges sent to Cognito (benchmarks and tests count them)
        self.exchanges = 0

    # ---------------------------------------------------------------- policy
    def granted_scopes(self, groups: list[str], audience: str, scopes: list[str]) -> list[str]:
        """The scopes to ask for: ``scopes`` if the groups may (all allowed ones when empty).

        Raises :class:`AudienceRefusedError` naming the setting.
        """
        setting = f"{type(self.auth).__name__}.exchange_policy"
        allowed = self.auth.allowed_exchange(groups, audience)
        if not allowed:
            raise AudienceRefusedError(
                f"None of your groups ({', '.join(groups) or 'none'}) may get tokens for "
                f"{audience!r}: ask an administrator ({setting})."
            )
        wanted = set(scope_key(scopes).split())
        refused = sorted(wanted - allowed)
        if refused:
            raise AudienceRefusedError(
                f"Your groups may not get the scope(s) {' '.join(refused)} for {audience!r} "
                f"(allowed: {' '.join(sorted(allowed))}; {setting})."
            )
        return sorted(wanted or allowed)

    # ---------------------------------------------------------------- the cache
    def key(self, user: str, audience: str, scopes: list[str]) -> Key:
        """The cache key of a request whose scopes :meth:`granted_scopes` resolved."""
        return (user, audience, scope_key(scopes))

    def fresh(self, key: Key, sub: str) -> Exchanged | None:
        """The cached token for ``key`` when it is not due for renewal (and of this ``sub``)."""
        entry = self._cache.get(key)
        if entry is None or entry.sub != sub:
            return None
        if entry.expires_at - self.auth.clock() <= self.auth.exchange_renew_margin:
            return None
        return entry

    def busy(self, key: Key) -> bool:
        """Whether an exchange for ``key`` is in flight (a new request joins it)."""
        return self._flight.in_flight(key)

    def cached(self, user: str) -> list[Exchanged]:
        """The user's cached tokens (tests and the admin's view; never logged)."""
        return [e for k, e in self._cache.items() if k[0] == user]

    def drop_user(self, user: str) -> int:
        """Forget ``user``'s tokens (their session ended); returns how many were dropped."""
        self._generation[user] = self._generation.get(user, 0) + 1
        keys = [k for k in self._cache if k[0] == user]
        for k in keys:
            del self._cache[k]
        return len(keys)

    async def get(
        self,
        key: Key,
        sub: str,
        current: Callable[[], Awaitable[dict[str, Any]]],
    ) -> Exchanged:
        """The token for ``key``, from the cache or exchanged now (one audit record each).

        ``current()`` returns the user's auth_state, refreshed first when due (raises when
        the session is over). One exchange per key at a time; the others share it.
        """
        entry = self.fresh(key, sub)
        if entry is not None:
            return entry
        return await self._flight.run(lambda: self._renew(key, sub, current), key=key)

    async def _renew(
        self, key: Key, sub: str, current: Callable[[], Awaitable[dict[str, Any]]]
    ) -> Exchanged:
        user, audience, scopes = key
        generation = self._generation.get(user, 0)
        entry = self.fresh(key, sub)
        if entry is not None:
            return entry
        old = self._cache.get(key)
        state = await current()
        self.granted_scopes(state.get("cognito_groups") or [], audience, scopes.split())
        now = self.auth.clock()
        usable = None
        if old is not None and old.sub == state.get("sub") and old.expires_at > now:
            usable = old
        subject = str(state["access_token"])
        subject_exp = float(state.get("access_token_expires_at") or 0)
        same = usable is not None and usable.subject == fingerprint(subject)
        if usable is not None and same and usable.expires_at >= subject_exp - 1:
            return usable  # the same subject cannot give a longer token: wait for its refresh
        if subject_exp <= now:
            if usable is not None:
                return usable
            raise IdPUnavailableError(
                "your access token has expired and Amazon Cognito cannot renew it now"
            )
        try:
            actor_token = await self.actor_token()
            endpoint = await self.auth.cognito.endpoint()
            self.exchanges += 1
            answer = await endpoint.token_exchange(subject, audience, scopes.split(), actor_token)
        except ExchangeRefusedError as e:
            self.auth.audit.exchange_failed(user, audience, ErrorCode.EXCHANGE_REFUSED, e.code)
            raise
        except IdPUnavailableError as e:
            self.auth.audit.exchange_failed(user, audience, ErrorCode.IDP_UNAVAILABLE, "")
            if usable is not None:
                self.auth.log.warning(
                    "Renewing %s's token for %s failed (%s); the cached one is still valid",
                    user,
                    audience,
                    e,
                )
                return usable
            raise
        token = str(answer["access_token"])
        claims = unverified_claims(token)
        expires_in = float(answer.get("expires_in") or 0)
        expires_at = float(claims.get("exp") or (now + expires_in))
        granted = str(answer.get("scope") or claims.get("scope") or "").split()
        issued = Exchanged(
            token=token,
            audience=audience,
            scopes=sorted(granted),
            expires_at=expires_at,
            actor=actor_of(claims),
            sub=str(state.get("sub") or claims.get("sub") or ""),
            subject=fingerprint(subject),
            origin_jti=state.get("origin_jti"),
        )
        if self._generation.get(user, 0) == generation:  # the session did not end meanwhile
            self._cache[key] = issued
            if len(self._cache) > MAX_CACHED:
                self._prune(now)
        self.auth.audit.token_exchanged(
            user,
            audience=audience,
            scopes=issued.scopes,
            actor=issued.actor,
            expires_at=issued.expires_at,
            origin_jti=issued.origin_jti,
        )
        return issued

    def _prune(self, now: float) -> None:
        """Forget expired tokens (users who never came back before their session ended)."""
        for k in [k for k, e in self._cache.items() if e.expires_at <= now]:
            del self._cache[k]

    # ---------------------------------------------------------------- the actor
    async def actor_token(self) -> str | None:
        """The actor client's access token (None without an actor client), cached."""
        if not self.auth.exchange_actor_client_id:
            return None
        if self._actor is not None and self._actor[1] - self.auth.clock() > max(
            self.auth.exchange_renew_margin, 30.0
        ):
            return self._actor[0]
        return await self._actor_flight.run(self._fetch_actor, key="actor")

    async def _fetch_actor(self) -> str:
        auth = self.auth
        hub = await auth.cognito.endpoint()
        endpoint = TokenEndpoint(
            token_url=hub.token_url,
            revoke_url=hub.revoke_url,
            client_id=auth.exchange_actor_client_id,
            client_secret=auth.exchange_actor_client_secret,
            timeout=auth.http_timeout,
            max_bytes=auth.max_response_bytes,
            validate_cert=auth.validate_server_cert,
        )
        try:
            answer = await endpoint.client_credentials(auth.exchange_actor_scopes)
        except TokenEndpointError as e:
            cls = type(auth).__name__
            raise ExchangeRefusedError(
                e.error,
                f"Amazon Cognito refused the actor client {auth.exchange_actor_client_id!r} "
                f"({e.error}): check {cls}.exchange_actor_client_id, "
                f"exchange_actor_client_secret and exchange_actor_scopes",
            ) from None
        token = str(answer["access_token"])
        expires_at = float(
            unverified_claims(token).get("exp")
            or auth.clock() + float(answer.get("expires_in") or 0)
        )
        self._actor = (token, expires_at)
        return token
