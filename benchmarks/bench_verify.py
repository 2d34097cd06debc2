"""Verification speed and JWKS fetch amplification, as ratios measured in one run.

Baseline: PyJWT's ``jwt.decode`` with the key already loaded, on Cognito-shaped RS256 access
tokens. Compared in the same run: PyJWT's PyJWKClient pattern, joserfc (if installed), the bare RSA
check, and ours (first-seen tokens, and the same token seen again). Then: 1,000 tokens with
unknown kids in one second (JWKS fetches), and a key rotation right after a successful fetch.

Each of ``--runs`` runs measures every verifier in ``--rounds`` interleaved rounds of ``--tokens``
tokens, on the thread's CPU clock (a shared machine's other load does not count), and takes the
median of the per-round ratios to the baseline (a round's ratio compares two measurements taken
seconds apart). The figure is the median over the runs, with their spread. ``--write`` stores
them in ``benchmarks/results/verify.json``: the docs' Performance page renders it at every build,
and ``scripts/figures`` rewrites the README's summary from it.

Run: .venv/bin/python benchmarks/bench_verify.py [--tokens N] [--rounds R] [--runs K] [--write]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import secrets
import statistics
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from jupyter_ai_access_testing.jwks_server import IssuerServer
from jupyter_ai_access_testing.tokens import SigningKey, TokenFactory

from jupyter_ai_access.cognito.verify import CognitoTokenVerifier
from jupyter_ai_access.errors import UnknownKeyError

RESULTS = Path(__file__).parent / "results" / "verify.json"
BASELINE = "PyJWT decode (baseline)"
FIRST, AGAIN = "ours, first-seen token", "ours, same token again"


def per_op(fn, tokens) -> float:
    t0 = time.thread_time()
    for token in tokens:
        fn(token)
    return (time.thread_time() - t0) / len(tokens)


def installed(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def measure(peers, make_verifier, tokens, same, rounds) -> dict[str, tuple[float, float]]:
    """{name: (median time per token, median of the per-round ratios to the baseline)}."""
    times: dict[str, list[float]] = {name: [] for name in (*peers, FIRST, AGAIN)}
    for _ in range(rounds):
        for name, (fn, toks) in peers.items():
            times[name].append(per_op(fn, toks))
        ours = make_verifier()
        ours.verify(tokens[0])  # JWKS loaded, as for every peer
        ours.clear_cache()
        times[FIRST].append(per_op(ours.verify, tokens))
        times[AGAIN].append(per_op(ours.verify, same))
    base = times[BASELINE]
    return {
        name: (
            statistics.median(samples),
            statistics.median(t / b for t, b in zip(samples, base, strict=True)),
        )
        for name, samples in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--runs", type=int, default=3, help="independent runs (median, spread)")
    parser.add_argument("--write", action="store_true", help=f"write the figures to {RESULTS}")
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
        BASELINE: (pyjwt_decode, tokens),
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

    def make_verifier():
        return CognitoTokenVerifier(issuer=server.issuer, client_ids=[factory.client_id])

    runs = []
    for run in range(args.runs):
        runs.append(measure(peers, make_verifier, tokens, same, args.rounds))
        print(f"run {run + 1}/{args.runs}: ours first-seen {runs[-1][FIRST][1]:.3f}x PyJWT decode")
    rows = []
    print(f"{'verifier':32s} {'median':>10s} {'x PyJWT decode':>15s} {'spread of runs':>16s}")
    for name in runs[0]:
        us = statistics.median(r[name][0] for r in runs) * 1e6
        ratios = [r[name][1] for r in runs]
        ratio = statistics.median(ratios)
        rows.append({"name": name, "us": us, "ratio": ratio, "runs": ratios})
        spread = f"{min(ratios):.3f}-{max(ratios):.3f}"
        print(f"{name:32s} {us:8.2f}us {ratio:14.3f}x {spread:>16s}")
    again = next(row for row in rows if row["name"] == AGAIN)["ratio"]
    print(f"same token again is {1 / again:.1f}x faster than PyJWT decode")

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
    flood_fetches = server.jwks_fetches
    print(
        f"unknown-kid flood: {refused}/1000 refused in {took * 1000:.0f} ms, "
        f"JWKS fetches {flood_fetches} (including the first load)"
    )

    # Rotation right after a successful fetch.
    server.hits.clear()
    rotating = CognitoTokenVerifier(issuer=server.issuer, client_ids=[factory.client_id])
    rotating.verify(tokens[0])
    new_key = SigningKey.rsa("rotated-key")
    server.jwks = factory.jwks(new_key)
    claims = rotating.verify(factory.mint("access", key=new_key))
    rotation_fetches = server.jwks_fetches
    print(
        f"key rotation right after a fetch: accepted={bool(claims)}, "
        f"JWKS fetches {rotation_fetches}"
    )
    server.stop()
    if args.write:
        results = {
            "benchmark": "benchmarks/bench_verify.py",
            "measured": time.strftime("%Y-%m-%d", time.gmtime()),
            "clock": "thread CPU time",
            "cpus": os.cpu_count(),
            "versions": {
                "python": platform.python_version(),
                **{n: installed(n) for n in ("PyJWT", "joserfc", "cryptography")},
            },
            "tokens": args.tokens,
            "rounds": args.rounds,
            "runs": args.runs,
            "rows": rows,
            "flood": {
                "tokens": len(forged),
                "refused": refused,
                "ms": took * 1000,
                "jwks_fetches": flood_fetches,
            },
            "rotation": {"accepted": bool(claims), "jwks_fetches": rotation_fetches},
        }
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {RESULTS}; rewrite the README's summary with scripts/figures")


if __name__ == "__main__":
    main()
