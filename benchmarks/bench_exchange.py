"""Per-resource tokens at the Hub: exchanges per key under load, and the latency they add.

A real Hub against the local emulator (the demo pool's resource servers and actor client, the
Hub's token endpoint URL through a counting forwarder), alice (ml-training + ml-publishers)
logged in. Then, for each of ``--renewals`` + 1 rounds (the first issues, the others renew after
the tokens expired: ``--lifetime`` s tokens): ``--requesters`` concurrent requesters for each of
the 3 audiences (model-registry, data-service, tracker) ask the Hub's exchange endpoint at once;
the figure is the exchanges that reached the emulator per (user, audience, scopes) key (goal: 1).

Latency, measured in the same run: the first exchanged token (a cache miss: actor token cached,
one exchange at the emulator), a cached answer, and the baseline, the Hub's plain token endpoint
(``/tokens``, no exchange) — each the median of ``--samples`` requests, reported as ratios to the
baseline.

``--write`` stores the figures in ``benchmarks/results/exchange.json`` (the docs render them).

Run: .venv/bin/python benchmarks/bench_exchange.py [--requesters 20] [--renewals 2] [--write]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from jupyter_ai_access_testing.harness.forwarder import CountingForwarder
from jupyter_ai_access_testing.harness.hub import HubBrowser, HubProcess
from jupyter_ai_access_testing.harness.hubs import SCOPED_CALLERS, TOKEN_DELIVERY_CONFIG
from results_file import Run

from jupyter_ai_access.demo.settings import DEMO_POOL_FILE
from jupyter_ai_access.local_cognito import LocalCognito
from jupyter_ai_access.local_cognito.process import find_free_port
from jupyter_ai_access.protocol import TOKENS_SCOPE, hub_exchange_url, hub_tokens_url

POOL = Path(DEMO_POOL_FILE)
AUDIENCES = ("model-registry", "data-service", "tracker")
POLICY = {
    "ml-training": {
        "data-service": ["data-service/datasets.read"],
        "tracker": ["tracker/runs.read", "tracker/runs.write"],
    },
    "ml-publishers": {
        "model-registry": ["model-registry/models.read", "model-registry/models.write"],
    },
}


def pool_description(port: int, lifetime: int) -> dict[str, Any]:
    desc: dict[str, Any] = json.loads(POOL.read_text(encoding="utf-8"))
    hub = f"http://127.0.0.1:{port}/hub"
    for client in desc["app_clients"]:
        if client["name"] == "jupyterhub":
            client["callback_urls"] = [f"{hub}/oauth_callback"]
            client["logout_urls"] = [f"{hub}/logout-complete"]
            client["token_validity"] = {
                "access_token": lifetime,
                "id_token": lifetime,
                "refresh_token": 3600,
            }
    return desc


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requesters", type=int, default=20)
    parser.add_argument("--renewals", type=int, default=2)
    parser.add_argument("--lifetime", type=int, default=15)
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--write", action="store_true", help="write results/exchange.json")
    args = parser.parse_args()
    run = Run(
        "exchange",
        {
            "requesters": args.requesters,
            "renewals": args.renewals,
            "lifetime": args.lifetime,
            "samples": args.samples,
        },
    )

    folder = Path(tempfile.mkdtemp(prefix="bench-exchange-"))
    port = find_free_port()
    (folder / "pool.json").write_text(
        json.dumps(pool_description(port, args.lifetime)), encoding="utf-8"
    )
    emulator = LocalCognito(pool_file=str(folder / "pool.json"), state_dir=str(folder / "state"))
    running = emulator.start()
    desc = json.loads(POOL.read_text(encoding="utf-8"))
    hub_id = next(c["client_id"] for c in desc["app_clients"] if c["name"] == "jupyterhub")
    actor_id = next(c["client_id"] for c in desc["app_clients"] if c["name"] == "jupyterhub-actor")
    scopes = next(c for c in desc["app_clients"] if c["name"] == "jupyterhub")
    forwarder = CountingForwarder(running.endpoint("token"))
    config = (
        f"""
