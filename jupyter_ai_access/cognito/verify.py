"""Accept or refuse Cognito ID and access tokens: one call for a protected resource.

    verifier = CognitoTokenVerifier(
        region="eu-west-1", user_pool_id="eu-west-1_AbC123xyz",
        client_ids=["4abc..."], required_scopes=["ai-access/datasets.read"])
    claims = verifier.verify(token)            # or: await verifier.verify_async(token)

Imports only the standard library and PyJWT (with ``cryptography``) at import time.

What is enforced (``../shared/security-cases.md``, "Resource-side verification"):

- strict compact JWS: exactly three base64url segments without padding and in canonical form,
  strict JSON objects (no ``NaN``/``Infinity``, no duplicate members; too deep a nesting is
  refused), at most ``max_token_bytes``;
- the algorithm is fixed by configuration (RS256); ``alg`` in the header must equal it, so
  ``none``, HS256 (also keyed with the public key) and ES256 are refused; the key is chosen by
  ``kid`` from the configured issuer's JWKS only; ``jku``, ``x5u``, ``jwk`` and ``x5c`` in the
  header are ignored; any ``crit`` is refused (no extension is understood);
- exact ``iss``; ``token_use``; access tokens: ``client_id`` in the allow-list, ``aud`` one of
  ``audience`` (else refused by every verifier), or none if ``accept_broad_tokens``; ``act`` as
  configured (:mod:`.claims`); ID tokens: ``aud`` in the allow-list;
  ``exp`` and ``iat`` required finite numbers (``iat`` not in the future), ``nbf`` honoured, with
  leeway; ``sub`` a non-empty string; ``scope`` a string matched scope by scope (no prefixes);
  ``cognito:groups`` a list of strings; all types checked strictly (``true`` is not a number);
- optional deny-list of ``origin_jti`` values, checked on every call, cached or not.

A verified token is cached under the SHA-256 of its text until its ``exp`` (bounded LRU); every
call returns its own deep copy of the claims, so a caller that changes them changes no later answer.

Security caveats: a revoked Cognito token still verifies offline until ``exp`` unless its
``origin_jti`` is denied here. Keep access-token lifetimes short.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Container, Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from ..errors import (
    BadSignatureError,
    ClaimError,
    ConfigurationError,
    ExpiredTokenError,
    GroupRequiredError,
    IdentityProviderError,
    InsufficientScopeError,
    MalformedTokenError,
    RevokedTokenError,
)
from ..net import POOL_ID
from . import claims as _claims
from .claims import check_actor, nested_names, verified_copy
from .jws import CompactParser
from .jws import number_claim as _number
from .jws import show as _show
from .jws import string_claim as _string
from .oidc import JWKSCache, check_endpoint_url

__all__ = [
    "CognitoTokenVerifier",
    "cognito_issuer",
]

_PKCS1 = padding.PKCS1v15()
_SHA256 = hashes.SHA256()


def cognito_issuer(region: str, user_pool_id: str) -> str:
    """The issuer URL of a Cognito user pool."""
    if not POOL_ID.match(user_pool_id) or not user_pool_id.startswith(f"{region}_"):
        raise ConfigurationError(
            f"user_pool_id {user_pool_id!r} must look like '{region}_AbC123xyz' "
            f"(the region {region!r}, an underscore, then the pool's id)"
        )
    return f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}"


class CognitoTokenVerifier:
    """Verifies Cognito tokens of one user pool for one resource.

    Parameters (all keyword-only):

    issuer / region + user_pool_id
        The user pool: its issuer URL, or the region and pool id it is derived from.
    client_ids
        App client ids whose tokens are accepted (``client_id`` of access tokens, ``aud`` of ID
        tokens). At least one.
    token_use
        ``"access"`` (default) or ``"id"``; the other kind is refused.
    audience, accept_broad_tokens, require_actor, allowed_actors
        This resource's identifier(s): tokens bound to another (``aud``) are always refused;
        broad ones (no ``aud``) accepted unless ``accept_broad_tokens=False``. Actor (``act``)
        required (True), refused (False) or either (None); the acting client ids allowed.
    required_scopes
        Scopes every accepted access token must carry (exact match, scope by scope). Refused with
        ``token_use="id"`` (ID tokens carry no scope), as are per-call ``scopes``.
    required_groups / any_group
        Groups (``cognito:groups``) the user must all be in / must be in at least one of.
    leeway
        Seconds of clock skew allowed on ``exp``, ``iat`` and ``nbf``. Default 0.
    algorithm
        The one signing algorithm accepted. Cognito signs with RS256, the only value supported.
    jwks_uri, jwks_ttl, jwks_miss_cooldown, http_timeout
        Where the keys are (default ``<issuer>/.well-known/jwks.json``), how long a fetched key set
        is trusted (3600 s), how long unknown ``kid``s are refused without fetching after a refetch
        did not find one (30 s), and the HTTP timeout (5 s).
    denied_origin_jtis
        A container (e.g. a set you update) or a predicate: tokens whose ``origin_jti`` is in it
        are refused, cached or not. Use it to refuse revoked sessions before ``exp``.
    cache_size, max_token_bytes, clock
        How many verified tokens to remember (LRU, each until its ``exp``; 0: none); the size
        over which a token is refused before any parsing (16384); the current UNIX time (tests).
    """

    def __init__(
        self,
        *,
        issuer: str | None = None,
        region: str | None = None,
        user_pool_id: str | None = None,
        client_ids: Iterable[str],
        token_use: str = "access",
        audience: str | Iterable[str] = (),
        accept_broad_tokens: bool = True,
        require_actor: bool | None = None,
        allowed_actors: Iterable[str] = (),
        required_scopes: Iterable[str] = (),
        required_groups: Iterable[str] = (),
        any_group: Iterable[str] = (),
        leeway: float = 0.0,
        algorithm: str = "RS256",
        jwks_uri: str | None = None,
        jwks_ttl: float = 3600.0,
        jwks_miss_cooldown: float = 30.0,
        http_timeout: float = 5.0,
        jwks: JWKSCache | None = None,
        denied_origin_jtis: Container[str] | Callable[[str], bool] | None = None,
        cache_size: int = 10_000,
        max_token_bytes: int = 16_384,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if issuer is None:
            if not (region and user_pool_id):
                raise ConfigurationError(
                    "CognitoTokenVerifier needs issuer=... or both region=... and user_pool_id=..."
                )
            issuer = cognito_issuer(region, user_pool_id)
        elif (region or user_pool_id) and issuer != cognito_issuer(
            region or "", user_pool_id or ""
        ):
            raise ConfigurationError(
                "CognitoTokenVerifier: issuer contradicts region/user_pool_id; give one of them"
            )
        if issuer.endswith("/"):
            raise ConfigurationError("CognitoTokenVerifier(issuer=...) must not end with '/'")
        try:
            self.issuer = check_endpoint_url(issuer, "issuer")
        except IdentityProviderError as e:
            raise ConfigurationError(f"CognitoTokenVerifier(issuer=...): {e}") from e
        self.client_ids = frozenset(client_ids)
        if not self.client_ids or not all(isinstance(c, str) and c for c in self.client_ids):
            raise ConfigurationError(
                "CognitoTokenVerifier(client_ids=...) must list at least one app client id"
            )
        if token_use not in ("access", "id"):
            raise ConfigurationError("CognitoTokenVerifier(token_use=...) is 'access' or 'id'")
        if algorithm != "RS256":
            raise ConfigurationError(
                f"CognitoTokenVerifier(algorithm={algorithm!r}): Cognito signs with RS256 only"
            )
        self.token_use = token_use
        self.algorithm = algorithm
        self.resource = _claims.ResourcePolicy(
            token_use, self.client_ids, audience, accept_broad_tokens, require_actor, allowed_actors
        )
        self.required_scopes = frozenset(required_scopes)
        if self.required_scopes and token_use != "access":
            raise ConfigurationError(
                f"CognitoTokenVerifier(required_scopes=...) cannot be enforced with "
                f"token_use={token_use!r}: ID tokens carry no scope. Require scopes of access "
                "tokens (token_use='access'), or groups (required_groups) of ID tokens"
            )
        self.required_groups = frozenset(required_groups)
        self.any_group = frozenset(any_group)
        self.leeway = float(leeway)
        self.clock = clock
        self.max_token_bytes = max_token_bytes
        self.cache_size = cache_size
        self.jwks = jwks or JWKSCache(
            jwks_uri or f"{self.issuer}/.well-known/jwks.json",
            algorithm=algorithm,
            ttl=jwks_ttl,
            miss_cooldown=jwks_miss_cooldown,
            timeout=http_timeout,
        )
        if denied_origin_jtis is None:
            self._is_denied: Callable[[str], bool] | None = None
        elif callable(denied_origin_jtis):
            self._is_denied = denied_origin_jtis
        else:
            self._is_denied = denied_origin_jtis.__contains__
        self._cache: OrderedDict[bytes, _claims.CacheEntry] = OrderedDict()
        self._parser = CompactParser(algorithm)

    # ---------------------------------------------------------------- public API
    def verify(
        self,
        token: str,
        *,
        scopes: Iterable[str] = (),
        groups: Iterable[str] = (),
        nonce: str | None = None,
        require_actor: bool | None = None,
        allowed_actors: Collection[str] = (),
    ) -> _claims.TokenClaims:
        """Verify ``token``; return its claims or raise a :class:`TokenError`.

        ``scopes`` and ``groups`` add per-call requirements to the configured ones; ``nonce``
        (ID tokens at login) must equal the token's ``nonce``. May fetch the JWKS (blocking):
        use :meth:`verify_async` on an event loop. ``scopes`` on an ID-token verifier raise
        :class:`ConfigurationError`: ID tokens carry no scope, so the requirement cannot be met.
        ``require_actor`` / ``allowed_actors`` add to the configured actor policy. Claims come as
        :class:`~.claims.TokenClaims` (a dict with ``.act``, ``.actor``, ``.audience``).
        """
        self.check_scopes(scopes)
        digest, claims, nested = self._lookup(token)
        if claims is None:
            kid, claims, signing_input, signature = self._parser.parse(token)
            key = self.jwks.fresh_key(kid) or self.jwks.get_key_sync(kid)
            claims, nested = self._finish(digest, key, signing_input, signature, claims)
        return self._authorize(claims, nested, scopes, groups, nonce, require_actor, allowed_actors)

    async def verify_async(
        self,
        token: str,
        *,
        scopes: Iterable[str] = (),
        groups: Iterable[str] = (),
        nonce: str | None = None,
        require_actor: bool | None = None,
        allowed_actors: Collection[str] = (),
    ) -> _claims.TokenClaims:
        """Like :meth:`verify`, fetching keys without blocking the event loop."""
        self.check_scopes(scopes)
        digest, claims, nested = self._lookup(token)
        if claims is None:
            kid, claims, signing_input, signature = self._parser.parse(token)
            key = self.jwks.fresh_key(kid) or await self.jwks.get_key(kid)
            claims, nested = self._finish(digest, key, signing_input, signature, claims)
        return self._authorize(claims, nested, scopes, groups, nonce, require_actor, allowed_actors)

    def check_scopes(self, scopes: Iterable[str]) -> None:
        """Raise :class:`ConfigurationError` when ``scopes`` cannot be enforced (ID tokens carry
        none: refused, never ignored). The adapters call it when they are set up."""
        if self.token_use != "access" and (asked := tuple(scopes)):
            raise ConfigurationError(
                f"scopes={sorted(asked)} cannot be enforced by a verifier with "
                f"token_use={self.token_use!r}: ID tokens carry no scope"
            )

    def check_actor_options(
        self, require_actor: bool | None = None, allowed_actors: Collection[str] = ()
    ) -> None:
        """:class:`ConfigurationError` for a per-call actor policy that cannot be met (adapters)."""
        _claims.check_actor_options(require_actor, allowed_actors, self.resource.require_actor)

    def clear_cache(self) -> None:
        """Forget every verified token."""
        self._cache.clear()

    # ---------------------------------------------------------------- steps
    def _lookup(self, token: str) -> tuple[bytes, dict[str, Any] | None, tuple[str, ...]]:
        if type(token) is not str:
            raise MalformedTokenError("the token must be a string")
        if len(token) > self.max_token_bytes:
            raise MalformedTokenError(f"the token is longer than {self.max_token_bytes} bytes")
        if not self.cache_size:
            return b"", None, ()
        digest = hashlib.sha256(token.encode()).digest()
        entry = self._cache.get(digest)
        if entry is None:
            return digest, None, ()
        claims, exp, nested = entry
        if self.clock() >= exp + self.leeway:
            self._cache.pop(digest, None)
            raise ExpiredTokenError("the token has expired")
        self._cache.move_to_end(digest)
        self._check_denied(claims)
        return digest, claims, nested

    def _finish(
        self,
        digest: bytes,
        key: Any,
        signing_input: bytes,
        signature: bytes,
        claims: dict[str, Any],
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        try:
            key.verify(signature, signing_input, _PKCS1, _SHA256)
        except InvalidSignature:
            raise BadSignatureError("the signature does not verify") from None
        exp = self._check_claims(claims)
        nested = nested_names(claims)  # copied for each caller
        if self.cache_size:
            self._cache[digest] = (claims, exp, nested)
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return claims, nested

    def _check_claims(self, claims: dict[str, Any]) -> float:
        iss = claims.get("iss")
        if iss != self.issuer or type(iss) is not str:
            raise ClaimError("iss", "is missing" if iss is None else "is not the configured issuer")
        use = claims.get("token_use")
        if use != self.token_use:
            raise ClaimError("token_use", f"must be {self.token_use!r}, not {_show(use)}")
        now = self.clock()
        exp = _number(claims, "exp")
        assert exp is not None
        if now >= exp + self.leeway:
            raise ExpiredTokenError("the token has expired")
        iat = _number(claims, "iat")
        assert iat is not None
        if iat > now + self.leeway:
            raise ClaimError("iat", "is in the future")
        nbf = _number(claims, "nbf", required=False)
        if nbf is not None and nbf > now + self.leeway:
            raise ClaimError("nbf", "is in the future")
        _string(claims, "sub")
        if self.token_use == "access":
            if _string(claims, "client_id") not in self.client_ids:
                raise ClaimError("client_id", "is not an accepted app client")
            scope = claims.get("scope", "")
            if type(scope) is not str:
                raise ClaimError("scope", "must be a space-separated string")
        else:
            aud = claims.get("aud")
            if type(aud) is list and len(aud) == 1:
                aud = aud[0]
            if aud is None:
                raise ClaimError("aud", "is missing")
            if type(aud) is not str or aud not in self.client_ids:
                raise ClaimError("aud", "is not an accepted app client")
        groups = claims.get("cognito:groups", [])
        if type(groups) is not list or not all(type(g) is str for g in groups):
            raise ClaimError("cognito:groups", "must be a list of strings")
        origin = claims.get("origin_jti")
        if origin is not None and type(origin) is not str:
            raise ClaimError("origin_jti", "must be a string")
        if "aud" in claims or "act" in claims or self.resource.strict:
            self.resource.check(claims)  # per-resource tokens: ``.claims``
        self._check_denied(claims)
        return exp

    def _check_denied(self, claims: Mapping[str, Any]) -> None:
        if self._is_denied is not None:
            origin = claims.get("origin_jti")
            if origin is not None and self._is_denied(origin):
                raise RevokedTokenError("the token's session was revoked (origin_jti denied)")

    def _authorize(
        self,
        claims: dict[str, Any],
        nested: tuple[str, ...],
        scopes: Iterable[str],
        groups: Iterable[str],
        nonce: str | None,
        require_actor: bool | None,
        allowed_actors: Collection[str],
    ) -> _claims.TokenClaims:
        if self.token_use == "access":
            wanted = self.required_scopes.union(scopes) if scopes else self.required_scopes
            if wanted:
                have = set(claims.get("scope", "").split(" "))
                missing = sorted(wanted - have)
                if missing:
                    raise InsufficientScopeError(missing)
        need = self.required_groups.union(groups) if groups else self.required_groups
        if need or self.any_group:
            member = set(claims.get("cognito:groups", ()))
            if need - member:
                raise GroupRequiredError(sorted(need))
            if self.any_group and not self.any_group & member:
                raise GroupRequiredError(sorted(self.any_group), any_of=True)
        if nonce is not None:
            got = claims.get("nonce")
            if type(got) is not str or not hmac.compare_digest(got.encode(), nonce.encode()):
                raise ClaimError("nonce", "does not match this login")
        if require_actor is not None or allowed_actors:
            check_actor(claims, require_actor, allowed_actors)
        return verified_copy(claims, nested)
