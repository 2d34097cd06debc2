"""CognitoTokenVerifier against crafted tokens and a real JWKS served on loopback.

Covers "Resource-side verification" and the ID-token cases of "Login" in
../shared/security-cases.md.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from jupyter_ai_access_testing.tokens import SigningKey, TokenFactory

from jupyter_ai_access.cognito.verify import CognitoTokenVerifier, cognito_issuer
from jupyter_ai_access.errors import (
    BadSignatureError,
    ClaimError,
    ConfigurationError,
    ExpiredTokenError,
    GroupRequiredError,
    InsufficientScopeError,
    InvalidTokenError,
    MalformedTokenError,
    RevokedTokenError,
    TokenError,
    UnknownKeyError,
    UnsupportedAlgorithmError,
)

MISSING = TokenFactory.MISSING
SCOPE = "ai-access/datasets.read"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join(
        [b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)]
    )


@pytest.fixture
def factory(issuer_server) -> TokenFactory:
    return issuer_server.factory


@pytest.fixture
def verifier(issuer_server, factory) -> CognitoTokenVerifier:
    return CognitoTokenVerifier(issuer=issuer_server.issuer, client_ids=[factory.client_id])


@pytest.fixture
def id_verifier(issuer_server, factory) -> CognitoTokenVerifier:
    return CognitoTokenVerifier(
        issuer=issuer_server.issuer, client_ids=[factory.client_id], token_use="id"
    )


# ---------------------------------------------------------------- happy paths
def test_access_token_accepted_with_its_claims(verifier, factory, issuer_server):
    claims = verifier.verify(factory.mint("access"), scopes=[SCOPE], groups=["ml-training"])
    assert claims["token_use"] == "access"
    assert claims["username"] == "alice"
    assert claims["cognito:groups"] == ["ml-training"]
    assert issuer_server.jwks_fetches == 1


async def test_verify_async_agrees_with_verify(verifier, factory):
    token = factory.mint("access")
    assert await verifier.verify_async(token) == verifier.verify(token)


def test_id_token_accepted_by_id_verifier_with_nonce(id_verifier, factory):
    token = factory.mint("id", nonce="n-0123456789")
    assert id_verifier.verify(token, nonce="n-0123456789")["cognito:username"] == "alice"


def test_tokens_issued_by_the_local_emulator_are_accepted(
    local_cognito, cognito_pool_description, canaries
):
    from jupyter_ai_access_testing.flows import HostedUIClient

    cid = "hubclient00000000000000000"
    callback = "http://127.0.0.1:8000/hub/oauth_callback"
    password = next(
        u["password"] for u in cognito_pool_description["users"] if u["username"] == "bob"
    )
    with HostedUIClient(local_cognito.domain) as ui:
        result = ui.authorize(
            cid, callback, username="bob", password=password, scope=f"openid email {SCOPE}"
        )
        tokens = ui.exchange(result, cid, local_cognito.client_secrets[cid], callback).json()
    canaries.register(tokens["refresh_token"], "refresh_token")
    access = CognitoTokenVerifier(
        issuer=local_cognito.issuer,
        client_ids=[cid],
        required_scopes=[SCOPE],
        any_group=["ml-training"],
    )
    assert access.verify(tokens["access_token"])["username"] == "bob"
    ids = CognitoTokenVerifier(issuer=local_cognito.issuer, client_ids=[cid], token_use="id")
    assert ids.verify(tokens["id_token"], nonce=result.nonce)["cognito:username"] == "bob"
    with pytest.raises(ClaimError, match="token_use"):
        access.verify(tokens["id_token"])
    with pytest.raises(ClaimError, match="token_use"):
        ids.verify(tokens["access_token"])


# ---------------------------------------------------------------- token_use, client, issuer
def test_id_token_refused_where_access_required_and_reverse(verifier, id_verifier, factory):
    with pytest.raises(ClaimError, match="token_use"):
        verifier.verify(factory.mint("id"))
    with pytest.raises(ClaimError, match="token_use"):
        id_verifier.verify(factory.mint("access"))


@pytest.mark.parametrize(
    "client_id",
    [
        pytest.param("otherclient000000000000000", id="other-client"),
        pytest.param(MISSING, id="missing"),
        pytest.param(["testclient0000000000000000"], id="list"),
        pytest.param(7, id="number"),
    ],
)
def test_access_token_client_id_must_be_allowed(verifier, factory, client_id):
    with pytest.raises(ClaimError, match="client_id"):
        verifier.verify(factory.mint("access", client_id=client_id))


@pytest.mark.parametrize(
    "iss",
    [
        pytest.param(
            "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_OtherPool", id="other-pool"
        ),
        pytest.param("{issuer}/", id="trailing-slash"),
        pytest.param("{issuer}x", id="superstring"),
        pytest.param("{issuer_prefix}", id="prefix"),
        pytest.param("{issuer_upper}", id="case"),
        pytest.param(MISSING, id="missing"),
        pytest.param(["{issuer}"], id="list"),
        pytest.param(1, id="number"),
    ],
)
@pytest.mark.parametrize("use", ["access", "id"])
def test_issuer_must_match_exactly(verifier, id_verifier, factory, iss, use):
    if isinstance(iss, str):
        iss = iss.format(
            issuer=factory.issuer,
            issuer_prefix=factory.issuer[:-1],
            issuer_upper=factory.issuer.upper(),
        )
    elif isinstance(iss, list):
        iss = [factory.issuer]
    target = verifier if use == "access" else id_verifier
    with pytest.raises(ClaimError, match="'iss'"):
        target.verify(factory.mint(use, iss=iss))


@pytest.mark.parametrize(
    "aud",
    [
        pytest.param("otherclient000000000000000", id="other-client"),
        pytest.param(MISSING, id="missing"),
        pytest.param(["testclient0000000000000000", "evilclient00000000000000000"], id="extra-aud"),
        pytest.param([], id="empty-list"),
        pytest.param(3, id="number"),
    ],
)
def test_id_token_audience_must_be_our_client(id_verifier, factory, aud):
    with pytest.raises(ClaimError, match="'aud'"):
        id_verifier.verify(factory.mint("id", aud=aud))


def test_id_token_single_element_audience_list_is_accepted(id_verifier, factory):
    assert id_verifier.verify(factory.mint("id", aud=[factory.client_id]))["sub"]


@pytest.mark.parametrize(
    "nonce",
    [
        pytest.param("other-nonce", id="wrong"),
        pytest.param(MISSING, id="missing"),
        pytest.param(12345, id="number"),
    ],
)
def test_id_token_nonce_must_match(id_verifier, factory, nonce):
    with pytest.raises(ClaimError, match="nonce"):
        id_verifier.verify(factory.mint("id", nonce=nonce), nonce="the-nonce-of-this-login")


def test_replayed_id_token_fails_the_next_logins_nonce(id_verifier, factory):
    token = factory.mint("id", nonce="first-login-nonce")
    id_verifier.verify(token, nonce="first-login-nonce")
    with pytest.raises(ClaimError, match="nonce"):
        id_verifier.verify(token, nonce="second-login-nonce")


@pytest.mark.parametrize("sub", [MISSING, "", 5])
def test_missing_or_empty_sub_is_refused(verifier, factory, sub):
    with pytest.raises(ClaimError, match="'sub'"):
        verifier.verify(factory.mint("access", sub=sub))


@pytest.mark.parametrize("kid", [7, "", None, ["hub-access-key"]])
def test_kid_must_be_a_non_empty_string_and_costs_no_key_fetch(
    verifier, factory, issuer_server, kid
):
    _, body, sig = factory.mint("access").split(".")
    header = {"alg": "RS256", "kid": kid}
    with pytest.raises(MalformedTokenError, match="no kid"):
        verifier.verify(".".join([b64(json.dumps(header).encode()), body, sig]))
    assert issuer_server.jwks_fetches == 0


# ---------------------------------------------------------------- algorithms and signatures
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_in_any_spelling_is_refused(verifier, factory, alg):
    claims = factory.claims("access")
    for signature in (b"", b"\0"):
        with pytest.raises(InvalidTokenError):
            verifier.verify(forge({"alg": alg, "kid": "access-key"}, claims, signature))


def test_hs256_keyed_with_the_public_key_is_refused(verifier, factory):
    pem = factory.access_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64(json.dumps({"alg": "HS256", "kid": "access-key"}).encode())
    payload = b64(json.dumps(factory.claims("access")).encode())
    import hashlib
    import hmac

    mac = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    with pytest.raises(UnsupportedAlgorithmError, match="HS256"):
        verifier.verify(f"{header}.{payload}.{b64(mac)}")


def test_es256_signed_by_an_unexpected_key_is_refused(verifier, factory, issuer_server):
    ec_key = SigningKey.ec("access-key")
    with pytest.raises(UnsupportedAlgorithmError, match="ES256"):
        verifier.verify(factory.mint("access", key=ec_key))
    issuer_server.jwks = factory.jwks(SigningKey.ec("ec-in-jwks"))  # even when the JWKS has one
    with pytest.raises(UnsupportedAlgorithmError):
        verifier.verify(factory.mint("access", key=SigningKey.ec("ec-in-jwks")))


def test_flipped_bit_in_signature_is_refused(verifier, factory):
    head, body, sig = factory.mint("access").split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[17] ^= 0x01
    with pytest.raises(BadSignatureError):
        verifier.verify(f"{head}.{body}.{b64(bytes(raw))}")


def test_truncated_signature_is_refused(verifier, factory):
    head, body, sig = factory.mint("access").split(".")
    raw = base64.urlsafe_b64decode(sig + "==")
    with pytest.raises(BadSignatureError):
        verifier.verify(f"{head}.{body}.{b64(raw[:-8])}")


def test_tampered_payload_is_refused(verifier, factory):
    head, _, sig = factory.mint("access").split(".")
    body = b64(json.dumps(factory.claims("access", username="mallory")).encode())
    with pytest.raises(BadSignatureError):
        verifier.verify(f"{head}.{body}.{sig}")


def test_resigned_with_another_key_under_the_real_kid_is_refused(verifier, factory):
    impostor = SigningKey.rsa("access-key")
    with pytest.raises(BadSignatureError):
        verifier.verify(factory.mint("access", key=impostor))


@pytest.mark.parametrize("field", ["jku", "x5u", "jwk"])
def test_keys_and_key_urls_in_the_header_are_ignored(verifier, factory, issuer_server, field):
    attacker = SigningKey.rsa("attacker-key")
    evil_url = f"http://127.0.0.1:{issuer_server.port}/evil/jwks.json"
    value = attacker.public_jwk() if field == "jwk" else evil_url
    with pytest.raises(UnknownKeyError):
        verifier.verify(factory.mint("access", key=attacker, headers={field: value}))
    # Under the real kid, the attacker's embedded key is not used either.
    real_kid = SigningKey("access-key", "RS256", attacker.private)
    with pytest.raises(BadSignatureError):
        verifier.verify(factory.mint("access", key=real_kid, headers={field: value}))
    assert issuer_server.hits["/evil/jwks.json"] == 0


@pytest.mark.parametrize("crit", [["exp"], ["b64"], ["urn:example:unknown"], []])
def test_unknown_crit_is_refused(verifier, factory, crit):
    with pytest.raises(MalformedTokenError, match="crit"):
        verifier.verify(factory.mint("access", headers={"crit": crit, "exp": 1}))


# ---------------------------------------------------------------- times
def test_expired_token_is_refused(verifier, factory):
    now = int(factory.clock())
    with pytest.raises(ExpiredTokenError):
        verifier.verify(factory.mint("access", iat=now - 100, exp=now - 5))


def test_iat_a_little_in_the_future_is_refused(verifier, factory):
    now = int(factory.clock())
    with pytest.raises(ClaimError, match="'iat'"):
        verifier.verify(factory.mint("access", iat=now + 120, exp=now + 3600))


def test_oversize_tokens_are_refused_before_any_parsing(verifier, factory, issuer_server):
    token = factory.mint("access") + "A" * 20000
    with pytest.raises(MalformedTokenError, match="longer than 16384 bytes"):
        verifier.verify(token)
    assert issuer_server.jwks_fetches == 0


def test_leeway_accepts_slight_skew(issuer_server, factory):
    v = CognitoTokenVerifier(issuer=issuer_server.issuer, client_ids=[factory.client_id], leeway=10)
    now = int(factory.clock())
    assert v.verify(factory.mint("access", exp=now - 5, iat=now - 100))
    assert v.verify(factory.mint("access", iat=now + 5))


@pytest.mark.parametrize(
    ("claim", "value", "error"),
    [
        pytest.param("exp", MISSING, ClaimError, id="exp-missing"),
        pytest.param("exp", "9999999999", ClaimError, id="exp-string"),
        pytest.param("exp", True, ClaimError, id="exp-bool"),
        pytest.param("iat", MISSING, ClaimError, id="iat-missing"),
        pytest.param("iat", "now", ClaimError, id="iat-string"),
        pytest.param("iat", 4102444800, ClaimError, id="iat-future"),
        pytest.param("nbf", 4102444800, ClaimError, id="nbf-future"),
        pytest.param("cognito:groups", "ml-training", ClaimError, id="groups-string"),
        pytest.param("cognito:groups", [1], ClaimError, id="groups-numbers"),
        pytest.param("scope", ["ai-access/datasets.read"], ClaimError, id="scope-list"),
        pytest.param("origin_jti", 5, ClaimError, id="origin-jti-number"),
        pytest.param("token_use", MISSING, ClaimError, id="token-use-missing"),
    ],
)
def test_claims_are_type_strict(verifier, factory, claim, value, error):
    with pytest.raises(error):
        verifier.verify(factory.mint("access", **{claim.replace(":", "__"): value}))


@pytest.mark.parametrize("claim", ["exp", "iat"])
@pytest.mark.parametrize("use", ["access", "id"])
def test_id_and_access_need_exp_and_iat(verifier, id_verifier, factory, claim, use):
    target = verifier if use == "access" else id_verifier
    with pytest.raises(ClaimError, match=claim):
        target.verify(factory.mint(use, **{claim: MISSING}))


# ---------------------------------------------------------------- scopes and groups
@pytest.mark.parametrize(
    "scope",
    [
        pytest.param("openid ai-access/datasets", id="prefix"),
        pytest.param("openid ai-access/datasets.read.all", id="superstring"),
        pytest.param("openid AI-ACCESS/DATASETS.READ", id="case"),
        pytest.param("openid,ai-access/datasets.read", id="comma"),
        pytest.param("", id="empty"),
        pytest.param(MISSING, id="missing"),
    ],
)
def test_scopes_match_exactly(verifier, factory, scope):
    with pytest.raises(InsufficientScopeError) as info:
        verifier.verify(factory.mint("access", scope=scope), scopes=[SCOPE])
    assert info.value.status == 403
    assert info.value.error == "insufficient_scope"
    assert info.value.scopes == [SCOPE]


def test_configured_scopes_and_groups_are_enforced(issuer_server, factory):
    v = CognitoTokenVerifier(
        issuer=issuer_server.issuer,
        client_ids=[factory.client_id],
        required_scopes=[SCOPE],
        required_groups=["ml-admins"],
    )
    with pytest.raises(GroupRequiredError, match="ml-admins"):
        v.verify(factory.mint("access"))
    assert v.verify(factory.mint("access", cognito__groups=["ml-admins", "x"]))
    with pytest.raises(InsufficientScopeError):
        v.verify(factory.mint("access", scope="openid", cognito__groups=["ml-admins"]))


def test_every_required_group_is_needed(issuer_server, factory):
    v = CognitoTokenVerifier(
        issuer=issuer_server.issuer,
        client_ids=[factory.client_id],
        required_groups=["ml-training", "ml-admins"],
    )
    for groups in (["ml-training"], ["ml-admins"], []):
        with pytest.raises(GroupRequiredError):
            v.verify(factory.mint("access", cognito__groups=groups))
    assert v.verify(factory.mint("access", cognito__groups=["ml-admins", "ml-training"]))
    with pytest.raises(GroupRequiredError):  # per-call groups add to the configured ones
        v.verify(factory.mint("access", cognito__groups=["ml-admins", "ml-training"]), groups=["x"])


def test_any_group(issuer_server, factory):
    v = CognitoTokenVerifier(
        issuer=issuer_server.issuer,
        client_ids=[factory.client_id],
        any_group=["ml-training", "ml-admins"],
    )
    assert v.verify(factory.mint("access", cognito__groups=["ml-admins"]))
    with pytest.raises(GroupRequiredError, match="one of the groups"):
        v.verify(factory.mint("access", cognito__groups=MISSING))


# ---------------------------------------------------------------- strict parsing
@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: ".".join(t.split(".")[:2]), id="two-segments"),
        pytest.param(lambda t: t + ".e30", id="four-segments"),
        pytest.param(lambda t: t + "==", id="padding"),
        pytest.param(lambda t: t.replace(".", ".+", 1), id="non-base64url-char"),
        pytest.param(lambda t: " " + t, id="leading-space"),
        pytest.param(lambda t: "e30." + t.split(".", 1)[1], id="header-without-alg"),
        pytest.param(lambda t: b64(b"not json") + "." + t.split(".", 1)[1], id="header-not-json"),
        pytest.param(lambda t: b64(b"[1]") + "." + t.split(".", 1)[1], id="header-array"),
        pytest.param(
            lambda t: t.split(".")[0] + "." + b64(b"[]") + "." + t.split(".")[2], id="payload-array"
        ),
        pytest.param(
            lambda t: t.split(".")[0] + "." + b64(b"\xff\xfe") + "." + t.split(".")[2],
            id="payload-not-utf8",
        ),
        pytest.param(lambda t: t + "A" * 20000, id="oversize"),
        pytest.param(lambda t: t.encode(), id="bytes"),
        pytest.param(lambda t: None, id="none"),
    ],
)
def test_malformed_tokens_are_refused(verifier, factory, mangle):
    with pytest.raises(InvalidTokenError):
        verifier.verify(mangle(factory.mint("access")))


def signed(factory: TokenFactory, payload: str) -> str:
    """A token signed by the pool's real key over exactly these payload bytes."""
    key = factory.access_key
    return jwt.api_jws.PyJWS().encode(
        payload.encode(), key.private, algorithm=key.alg, headers={"kid": key.kid}
    )


