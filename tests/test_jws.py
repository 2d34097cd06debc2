"""Crafted JSON inside correctly signed tokens: every case ends in the verifier's own error.

Covers "Any byte string presented as a token ends in the verifier's own error type" of
../shared/security-cases.md. The tokens are signed with the test session's real keys
(``TokenFactory.sign_raw``), so only the JSON is at fault: deep nesting, non-finite or oversized
numbers, duplicate members, encodings other than UTF-8, lone surrogates, huge sizes.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from jupyter_ai_access_testing.tokens import TokenFactory

from jupyter_ai_access.cognito import jws
from jupyter_ai_access.cognito.jws import number_claim
from jupyter_ai_access.cognito.verify import CognitoTokenVerifier
from jupyter_ai_access.errors import ClaimError, MalformedTokenError, TokenError

Build = Callable[[dict[str, Any]], bytes]
DEEP = 1500  # beyond Python's recursion limit (1000), and the token still fits in 16 KiB


def spliced(raw: bytes, *drop: str) -> Build:
    """The JSON of the valid object without ``drop``, with ``raw`` members added verbatim."""

    def build(obj: dict[str, Any]) -> bytes:
        obj = {k: v for k, v in obj.items() if k not in drop}
        return json.dumps(obj, separators=(",", ":")).encode()[:-1] + b"," + raw + b"}"

    return build


def encoded(encoding: str, prefix: bytes = b"") -> Build:
    """The valid object in another encoding (RFC 7519: a JWT's JSON is UTF-8)."""
    return lambda obj: prefix + json.dumps(obj).encode(encoding)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def factory(issuer_server) -> TokenFactory:
    return issuer_server.factory


@pytest.fixture
def verifier(issuer_server, factory) -> CognitoTokenVerifier:
    return CognitoTokenVerifier(issuer=issuer_server.issuer, client_ids=[factory.client_id])


def sign(factory: TokenFactory, part: str, build: Build) -> str:
    header = {"alg": "RS256", "kid": factory.access_key.kid, "typ": "JWT"}
    if part == "header":
        return factory.sign_raw(json.dumps(factory.claims("access")).encode(), header=build(header))
    return factory.sign_raw(build(factory.claims("access")), header=json.dumps(header).encode())


def test_the_helpers_make_an_accepted_token(verifier, factory):
    """The baseline: unchanged JSON spliced back together is accepted, so each case below is
    refused for its crafted JSON only."""
    assert verifier.verify(sign(factory, "payload", spliced(b'"custom:x":1')))["custom:x"] == 1
    assert verifier.verify(sign(factory, "header", spliced(b'"x":1')))["token_use"] == "access"


@pytest.mark.parametrize(
    ("part", "build", "call"),
    [
        # non-finite and oversized numbers: exp=Infinity must not make a token eternal
        pytest.param("payload", spliced(b'"exp":Infinity', "exp"), {}, id="exp-Infinity"),
        pytest.param("payload", spliced(b'"exp":NaN', "exp"), {}, id="exp-NaN"),
        pytest.param("payload", spliced(b'"iat":-Infinity', "iat"), {}, id="iat-minus-Infinity"),
        pytest.param("payload", spliced(b'"exp":1e400', "exp"), {}, id="exp-1e400-is-inf"),
        pytest.param("payload", spliced(b'"nbf":-1e400', "nbf"), {}, id="nbf-minus-1e400"),
        pytest.param(
            "payload", spliced(b'"exp":1' + b"0" * 400, "exp"), {}, id="exp-int-beyond-float"
        ),
        pytest.param(
            "payload", spliced(b'"iat":-1' + b"0" * 400, "iat"), {}, id="iat-int-beyond-float"
        ),
        pytest.param(
            "payload", spliced(b'"custom:n":' + b"9" * 5000), {}, id="int-too-long-to-read"
        ),
        pytest.param("payload", spliced(b'"custom:x":[NaN]'), {}, id="NaN-in-another-claim"),
        # duplicate members: refused, whichever value a reader would pick
        pytest.param("payload", spliced(b'"exp":99999999999'), {}, id="duplicate-exp"),
        pytest.param("payload", spliced(b'"token_use":"access"'), {}, id="duplicate-same-value"),
        pytest.param("payload", spliced(b'"custom:o":{"a":1,"a":2}'), {}, id="duplicate-nested"),
        # deep nesting (RecursionError inside json)
        pytest.param(
            "payload", spliced(b'"custom:d":' + b"[" * DEEP + b"]" * DEEP), {}, id="deep-arrays"
        ),
        pytest.param(
            "payload",
            spliced(b'"custom:d":' + b'{"a":' * DEEP + b"1" + b"}" * DEEP),
            {},
            id="deep-objects",
        ),
        # text that is not UTF-8 JSON, strings that are not Unicode
        pytest.param("payload", encoded("utf-16"), {}, id="utf-16"),
        pytest.param("payload", encoded("utf-8", b"\xef\xbb\xbf"), {}, id="utf-8-bom"),
        pytest.param("payload", spliced(b'"custom:x":"\xff"'), {}, id="invalid-utf-8"),
        pytest.param("payload", spliced(b'"custom:x":"\xed\xa0\x80"'), {}, id="utf-8-surrogate"),
        pytest.param(
            "payload", spliced(b'"nonce":"\\ud800"'), {"nonce": "n-0"}, id="lone-surrogate-nonce"
        ),
        # a second value after the object: refused, not read up to the object's end
        pytest.param(
            "payload", lambda obj: json.dumps(obj).encode() + b'{"exp":1}', {}, id="extra-data"
        ),
        # huge sizes
        pytest.param(
            "payload", spliced(b'"custom:big":"' + b"x" * 20_000 + b'"'), {}, id="huge-payload"
        ),
        # the header: the same rules
        pytest.param(
            "header",
            lambda h: b'{"alg":"none","kid":"access-key","alg":"RS256"}',
            {},
            id="header-duplicate-alg",
        ),
        pytest.param("header", spliced(b'"kid":"other"'), {}, id="header-duplicate-kid"),
        pytest.param("header", spliced(b'"x":NaN'), {}, id="header-NaN"),
        pytest.param("header", spliced(b'"x":1e400'), {}, id="header-1e400"),
        pytest.param(
            "header", spliced(b'"x":' + b"[" * DEEP + b"]" * DEEP), {}, id="header-deep-arrays"
        ),
        pytest.param("header", encoded("utf-16"), {}, id="header-utf-16"),
    ],
)
async def test_crafted_json_is_refused_as_a_malformed_token(verifier, factory, part, build, call):
    token = sign(factory, part, build)
    with pytest.raises(MalformedTokenError):
        verifier.verify(token, **call)
    with pytest.raises(MalformedTokenError):
        await verifier.verify_async(token, **call)


def outcome(verifier: CognitoTokenVerifier, token: str) -> tuple[str, str]:
    """(error type, message), or ("accepted", "")."""
    try:
        verifier.verify(token)
    except TokenError as e:
        return type(e).__name__, str(e)
    return "accepted", ""


def altered_segments(token: str) -> list[str]:
    """The token with its payload or signature no longer canonical base64url in one way."""
    head, body, sig = token.split(".")
    tokens = []
    for bad in ("=", "==", "+", "/", " ", "\n", "!", "\x00", "\u00e9", "A", "AAAA"):
        for where in (0, 9, None):
            for part in ("body", "sig"):
                segment = body if part == "body" else sig
                cut = len(segment) if where is None else where
                segment = segment[:cut] + bad + segment[cut:]
                pair = (segment, sig) if part == "body" else (body, segment)
                tokens.append(f"{head}.{pair[0]}.{pair[1]}")
    tokens += [f"{head}.{body}", f"{head}.{body}.{sig}.", f"{head}..{sig}", f"{head}.{body}."]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = alphabet[alphabet.index(sig[-1]) | 1]
    tokens.append(f"{head}.{body}.{sig[:-1]}{twin}")  # a spare bit set: not canonical
    return tokens


def test_a_header_seen_before_does_not_relax_the_other_segments(issuer_server, factory):
    """The verifier remembers header segments that passed and then decodes the other two on a
    fast path: every altered token meets the same error as on a verifier that never saw the
    header (whose checked path starts with the whole token's shape)."""
    token = factory.mint("access")
    seen = CognitoTokenVerifier(issuer=issuer_server.issuer, client_ids=[factory.client_id])
    seen.verify(factory.mint("access"))  # the same header (kid, alg, typ) passes once
    for altered in altered_segments(token):
        fresh = CognitoTokenVerifier(issuer=issuer_server.issuer, client_ids=[factory.client_id])
        expected = outcome(fresh, altered)
        assert expected[0] != "accepted"
        assert outcome(seen, altered) == expected
    assert outcome(seen, token) == ("accepted", "")


def test_both_fast_decoders_accept_exactly_the_checked_segments(factory):
    """canonical_b64 (strict decoding, Python >= 3.11) and canonical_b64_by_reencoding (the
    3.10 way) agree with the checked path: bytes for what it accepts, None for what it refuses."""
    token = factory.mint("access")
    segments = [s for altered in altered_segments(token) for s in altered.split(".")[1:]]
    segments += ["", "A", "QQ", "QR", "QUI", "QUJ", "QUJD", "-_-_", "+/+/", "QQ==", "QUI="]
    for segment in segments:
        try:
            checked: bytes | None = jws.b64decode(segment, "segment")
        except (MalformedTokenError, KeyError):
            checked = None
        if checked is not None and not jws.COMPACT.fullmatch(f"{segment}.a.a"):
            checked = None  # the token's shape check comes first
        assert jws.canonical_b64(segment) == checked, segment
        assert jws.canonical_b64_by_reencoding(segment) == checked, segment


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(float("inf"), id="inf"),
        pytest.param(float("-inf"), id="minus-inf"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(10**400, id="int-beyond-float"),
    ],
)
def test_claim_numbers_must_be_finite(value):
    with pytest.raises(ClaimError, match="'exp' must be a finite number"):
        number_claim({"exp": value}, "exp")


