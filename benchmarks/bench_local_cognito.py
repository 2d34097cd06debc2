"""How fast the local Cognito emulator starts and answers token requests.

Ratios against baselines measured in the same run (the machines are shared and noisy), each
sample taken right after a baseline sample (interleaved rounds, so load drift hits both):
- start-up: LocalCognito.start() until ready  vs  a bare `node -e 0` process start;
- a token request (client_credentials; refresh_token), a sign-in  vs  GET /health on the same
  server.

``--write`` stores the figures in ``benchmarks/results/local_cognito.json`` (the docs render them).

Run: .venv/bin/python benchmarks/bench_local_cognito.py [--rounds N] [--starts N] [--write]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from jupyter_ai_access_testing.flows import HostedUIClient
from results_file import Run

from jupyter_ai_access.demo.settings import DEMO_POOL_FILE
from jupyter_ai_access.local_cognito import LocalCognito


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(fn, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="write results/local_cognito.json")
    args = parser.parse_args()
    run = Run("local_cognito", {"rounds": args.rounds, "starts": args.starts})
    pool = json.loads(DEMO_POOL_FILE.read_text())

    with tempfile.TemporaryDirectory() as tmp:
        node = LocalCognito().check_node()
        bare, starts = [], []
        for i in range(args.starts):  # interleaved with the baseline: load drift hits both
            bare += timed(lambda: subprocess.run([node, "-e", "0"], check=True), 1)
            emulator = LocalCognito(state_dir=str(Path(tmp) / f"s{i % 2}"))
            t0 = time.perf_counter()
            emulator.start()
            starts.append(time.perf_counter() - t0)
            emulator.stop()
        print(
            f"start-up        median {median_ms(starts):7.1f} ms"
            f" | bare node {median_ms(bare):6.1f} ms"
            f" | ratio {statistics.median(starts) / statistics.median(bare):5.2f}x"
        )

        with LocalCognito(state_dir=str(Path(tmp) / "run")) as running:
            http = httpx.Client()
            machine = pool["app_clients"][1]
            hub = pool["app_clients"][0]
            # the emulator generates the secrets and passwords (once per state folder)
            machine["client_secret"] = running.client_secrets[machine["client_id"]]
            hub["client_secret"] = running.client_secrets[hub["client_id"]]
            ui = HostedUIClient(running.domain)
            user = pool["users"][1]
            result = ui.authorize(
                hub["client_id"],
                hub["callback_urls"][0],
                username=user["username"],
                password=running.passwords[user["username"]],
            )
            tokens = ui.exchange(
                result, hub["client_id"], hub["client_secret"], hub["callback_urls"][0]
            ).json()
            requests = {
                "health": lambda: http.get(f"{running.domain}/health"),
                "client_credentials": lambda: http.post(
                    running.endpoint("token"),
                    data={"grant_type": "client_credentials"},
                    auth=(machine["client_id"], machine["client_secret"]),
                ),
                "refresh_token": lambda: ui.refresh(
                    hub["client_id"], hub["client_secret"], tokens["refresh_token"]
                ),
                "SSO authorize+code exchange": lambda: ui.exchange(
                    ui.authorize(hub["client_id"], hub["callback_urls"][0]),
                    hub["client_id"],
                    hub["client_secret"],
                    hub["callback_urls"][0],
                ),
            }
            samples: dict[str, list[float]] = {name: [] for name in requests}
            every = args.rounds // max(20, args.rounds // 5)  # sign-ins: a fifth of the rounds
            for i in range(args.rounds):  # interleaved rounds: the baseline shares the load
                for name, request in requests.items():
                    if name.startswith("SSO") and i % max(1, every):
                        continue
                    samples[name] += timed(request, 1)
            health, cc = samples["health"], samples["client_credentials"]
            refresh, login = samples["refresh_token"], samples["SSO authorize+code exchange"]
        base = statistics.median(health)
        rows = [
            {
                "name": "emulator start-up to ready",
                "ms": median_ms(starts),
                "baseline": "bare `node -e 0`",
                "baseline_ms": median_ms(bare),
            }
        ]
        for name, samples in [
            ("client_credentials", cc),
            ("refresh_token", refresh),
            ("SSO authorize+code exchange", login),
        ]:
            print(
                f"{name:28s} median {median_ms(samples):6.2f} ms"
                f" | GET /health {base * 1000:5.2f} ms"
                f" | ratio {statistics.median(samples) / base:5.2f}x"
            )
            rows.append(
                {
                    "name": name,
                    "ms": median_ms(samples),
                    "baseline": "`GET /health`",
                    "baseline_ms": base * 1000,
                }
            )
        if args.write:
            for row in rows:
                row["ratio"] = row["ms"] / row["baseline_ms"]
            run.write(
                f"medians: {args.starts} start-ups, each after a bare node start; "
                f"{args.rounds} interleaved rounds of one request of each kind ({len(login)} "
                "sign-ins), the baseline a `GET /health` in the same rounds",
                {"rows": rows},
            )


if __name__ == "__main__":
    main()