def with_member(claims: dict[str, Any], raw: str) -> str:
    """The claims as JSON with one more member written verbatim (duplicates, odd numbers)."""
    return json.dumps(claims)[:-1] + ", " + raw + "}"


DEEP = "[" * 1500 + "]" * 1500  # within max_token_bytes; deeper than json's recursion limit
DEEP_HEADER = '{"alg": "RS256", "kid": "k", "x": ' + DEEP + "}"


@pytest.mark.parametrize(
    ("make", "error"),
    [
        pytest.param(
            lambda f: ".".join([b64(DEEP_HEADER.encode()), b64(b"{}"), b64(b"x")]),
            MalformedTokenError,
            id="deep-nesting-in-header-unsigned",
        ),
        pytest.param(
            lambda f: ".".join(
                [b64(b'{"alg": "RS256", "kid": "k"}'), b64(DEEP.encode()), b64(b"x")]
            ),
            MalformedTokenError,
            id="deep-nesting-in-payload-unsigned",
        ),
        pytest.param(
            lambda f: signed(f, with_member(f.claims("access"), '"sub": "someone-else"')),
            MalformedTokenError,
            id="duplicate-member",
        ),
        pytest.param(
            lambda f: signed(f, with_member(f.claims("access", exp=MISSING), '"exp": Infinity')),
            MalformedTokenError,
            id="exp-Infinity-literal",
        ),
        pytest.param(
            lambda f: signed(f, with_member(f.claims("access", iat=MISSING), '"iat": NaN')),
            MalformedTokenError,
            id="iat-NaN-literal",
        ),
        pytest.param(
            lambda f: signed(f, with_member(f.claims("access", exp=MISSING), '"exp": 1e400')),
            MalformedTokenError,  # refused while parsing: beyond a double
            id="exp-overflows-to-infinity",
        ),
        pytest.param(
            lambda f: signed(
                f, with_member(f.claims("access", exp=MISSING), '"exp": ' + "9" * 400)
            ),
            MalformedTokenError,
            id="exp-integer-too-large-for-a-float",
        ),
        pytest.param(
            lambda f: signed(f, with_member(f.claims("access", nbf=MISSING), '"nbf": -1e400')),
            MalformedTokenError,
            id="nbf-minus-infinity",
        ),
    ],
)
def test_hostile_json_ends_in_the_verifiers_own_error(verifier, factory, make, error):
    """Found by attacking the verifier (issue #17): these escaped as RecursionError or
    OverflowError, or were accepted (a token with exp Infinity never expired)."""
    with pytest.raises(error):
        verifier.verify(make(factory))