# ---------------------------------------------------------------- fuzzing, bounded and seeded
FRAGMENTS = [
    b"{", b"}", b"[", b"]", b",", b":", b'"exp"', b'"iat"', b'"iss"', b'"token_use"', b'"sub"',
    b'"access"', b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-0", b"0", b"1.5e3",
    b"1" + b"0" * 400, b"true", b"null", b'"\\ud800"', b'"\\udc00\\ud800"', b'"\xff"', b"\x00",
    b" ", b'"a"', b"\\", b'"', b"\xef\xbb\xbf",
]  # fmt: skip
CLAIMS = ["exp", "iat", "nbf", "iss", "sub", "token_use", "client_id", "scope",
          "cognito:groups", "origin_jti", "nonce"]  # fmt: skip
NEVER_VALID = ["exp", "iss", "token_use", "client_id"]  # no value random_value makes is valid


def random_value(rng: random.Random, depth: int = 0) -> bytes:
    """A random JSON value text, anything Python's reader takes; never a future time."""
    choice = rng.randrange(8 if depth < 4 else 5)
    if choice == 0:
        return rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400"])
    if choice == 1:
        return rng.choice([b"0", b"-1", b"1700000000", b"1" + b"0" * 400, b"-1" + b"0" * 400])
    if choice == 2:
        return rng.choice([b"true", b"false", b"null", b"1.0", b"-0.0", b"1e-400"])
    if choice == 3:
        return rng.choice([b'""', b'"alice"', b'"\\ud800"', b'"\\ud83d\\ude00"', b'"a b"'])
    if choice == 4:
        return b"[" * rng.randrange(1, 3000) + b"]" * rng.randrange(1, 3000)
    if choice == 5:
        items = [random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
        return b"[" + b",".join(items) + b"]"
    names = [rng.choice([b'"a"', b'"b"', b'"exp"']) for _ in range(rng.randrange(4))]
    members = [n + b":" + random_value(rng, depth + 1) for n in names]
    return b"{" + b",".join(members) + b"}"


def fuzz_input(rng: random.Random, factory: TokenFactory, kind: int) -> tuple[str, str | None]:
    """(token, nonce to verify with) of one of five kinds; none of them may be accepted."""
    if kind == 0:  # any byte string at all
        return rng.randbytes(rng.randrange(0, 400)).decode("latin-1"), None
    if kind == 1:  # three base64url segments of random bytes, unsigned
        return ".".join(b64(rng.randbytes(rng.randrange(1, 300))) for _ in range(3)), None
    if kind == 2:  # signed soup of JSON fragments
        soup = b"".join(rng.choice(FRAGMENTS) for _ in range(rng.randrange(1, 40)))
        return factory.sign_raw(rng.choice([b"", b"{"]) + soup), None
    # signed valid claims with one claim replaced by a random value: any claim, verified with a
    # nonce the token cannot match (so it must not crash); or a claim no such value makes valid
    claim = rng.choice(CLAIMS if kind == 3 else NEVER_VALID)
    build = spliced(b'"' + claim.encode() + b'":' + random_value(rng), claim)
    return factory.sign_raw(build(factory.claims("access"))), "n-0" if kind == 3 else None


def test_any_byte_string_presented_as_a_token_ends_in_a_token_error(verifier, factory):
    rng = random.Random(20_260_511)  # noqa: S311 - reproducible test inputs, not secrets
    verifier.verify(factory.mint("access"))  # keys fetched once, outside the loop
    surprises: list[tuple[int, str]] = []
    for i in range(2000):
        token, nonce = fuzz_input(rng, factory, i % 5)
        try:
            verifier.verify(token, nonce=nonce)
        except TokenError:
            continue
        except Exception as e:  # the names of what escaped, never the token
            surprises.append((i, type(e).__name__))
        else:
            surprises.append((i, "accepted"))
    assert surprises == []
    with pytest.raises(MalformedTokenError):
        verifier.verify(b"a.b.c")  # type: ignore[arg-type]  # bytes, not text
