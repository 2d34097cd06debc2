"""Verification speed and JWKS fetch amplification, as ratios measured in one run.

Baseline: PyJWT's ``jwt.decode`` with the key already loaded, on Cognito-shaped RS256 access
tokens. Compared in the same run: PyJWT's PyJWKClient pattern, joserfc (if installed), the bare RSA
check, and ours (first-seen tokens, and the same token seen again). Then: 1,000 tokens with
unknown kids in one second (JWKS fetches), and a key rotation right after a successful fetch.

Run: .venv/bin/python benchmarks/bench_verify.py [--tokens N] [--rounds R]
"""

from __future__ import annotations

import argparse
import base64
import secrets
import statistics
import time

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from jupyter_ai_access_testing.jwks_server import IssuerServer
from jupyter_ai_access_testing.tokens import SigningKey, TokenFactory

from jupyter_ai_access.cognito.verify import CognitoTokenVerifier
from jupyter_ai_access.errors import UnknownKeyError


def per_op(fn, tokens) -> float:
    t0 = time.perf_counter()
    for token in tokens:
        fn(token)
    return (time.perf_counter() - t0) / len(tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    server = IssuerServer().start()
    factory = TokenFactory(issuer=server.issuer)
    server.jwks = factory.jwks()
    public = factory.access_key.private.public_key()
    tokens = [factory.mint("access") for _ in range(args.tokens)]
    same = [tokens[0]] * args.tokens

    def pyjwt_decode(token):
        return jwt.decode(
            token,
            public,
            algorithms=["RS256"],
            issuer=factory.issuer,
            options={"verify_aud": False, "require": ["exp", "iat", "iss"]},
        )

    jwk_client = jwt.PyJWKClient(server.jwks_uri, cache_keys=True)

    def pyjwk_client(token):
        key = jwk_client.get_signing_key_from_jwt(token)
        return jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            issuer=factory.issuer,
            options={"verify_aud": False},
        )

    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

    def rsa_only(token):
        head, _, sig = token.rpartition(".")
        public.verify(base64.urlsafe_b64decode(sig + "=="), head.encode(), pkcs1, sha256)

    peers = {
        "PyJWT decode (baseline)": (pyjwt_decode, tokens),
        "PyJWT PyJWKClient pattern": (pyjwk_client, tokens),
        "RSA signature check alone": (rsa_only, tokens),
    }
    try:
        from joserfc import jwt as jose_jwt
        from joserfc.jwk import KeySet

        key_set = KeySet.import_key_set(factory.jwks())
        registry = jose_jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": factory.issuer}, exp={"essential": True}
        )

        def joserfc_decode(token):
            registry.validate(jose_jwt.decode(token, key_set, algorithms=["RS256"]).claims)

        peers["joserfc decode + claims"] = (joserfc_decode, tokens)
    except ImportError:
        print("(joserfc not installed: pip install -e '.[bench]' to compare with it)")

    results: dict[str, list[float]] = {name: [] for name in peers}
    results["ours, first-seen token"] = []
    results["ours, same token again"] = []
    for _ in range(args.rounds):
        for name, (fn, toks) in peers.items():
            results[name].append(per_op(fn, toks))
        first = CognitoTokenVerifier(issuer=server.issuer, client_ids=[factory.client_id])
        first.verify(tokens[0])  # JWKS loaded, as for every peer
        first.clear_cache()
        results["ours, first-seen token"].append(per_op(first.verify, tokens))
        results["ours, same token again"].append(per_op(first.verify, same))

    base = statistics.median(results["PyJWT decode (baseline)"])
    print(f"{'verifier':32s} {'median':>10s} {'x PyJWT decode':>15s}")
    for name, samples in results.items():
        med = statistics.median(samples)
        print(f"{name:32s} {med * 1e6:8.2f}us {med / base:14.3f}x")
    again = statistics.median(results["ours, same token again"])
    print(f"same token again is {base / again:.1f}x faster than PyJWT decode")

    # Unknown-kid flood: 1,000 tokens with random kids within one second.
    server.hits.clear()
    flood = CognitoTokenVerifier(issuer=server.issuer, client_ids=[factory.client_id])
    flood.verify(tokens[0])
    forged = [
        factory.mint(
            "access",
            key=SigningKey(f"k-{secrets.token_hex(8)}", "RS256", factory.access_key.private),
        )
        for _ in range(1000)
    ]
    t0 = time.perf_counter()
    refused = 0
    for token in forged:
        try:
            flood.verify(token)
        except UnknownKeyError:
            refused += 1
    took = time.perf_counter() - t0
    print(
        f"unknown-kid flood: {refused}/1000 refused in {took * 1000:.0f} ms, "
        f"JWKS fetches {server.jwks_fetches} (including the first load)"
    )

    # Rotation right after a successful fetch.
    server.hits.clear()
    rotating = CognitoTokenVerifier(issuer=server.issuer, client_ids=[factory.client_id])
    rotating.verify(tokens[0])
    new_key = SigningKey.rsa("rotated-key")
    server.jwks = factory.jwks(new_key)
    claims = rotating.verify(factory.mint("access", key=new_key))
    print(
        f"key rotation right after a fetch: accepted={bool(claims)}, "
        f"JWKS fetches {server.jwks_fetches}"
    )
    server.stop()


if __name__ == "__main__":
    main()