def test_non_canonical_base64url_is_refused(verifier, factory):
    head, body, sig = factory.mint("access").split(".")
    assert len(sig) % 4 == 2  # 256 bytes: the last character carries 4 spare bits
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(sig[-1])
    twin = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last | 1]
    with pytest.raises(MalformedTokenError, match="canonical"):
        verifier.verify(f"{head}.{body}.{sig[:-1]}{twin}")


def test_error_messages_never_contain_the_token(verifier, factory, canaries):
    bad = [
        factory.mint("access", iss="https://elsewhere.example"),
        factory.mint("access", key=SigningKey.rsa("access-key")),
        factory.mint("id"),
        factory.mint("access", client_id="x" * 26),
    ]
    for token in bad:
        with pytest.raises(TokenError) as info:
            verifier.verify(token)
        assert canaries.find(str(info.value)) == []
        assert token.split(".")[1][:20] not in str(info.value)


# ---------------------------------------------------------------- cache and deny-list
def test_repeated_verification_uses_the_cache(verifier, factory, issuer_server):
    token = factory.mint("access")
    first = verifier.verify(token)
    issuer_server.status = 503  # the IdP could be down: the cached result does not need it
    second = verifier.verify(token)
    assert first == second
    second["username"] = "changed"
    assert verifier.verify(token)["username"] == "alice"  # callers get copies


