"""OpenID Connect discovery and a JWKS cache that cannot be turned into a fetch amplifier.

Imports only the standard library and PyJWT at import time; the asynchronous fetcher imports
tornado's ``AsyncHTTPClient`` when it first runs, so resource servers need no Jupyter.

:class:`JWKSCache` rules:

- keys are chosen by ``kid``; only RSA keys usable for the configured algorithm (RS256) and at
  least 2048 bits are kept; a malformed key is skipped (and logged by ``kid``) without affecting
  the others; a key set with no usable key is treated as a failed fetch;
- the set is fetched once and kept for ``ttl`` seconds; after that the next lookup refetches, and
  when the refetch fails the old keys keep serving (the IdP being down must not log people out);
- an unknown ``kid`` triggers one refetch. When that refetch does not bring the ``kid``, further
  unknown ``kid``s are refused without fetching for ``miss_cooldown`` seconds. A new ``kid`` right
  after a successful fetch (a key rotation) is still fetched at once;
- one fetch is in flight at a time (per event loop for async callers, per cache for threads);
- failed fetches back off exponentially (1 s doubling to ``max_backoff``) before the next try.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import jwt

from ..errors import DiscoveryError, KeySetUnavailableError, UnknownKeyError
from ..net import is_loopback
from ..retry import Backoff, SingleFlight
from .http import get_async, get_sync

__all__ = [
    "JWKSCache",
    "check_endpoint_url",
    "fetch_discovery",
    "fetch_discovery_sync",
    "parse_jwks",
]

log = logging.getLogger(__name__)

AsyncFetcher = Callable[[str, float], Awaitable[bytes]]
SyncFetcher = Callable[[str, float], bytes]


def check_endpoint_url(url: str, what: str) -> str:
    """Require ``https://``, or ``http://`` on a loopback host; return the URL."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and is_loopback(host):
        return url
    raise DiscoveryError(f"{what} {url!r} must be an https:// URL (http:// only on loopback)")


#: Fetchers of a JSON document (no redirects, bounded size): tornado's for the event loop, the
#: standard library's for sync callers. Tests pass their own.
tornado_fetch: AsyncFetcher = get_async
urllib_fetch: SyncFetcher = get_sync


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as e:
        raise ValueError(f"{what} is not JSON") from e
    if not isinstance(data, dict):
        raise ValueError(f"{what} is not a JSON object")
    return data


REQUIRED_ENDPOINTS = ("jwks_uri", "authorization_endpoint", "token_endpoint")


def _check_discovery(doc: Mapping[str, Any], issuer: str) -> dict[str, Any]:
    """The issuer must match exactly; every endpoint (``jwks_uri``, any ``*_endpoint``, the
    ``mtls_endpoint_aliases``) must obey :func:`check_endpoint_url`, like a configured URL."""
    if doc.get("issuer") != issuer:
        raise DiscoveryError(
            f"the discovery document names issuer {str(doc.get('issuer'))[:200]!r}, "
            f"expected exactly {issuer!r}: check the configured issuer (region and user pool id)"
        )
    aliases = doc.get("mtls_endpoint_aliases") or {}
    if not isinstance(aliases, Mapping):
        raise DiscoveryError(f"the discovery document of {issuer} has malformed mtls aliases")
    endpoints = [(str(k), v) for k, v in doc.items() if k == "jwks_uri" or k.endswith("_endpoint")]
    endpoints += [(f"mtls_endpoint_aliases.{k}", v) for k, v in aliases.items()]
    for name in REQUIRED_ENDPOINTS:
        if not isinstance(doc.get(name), str):
            raise DiscoveryError(f"the discovery document of {issuer} has no {name}")
    for name, value in endpoints:
        if value is None:
            continue  # absent
        if not isinstance(value, str):
            raise DiscoveryError(f"the discovery document of {issuer}: {name[:80]} is not a URL")
        check_endpoint_url(value, name[:80])
    return dict(doc)


async def fetch_discovery(
    issuer: str, *, timeout: float = 10.0, fetch: AsyncFetcher | None = None
) -> dict[str, Any]:
    """Fetch ``<issuer>/.well-known/openid-configuration``; its ``issuer`` must equal ``issuer``."""
    url = f"{check_endpoint_url(issuer, 'issuer')}/.well-known/openid-configuration"
    try:
        doc = _json_object(await (fetch or tornado_fetch)(url, timeout), "discovery document")
    except DiscoveryError:
        raise
    except Exception as e:
        raise DiscoveryError(f"cannot read the discovery document at {url}: {_reason(e)}") from e
    return _check_discovery(doc, issuer)


def fetch_discovery_sync(
    issuer: str, *, timeout: float = 10.0, fetch: SyncFetcher | None = None
) -> dict[str, Any]:
    """Blocking variant of :func:`fetch_discovery` for code that has no event loop."""
    url = f"{check_endpoint_url(issuer, 'issuer')}/.well-known/openid-configuration"
    try:
        doc = _json_object((fetch or urllib_fetch)(url, timeout), "discovery document")
    except Exception as e:
        raise DiscoveryError(f"cannot read the discovery document at {url}: {_reason(e)}") from e
    return _check_discovery(doc, issuer)


