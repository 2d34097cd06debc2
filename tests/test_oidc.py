"""Discovery and the JWKS cache, against a real issuer server on loopback."""

from __future__ import annotations

import asyncio
import logging
import secrets

import pytest
from jupyter_ai_access_testing.tokens import SigningKey

from jupyter_ai_access.cognito.oidc import (
    JWKSCache,
    check_endpoint_url,
    fetch_discovery,
    fetch_discovery_sync,
    parse_jwks,
)
from jupyter_ai_access.cognito.verify import CognitoTokenVerifier
from jupyter_ai_access.errors import DiscoveryError, KeySetUnavailableError, UnknownKeyError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def jwks_cache(issuer_server, clock) -> JWKSCache:
    return JWKSCache(issuer_server.jwks_uri, clock=clock, ttl=600, miss_cooldown=30)


# ---------------------------------------------------------------- discovery
async def test_discovery_async_and_sync_return_the_document(issuer_server):
    doc = await fetch_discovery(issuer_server.issuer)
    assert doc["jwks_uri"] == issuer_server.jwks_uri
    assert fetch_discovery_sync(issuer_server.issuer) == doc


async def test_discovery_of_the_local_emulator(local_cognito):
    doc = await fetch_discovery(local_cognito.issuer)
    assert doc["token_endpoint"] == f"{local_cognito.domain}/oauth2/token"


@pytest.mark.parametrize(
    "named",
    [
        pytest.param("{issuer}/", id="trailing-slash"),
        pytest.param("{issuer}x", id="superstring"),
        pytest.param(
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1", id="other-host"
        ),
        pytest.param(None, id="missing"),
    ],
)
async def test_discovery_issuer_must_equal_the_configured_issuer(issuer_server, named):
    issuer_server.discovery_overrides = {
        "issuer": named.format(issuer=issuer_server.issuer) if named else None
    }
    with pytest.raises(DiscoveryError, match="expected exactly"):
        await fetch_discovery(issuer_server.issuer)
    with pytest.raises(DiscoveryError, match="expected exactly"):
        fetch_discovery_sync(issuer_server.issuer)


async def test_discovery_refuses_plain_http_endpoints_off_loopback(issuer_server):
    issuer_server.discovery_overrides = {"jwks_uri": "http://keys.example.org/jwks.json"}
    with pytest.raises(DiscoveryError, match="jwks_uri"):
        await fetch_discovery(issuer_server.issuer)


@pytest.mark.parametrize(
    "name",
    [
        "jwks_uri",
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "revocation_endpoint",
        "end_session_endpoint",
        "introspection_endpoint",
    ],
)
@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://idp.example.org/oauth2/x", id="http-off-loopback"),
        pytest.param("http://10.0.0.5/oauth2/x", id="http-private-address"),
        pytest.param("ftp://idp.example.org/oauth2/x", id="other-scheme"),
        pytest.param("https:///oauth2/x", id="no-host"),
        pytest.param("/oauth2/x", id="relative"),
        pytest.param(42, id="not-a-string"),
    ],
)
async def test_every_endpoint_learned_from_discovery_obeys_the_configured_url_rules(
    issuer_server, name, url
):
    """What discovery says is held to the rules of configured URLs (https, or http on loopback),
    whichever endpoint it is: the Hub sends the client secret to the revocation endpoint."""
    issuer_server.discovery_overrides = {name: url}
    with pytest.raises(DiscoveryError, match=name):
        await fetch_discovery(issuer_server.issuer)
    with pytest.raises(DiscoveryError, match=name):
        fetch_discovery_sync(issuer_server.issuer)


async def test_discovery_accepts_https_and_loopback_endpoints_and_absent_optional_ones(
    issuer_server,
):
    issuer_server.discovery_overrides = {
        "revocation_endpoint": "https://auth.example.org/oauth2/revoke",
        "end_session_endpoint": "http://localhost:9/logout",
        "userinfo_endpoint": None,
    }
    doc = await fetch_discovery(issuer_server.issuer)
    assert doc["revocation_endpoint"] == "https://auth.example.org/oauth2/revoke"