def test_changing_returned_claims_changes_no_later_answer(verifier, factory):
    token = factory.mint("access", cognito__groups=["ml-training"])
    first = verifier.verify(token)  # the answer that filled the cache
    first["cognito:groups"].append("ml-admins")
    second = verifier.verify(token)  # from the cache
    assert second["cognito:groups"] == ["ml-training"]
    second["cognito:groups"].append("ml-admins")
    with pytest.raises(GroupRequiredError):
        verifier.verify(token, groups=["ml-admins"])
    assert verifier.verify(token)["cognito:groups"] == ["ml-training"]


def test_cached_token_expires_with_its_exp(issuer_server, factory):
    now = [float(factory.clock())]
    v = CognitoTokenVerifier(
        issuer=issuer_server.issuer, client_ids=[factory.client_id], clock=lambda: now[0]
    )
    token = factory.mint("access", exp=int(now[0]) + 60)
    v.verify(token)
    now[0] += 61
    with pytest.raises(ExpiredTokenError):
        v.verify(token)


def test_cache_is_bounded(issuer_server, factory):
    v = CognitoTokenVerifier(
        issuer=issuer_server.issuer, client_ids=[factory.client_id], cache_size=2
    )
    for _ in range(5):
        v.verify(factory.mint("access"))
    assert len(v._cache) == 2