c.JupyterHub.authenticator_class = "cognito"
c.CognitoOAuthenticator.issuer = {running.issuer!r}
c.CognitoOAuthenticator.domain = {running.domain!r}
c.CognitoOAuthenticator.client_id = {hub_id!r}
c.CognitoOAuthenticator.token_url = {forwarder.url!r}
c.CognitoOAuthenticator.scope = {scopes["allowed_oauth_scopes"]!r}
c.CognitoOAuthenticator.allowed_groups = {{"ml-training", "ml-publishers"}}
c.CognitoOAuthenticator.refresh_margin = {max(1, args.lifetime // 2)}
c.CognitoOAuthenticator.exchange_renew_margin = {max(1, args.lifetime // 5)}
c.CognitoOAuthenticator.exchange_policy = {POLICY!r}
c.CognitoOAuthenticator.exchange_actor_scopes = ["notebook-platform/act"]
c.CognitoOAuthenticator.token_answers_burst = 1000
c.Authenticator.auth_refresh_age = 3600
c.JupyterHub.log_level = "INFO"
"""
        + TOKEN_DELIVERY_CONFIG
        + SCOPED_CALLERS
    )
    hub = HubProcess(
        folder / "hub",
        config,
        env={
            "COGNITO_CLIENT_SECRET": running.client_secrets[hub_id],
            "COGNITO_ACTOR_CLIENT_ID": actor_id,
            "COGNITO_ACTOR_CLIENT_SECRET": running.client_secrets[actor_id],
        },
        port=port,
    )
    hub.start()
    try:
        with HubBrowser(hub.url) as browser:
            assert browser.login("alice", running.passwords["alice"]).status_code == 200
        made = hub.api(
            "POST", "/users/alice/tokens", json={"scopes": [f"{TOKENS_SCOPE}!user=alice"]}
        )
        token = made.json()["token"]
        headers = {"Authorization": f"token {token}"}
        url = hub_exchange_url(f"{hub.url}/hub/api", "alice")
        client = httpx.Client(headers=headers, timeout=60)

        def ask(audience: str) -> httpx.Response:
            return client.get(url, params={"audience": audience})

        rounds = []
        for renewal in range(args.renewals + 1):
            before = forwarder.exchanges
            jobs = [a for a in AUDIENCES for _ in range(args.requesters)]
            with ThreadPoolExecutor(len(jobs)) as pool:
                answers = list(pool.map(ask, jobs))
            statuses = sorted({a.status_code for a in answers})
            expires = min(a.json()["access_token_expires_at"] for a in answers if a.is_success)
            exchanges = forwarder.exchanges - before
            rounds.append(
                {
                    "round": "issue" if renewal == 0 else f"renewal {renewal}",
                    "requests": len(jobs),
                    "statuses": statuses,
                    "exchanges": exchanges,
                    "exchanges_per_key": exchanges / len(AUDIENCES),
                }
            )
            if renewal < args.renewals:
                time.sleep(max(0.0, expires - time.time()) + 1)

        # latency, each sample in a new session (logout drops the cached tokens; the actor
        # token stays cached): plain token endpoint (baseline), first exchange, cached answer
        tokens_url = hub_tokens_url(f"{hub.url}/hub/api", "alice")
        baseline, first, cached = [], [], []
        for _ in range(args.samples):
            with HubBrowser(hub.url) as browser:
                assert browser.login("alice", running.passwords["alice"]).status_code == 200
                baseline.append(timed(lambda: client.get(tokens_url))[0])
                seconds, answer = timed(lambda: ask("tracker"))
                assert answer.status_code == 200, answer.text
                first.append(seconds)
                cached.append(timed(lambda: ask("tracker"))[0])
                browser.go("/hub/logout")
        base = statistics.median(baseline)
        figures: dict[str, Any] = {
            "requesters_per_audience": args.requesters,
            "audiences": len(AUDIENCES),
            "lifetime_s": args.lifetime,
            "rounds": rounds,
            "latency_ms": {
                "tokens endpoint (baseline)": round(base * 1000, 2),
                "first exchanged token": round(statistics.median(first) * 1000, 2),
                "cached exchanged token": round(statistics.median(cached) * 1000, 2),
            },
            "ratio_to_baseline": {
                "first exchanged token": round(statistics.median(first) / base, 2),
                "cached exchanged token": round(statistics.median(cached) / base, 2),
            },
        }
        print(json.dumps(figures, indent=1))
        if args.write:
            run.write(
                f"a real Hub against the emulator, {args.lifetime} s tokens, alice; the Hub's "
                "token URL through a loopback forwarder that counts the exchanges reaching the "
                f"emulator; latencies the medians of {args.samples} new sessions",
                figures,
            )
    finally:
        hub.stop()
        forwarder.stop()
        emulator.stop()


if __name__ == "__main__":
    main()
