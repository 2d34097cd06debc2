"""A full browser login through a real Hub: ours (verified) vs GenericOAuthenticator (unverified).

Both Hubs log in against the same local Cognito emulator. One login = /hub/oauth_login →
authorize → hosted sign-in page → password → callback → token request → user created → cookie.
GenericOAuthenticator is configured the documented way for Cognito (authorize/token/userInfo
URLs, username from userInfo, HTTP Basic client auth); ours verifies the ID and access tokens
against the pool's JWKS (cached after the first login) and never calls userInfo. Logins alternate
between the two Hubs; the ratio is of medians measured in the same run.

``--write`` stores the figures in ``benchmarks/results/login.json`` (the docs' Performance page
renders them at every build).

Run: .venv/bin/python benchmarks/bench_login.py [--logins N] [--write]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from hub_configs import cognito_config, generic_config
from jupyter_ai_access_testing.harness.hub import HubBrowser, HubProcess
from results_file import Run

from jupyter_ai_access.local_cognito import LocalCognito
from jupyter_ai_access.local_cognito.process import find_free_port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--logins", type=int, default=40)
    parser.add_argument("--write", action="store_true", help="write results/login.json")
    args = parser.parse_args()
    run = Run("login", {"logins": args.logins})
    tmp = Path(tempfile.mkdtemp())
    ports = {"ours": find_free_port(), "generic": find_free_port()}
    users = [
        {"username": f"user{i}", "password": secrets.token_urlsafe(12), "groups": ["ml-training"]}
        for i in range(args.logins)
    ]
    secret = secrets.token_urlsafe(32)
    pool = {
        "region": "us-east-1",
        "user_pool_id": "us-east-1_BenchPool",
        "groups": [{"name": "ml-training"}],
        "users": users,
        "app_clients": [
            {
                "name": "hub",
                "client_id": "benchhub000000000000000000",
                "client_secret": secret,
                "allowed_oauth_flows": ["code"],
                "allowed_oauth_scopes": ["openid", "email", "profile"],
                "callback_urls": [
                    f"http://127.0.0.1:{p}/hub/oauth_callback" for p in ports.values()
                ],
            }
        ],
    }
    (tmp / "pool.json").write_text(json.dumps(pool))
    emulator = LocalCognito(pool_file=str(tmp / "pool.json"), state_dir=str(tmp / "state"))
    running = emulator.start()
    configs = {
        "ours": cognito_config(
            running.issuer, running.domain, "benchhub000000000000000000", token_delivery=False
        ),
        "generic": generic_config(running.domain, "benchhub000000000000000000"),
    }
    hubs = {
        name: HubProcess(
            tmp / name,
            configs[name],
            port=ports[name],
            env={"COGNITO_CLIENT_SECRET": secret, "OAUTH_CLIENT_SECRET": secret},
        )
        for name in configs
    }
    try:
        for hub in hubs.values():
            hub.start()
        times: dict[str, list[float]] = {name: [] for name in hubs}
        for i, user in enumerate(users):
            order = list(hubs) if i % 2 == 0 else list(reversed(hubs))
            for name in order:
                with HubBrowser(hubs[name].url) as browser:
                    t0 = time.perf_counter()
                    response = browser.login(user["username"], user["password"])
                    took = time.perf_counter() - t0
                assert response.status_code == 200 and browser.logged_in, (
                    name,
                    response.text[:200],
                )
                if i > 0:  # the first login of each Hub fetches discovery and keys
                    times[name].append(took)
        ours, generic = (statistics.median(times[n]) for n in ("ours", "generic"))
        print(
            f"full login, median of {len(times['ours'])}: ours (verified) {ours * 1000:.1f} ms, "
            f"GenericOAuthenticator (unverified) {generic * 1000:.1f} ms, "
            f"ratio {ours / generic:.3f}x"
        )
        if args.write:
            run.write(
                f"{args.logins} full browser logins per Hub, alternating between the two Hubs, "
                "against the local emulator; medians, the first login of each Hub left out",
                {
                    "samples": len(times["ours"]),
                    "ours_ms": ours * 1000,
                    "generic_ms": generic * 1000,
                    "ratio": ours / generic,
                },
            )
    finally:
        for hub in hubs.values():
            hub.stop()
        emulator.stop()


if __name__ == "__main__":
    main()