def test_scope_requirements_apply_to_cached_tokens(verifier, factory):
    token = factory.mint("access", scope="openid")
    verifier.verify(token)
    with pytest.raises(InsufficientScopeError):
        verifier.verify(token, scopes=[SCOPE])


def test_origin_jti_deny_list_refuses_cached_and_new_tokens(issuer_server, factory):
    denied: set[str] = set()
    v = CognitoTokenVerifier(
        issuer=issuer_server.issuer, client_ids=[factory.client_id], denied_origin_jtis=denied
    )
    token = factory.mint("access", origin_jti="session-1")
    assert v.verify(token)
    denied.add("session-1")
    with pytest.raises(RevokedTokenError):
        v.verify(token)  # cached
    with pytest.raises(RevokedTokenError):
        v.verify(factory.mint("access", origin_jti="session-1"))  # new
    assert v.verify(factory.mint("access", origin_jti="session-2"))


def test_deny_list_may_be_a_predicate(issuer_server, factory):
    v = CognitoTokenVerifier(
        issuer=issuer_server.issuer,
        client_ids=[factory.client_id],
        denied_origin_jtis=lambda jti: jti.startswith("revoked-"),
    )
    with pytest.raises(RevokedTokenError):
        v.verify(factory.mint("access", origin_jti="revoked-1"))