HUGE = 64 * 1024 * 1024  # far beyond MAX_DOCUMENT_BYTES (256 KiB), below tornado's own 100 MB


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "until-close"])
@pytest.mark.parametrize("client", ["async", "sync"])
@pytest.mark.parametrize("document", ["discovery", "jwks"])
async def test_huge_discovery_and_jwks_bodies_are_cut_off_while_they_arrive(
    issuer_server, clock, document, client, declared
):
    """Bodies are capped while they are read, not after they were buffered whole."""
    issuer_server.huge_body, issuer_server.huge_declared = HUGE, declared
    if document == "discovery":
        error: type[Exception] = DiscoveryError
        call = (
            fetch_discovery(issuer_server.issuer)
            if client == "async"
            else asyncio.to_thread(fetch_discovery_sync, issuer_server.issuer)
        )
    else:
        error = KeySetUnavailableError
        jwks_cache = JWKSCache(issuer_server.jwks_uri, clock=clock)
        call = (
            jwks_cache.get_key("access-key")
            if client == "async"
            else asyncio.to_thread(jwks_cache.get_key_sync, "access-key")
        )
    with pytest.raises(error):
        await call
    assert issuer_server.huge_done.wait(60)
    assert issuer_server.huge_sent < HUGE  # the client hung up before taking the whole body


async def test_discovery_failure_is_a_clear_error(issuer_server):
    issuer_server.status = 500
    with pytest.raises(DiscoveryError, match="HTTP 500"):
        await fetch_discovery(issuer_server.issuer)


def test_endpoint_urls_must_be_https_off_loopback():
    assert check_endpoint_url("https://a.example/x", "x")
    assert check_endpoint_url("http://127.0.0.1:9/x", "x")
    assert check_endpoint_url("http://localhost:9/x", "x")
    for url in ("http://a.example/x", "ftp://a.example/x", "https:///x", "/relative"):
        with pytest.raises(DiscoveryError):
            check_endpoint_url(url, "x")


# ---------------------------------------------------------------- key selection
def test_keys_are_chosen_by_kid(jwks_cache, issuer_server):
    factory = issuer_server.factory
    assert (
        jwks_cache.get_key_sync("id-key").public_numbers()
        == factory.id_key.private.public_key().public_numbers()
    )
    assert (
        jwks_cache.get_key_sync("access-key").public_numbers()
        == factory.access_key.private.public_key().public_numbers()
    )
    assert issuer_server.jwks_fetches == 1


def test_one_malformed_key_does_not_poison_the_others(caplog):
    good = SigningKey.rsa("good").public_jwk()
    small = SigningKey.rsa("x")
    from cryptography.hazmat.primitives.asymmetric import rsa

    small.private = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - must be refused
    jwks = {
        "keys": [
            {**good, "kid": "broken", "n": "!!notbase64"},
            {"kty": "RSA", "kid": "no-n", "e": "AQAB"},
            SigningKey.ec("ec").public_jwk(),
            {**good, "kid": "hs", "alg": "HS256"},
            {**good, "kid": "enc", "use": "enc"},
            {**small.public_jwk(), "kid": "small"},
            "not-an-object",
            good,
        ]
    }
    with caplog.at_level(logging.WARNING, logger="jupyter_ai_access.cognito.oidc"):
        keys = parse_jwks(jwks)
    assert list(keys) == ["good"]
    text = caplog.text
    for kid in ("broken", "no-n", "ec", "hs", "enc", "small"):
        assert f"Skipping JWKS key {kid}" in text


def test_a_jwks_without_usable_keys_is_a_failed_fetch(jwks_cache, issuer_server):
    issuer_server.jwks = {"keys": [SigningKey.ec("ec").public_jwk()]}
    with pytest.raises(KeySetUnavailableError, match="no usable RS256 key"):
        jwks_cache.get_key_sync("ec")


# ---------------------------------------------------------------- rotation and floods
def test_key_rotation_is_fetched_once_and_accepted_at_once(issuer_server):
    factory = issuer_server.factory
    v = CognitoTokenVerifier(issuer=issuer_server.issuer, client_ids=[factory.client_id])
    assert v.verify(factory.mint("access"))
    rotated = SigningKey.rsa("access-key-2")
    issuer_server.jwks = factory.jwks(rotated)
    assert v.verify(factory.mint("access", key=rotated))  # right after a successful fetch
    assert issuer_server.jwks_fetches == 2
    assert v.verify(factory.mint("access", key=rotated))
    assert issuer_server.jwks_fetches == 2


def test_unknown_kid_flood_fetches_at_most_twice(issuer_server):
    factory = issuer_server.factory
    v = CognitoTokenVerifier(issuer=issuer_server.issuer, client_ids=[factory.client_id])
    v.verify(factory.mint("access"))
    refused = 0
    for _ in range(1000):
        key = SigningKey(f"random-{secrets.token_hex(8)}", "RS256", factory.access_key.private)
        try:
            v.verify(factory.mint("access", key=key))
        except UnknownKeyError:
            refused += 1
    assert refused == 1000
    assert issuer_server.jwks_fetches <= 2