def _reason(exc: BaseException) -> str:
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return f"HTTP {code}"
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def parse_jwks(data: Any, algorithm: str = "RS256", min_rsa_bits: int = 2048) -> dict[str, Any]:
    """Usable public keys of a JWKS by ``kid``; unusable entries are skipped and logged."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("JWKS is not an object with a 'keys' list")
    keys: dict[str, Any] = {}
    for index, entry in enumerate(data["keys"]):
        kid = entry.get("kid") if isinstance(entry, dict) else None
        name = kid if isinstance(kid, str) else f"#{index}"
        reason = None
        if not isinstance(entry, dict) or not isinstance(kid, str) or not kid:
            reason = "no kid"
        elif entry.get("kty") != "RSA":
            reason = f"kty {entry.get('kty')!r} is not RSA"
        elif entry.get("alg", algorithm) != algorithm:
            reason = f"alg {entry.get('alg')!r} is not {algorithm}"
        elif entry.get("use", "sig") != "sig":
            reason = "use is not sig"
        elif kid in keys:
            reason = "duplicate kid"
        if reason is None:
            try:
                key = jwt.PyJWK(entry, algorithm=algorithm).key
                if key.key_size < min_rsa_bits:
                    reason = f"RSA key of {key.key_size} bits is too small"
                else:
                    keys[str(kid)] = key
            except Exception as e:
                reason = f"malformed ({type(e).__name__})"
        if reason is not None:
            log.warning("Skipping JWKS key %s: %s", str(name)[:64], reason)
    return keys


class JWKSCache:
    """The public keys of one issuer, fetched lazily and refreshed with the rules above."""

    def __init__(
        self,
        jwks_uri: str,
        *,
        algorithm: str = "RS256",
        ttl: float = 3600.0,
        miss_cooldown: float = 30.0,
        max_backoff: float = 60.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        fetch_async: AsyncFetcher | None = None,
        fetch_sync: SyncFetcher | None = None,
    ) -> None:
        self.jwks_uri = check_endpoint_url(jwks_uri, "jwks_uri")
        self.algorithm = algorithm
        self.ttl = ttl
        self.miss_cooldown = miss_cooldown
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.clock = clock
        self._fetch_async = fetch_async or tornado_fetch
        self._fetch_sync = fetch_sync or urllib_fetch
        self.keys: dict[str, Any] = {}
        self.fetches = 0  # fetch attempts, for tests and benchmarks
        self._loaded = False
        self._expires = 0.0
        self._miss_until = 0.0
        self._retry_at = 0.0
        self._backoff = Backoff(1.0, max(1.0, max_backoff))
        self._generation = 0
        self._lock = threading.Lock()
        self._flight: SingleFlight[None] = SingleFlight()

    # ---------------------------------------------------------------- lookups
    def fresh_key(self, kid: str) -> Any | None:
        """The key for ``kid`` when it is cached and fresh, else None (no I/O)."""
        if self.clock() < self._expires:
            return self.keys.get(kid)
        return None

    def _decide(self, kid: str) -> tuple[Any | None, bool]:
        """(key to use now, whether to fetch first)."""
        now = self.clock()
        key = self.keys.get(kid)
        if key is not None and now < self._expires:
            return key, False
        if now < self._retry_at:  # backing off after a failure: serve what we have
            if key is not None:
                return key, False
            if self._loaded:
                raise UnknownKeyError(
                    f"no key with this kid in the issuer's JWKS ({self.jwks_uri})"
                )
            raise KeySetUnavailableError(
                f"the issuer's keys ({self.jwks_uri}) could not be fetched; retrying shortly"
            )
        if key is None and self._loaded and now < self._expires and now < self._miss_until:
            raise UnknownKeyError(f"no key with this kid in the issuer's JWKS ({self.jwks_uri})")
        return key, True

    def _after_fetch(self, kid: str, stale: Any | None, error: BaseException | None) -> Any:
        if error is not None:
            if stale is not None:
                log.warning(
                    "JWKS refresh from %s failed; still using the cached keys", self.jwks_uri
                )
                return stale
            raise KeySetUnavailableError(
                f"the issuer's keys could not be fetched from {self.jwks_uri}: {_reason(error)}"
            ) from error
        key = self.keys.get(kid)
        if key is None:
            self._miss_until = self.clock() + self.miss_cooldown
            raise UnknownKeyError(f"no key with this kid in the issuer's JWKS ({self.jwks_uri})")
        return key

    def _install(self, body: bytes) -> None:
        keys = parse_jwks(_json_object(body, "JWKS"), self.algorithm)
        if not keys:
            raise ValueError(f"the JWKS has no usable {self.algorithm} key")
        self.keys = keys
        self._loaded = True
        self._expires = self.clock() + self.ttl
        self._backoff.reset()
        self._retry_at = 0.0
        self._generation += 1

    def _failed(self) -> None:
        self._retry_at = self.clock() + self._backoff.failed()

    # ---------------------------------------------------------------- async
    async def get_key(self, kid: str) -> Any:
        """The public key for ``kid`` (fetching without blocking the event loop when needed)."""
        key, fetch = self._decide(kid)
        if not fetch:
            return key
        error: BaseException | None = None
        try:
            await self._refresh_async()
        except Exception as e:
            error = e
        return self._after_fetch(kid, key, error)

    async def _refresh_async(self) -> None:
        await self._flight.run(self._fetch_and_install)

    async def _fetch_and_install(self) -> None:
        try:
            self.fetches += 1
            self._install(await self._fetch_async(self.jwks_uri, self.timeout))
        except Exception:
            self._failed()
            raise

    # ---------------------------------------------------------------- sync
    def get_key_sync(self, kid: str) -> Any:
        """Blocking variant of :meth:`get_key` for threads without an event loop."""
        key, fetch = self._decide(kid)
        if not fetch:
            return key
        generation = self._generation
        error: BaseException | None = None
        with self._lock:
            if self._generation == generation:  # nobody refreshed while we waited
                try:
                    self.fetches += 1
                    self._install(self._fetch_sync(self.jwks_uri, self.timeout))
                except Exception as e:
                    self._failed()
                    error = e
        return self._after_fetch(kid, key, error)