# ---------------------------------------------------------------- configuration
def test_issuer_from_region_and_pool():
    assert (
        cognito_issuer("eu-west-1", "eu-west-1_AbC123xyz")
        == "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz"
    )
    v = CognitoTokenVerifier(
        region="eu-west-1", user_pool_id="eu-west-1_AbC123xyz", client_ids=["c"]
    )
    assert v.jwks.jwks_uri == f"{v.issuer}/.well-known/jwks.json"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        pytest.param({"client_ids": ["c"]}, "needs issuer=", id="no-issuer"),
        pytest.param(
            {"issuer": "https://x.example/p", "client_ids": []}, "client_ids", id="no-client"
        ),
        pytest.param(
            {"region": "eu-west-1", "user_pool_id": "us-east-1_Abc", "client_ids": ["c"]},
            "must look like 'eu-west-1_",
            id="pool-region-mismatch",
        ),
        pytest.param(
            {"issuer": "http://cognito.example.com/p", "client_ids": ["c"]},
            "https",
            id="http-non-loopback",
        ),
        pytest.param(
            {"issuer": "https://x.example/p/", "client_ids": ["c"]},
            "must not end",
            id="trailing-slash",
        ),
        pytest.param(
            {"issuer": "https://x.example/p", "client_ids": ["c"], "token_use": "refresh"},
            "token_use",
            id="bad-token-use",
        ),
        pytest.param(
            {"issuer": "https://x.example/p", "client_ids": ["c"], "algorithm": "HS256"},
            "RS256 only",
            id="other-algorithm",
        ),
        pytest.param(
            {
                "issuer": "https://x.example/p",
                "region": "eu-west-1",
                "user_pool_id": "eu-west-1_Abc",
                "client_ids": ["c"],
            },
            "contradicts",
            id="contradiction",
        ),
    ],
)
def test_bad_configuration_says_what_to_fix(kwargs, words):
    with pytest.raises(ConfigurationError, match=words):
        CognitoTokenVerifier(**kwargs)