async def test_concurrent_unknown_kids_share_one_fetch(issuer_server, clock):
    jwks_cache = JWKSCache(issuer_server.jwks_uri, clock=clock)
    issuer_server.delay = 0.05
    results = await asyncio.gather(
        *(jwks_cache.get_key(f"unknown-{i}") for i in range(200)), return_exceptions=True
    )
    assert all(isinstance(r, UnknownKeyError) for r in results)
    assert issuer_server.jwks_fetches == 1


async def test_concurrent_first_lookups_share_one_fetch(issuer_server, clock):
    jwks_cache = JWKSCache(issuer_server.jwks_uri, clock=clock)
    issuer_server.delay = 0.05
    keys = await asyncio.gather(*(jwks_cache.get_key("access-key") for _ in range(100)))
    assert len({id(k) for k in keys}) == 1
    assert issuer_server.jwks_fetches == 1


def test_after_the_cooldown_an_unknown_kid_is_fetched_again(jwks_cache, issuer_server, clock):
    jwks_cache.get_key_sync("access-key")
    with pytest.raises(UnknownKeyError):
        jwks_cache.get_key_sync("later-key")
    assert issuer_server.jwks_fetches == 2
    new = SigningKey.rsa("later-key")
    issuer_server.jwks = issuer_server.factory.jwks(new)
    with pytest.raises(UnknownKeyError):
        jwks_cache.get_key_sync("later-key")  # inside the cooldown: refused without a fetch
    assert issuer_server.jwks_fetches == 2
    clock.now += 31
    assert jwks_cache.get_key_sync("later-key") is not None
    assert issuer_server.jwks_fetches == 3


def test_keys_are_refetched_after_the_ttl(jwks_cache, issuer_server, clock):
    jwks_cache.get_key_sync("access-key")
    clock.now += 601
    jwks_cache.get_key_sync("access-key")
    assert issuer_server.jwks_fetches == 2


# ---------------------------------------------------------------- IdP down
def test_idp_down_keeps_serving_cached_keys_after_the_ttl(jwks_cache, issuer_server, clock, caplog):
    key = jwks_cache.get_key_sync("access-key")
    issuer_server.status = 503
    clock.now += 601
    with caplog.at_level(logging.WARNING):
        assert jwks_cache.get_key_sync("access-key") is key
    assert "still using the cached keys" in caplog.text
    clock.now += 0.5  # within the backoff: no new fetch
    assert jwks_cache.get_key_sync("access-key") is key
    assert issuer_server.jwks_fetches == 2


async def test_idp_down_at_first_use_is_unavailable_and_backs_off(issuer_server, clock):
    jwks_cache = JWKSCache(issuer_server.jwks_uri, clock=clock)
    issuer_server.status = 503
    with pytest.raises(KeySetUnavailableError, match="HTTP 503") as info:
        await jwks_cache.get_key("access-key")
    assert info.value.status == 503
    with pytest.raises(KeySetUnavailableError, match="retrying shortly"):
        await jwks_cache.get_key("access-key")
    assert issuer_server.jwks_fetches == 1
    issuer_server.status = 200
    clock.now += 1.1
    assert await jwks_cache.get_key("access-key") is not None
    assert issuer_server.jwks_fetches == 2


def test_backoff_grows_with_repeated_failures(issuer_server, clock):
    jwks_cache = JWKSCache(issuer_server.jwks_uri, clock=clock, max_backoff=8)
    issuer_server.status = 500
    waits = []
    for _ in range(6):
        with pytest.raises(KeySetUnavailableError):
            jwks_cache.get_key_sync("access-key")
        waits.append(jwks_cache._retry_at - clock.now)
        clock.now = jwks_cache._retry_at
    assert waits == [1, 2, 4, 8, 8, 8]


def test_unreachable_issuer_is_unavailable_not_a_crash(clock):
    jwks_cache = JWKSCache("http://127.0.0.1:9/pool/.well-known/jwks.json", clock=clock, timeout=2)
    with pytest.raises(KeySetUnavailableError, match="could not be fetched"):
        jwks_cache.get_key_sync("access-key")


def test_garbage_jwks_body_is_unavailable(jwks_cache, issuer_server):
    issuer_server.raw_body = b"<html>oops</html>"
    with pytest.raises(KeySetUnavailableError, match="not JSON"):
        jwks_cache.get_key_sync("access-key")