def test_scopes_required_of_id_tokens_are_refused_at_construction(issuer_server, factory):
    """ID tokens carry no scope: a scope requirement on them cannot be enforced."""
    with pytest.raises(ConfigurationError, match=r"required_scopes.*token_use='id'"):
        CognitoTokenVerifier(
            issuer=issuer_server.issuer,
            client_ids=[factory.client_id],
            token_use="id",
            required_scopes=[SCOPE],
        )


@pytest.mark.parametrize("token_use", ["id", "access"])
async def test_per_call_scopes_on_an_id_verifier_are_refused_not_ignored(
    id_verifier, factory, token_use
):
    token = factory.mint(token_use, nonce="n-0123456789")  # good or bad: refused either way
    with pytest.raises(ConfigurationError, match=r"scopes=.*token_use='id'"):
        id_verifier.verify(token, scopes=[SCOPE])
    with pytest.raises(ConfigurationError, match=r"scopes=.*token_use='id'"):
        await id_verifier.verify_async(token, scopes=[SCOPE])
    if token_use == "id":
        assert id_verifier.verify(token, scopes=())["token_use"] == "id"  # no scope asked: fine


def test_verify_module_imports_no_jupyter_or_tornado():
    import subprocess
    import sys

    code = (
        "import sys, jupyter_ai_access.cognito.verify, jupyter_ai_access.errors; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'tornado', 'traitlets', 'jupyter_server', 'jupyterhub', 'oauthenticator', "
        "'httpx', 'requests'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_pyjwt_agrees_that_our_accepted_token_is_valid(verifier, factory):
    token = factory.mint("access")
    ours = verifier.verify(token)
    theirs = jwt.decode(
        token, factory.access_key.private.public_key(), algorithms=["RS256"], issuer=factory.issuer
    )
    assert ours == theirs
