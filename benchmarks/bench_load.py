"""Load check: N users log in and start servers on the local Hub, ours vs GenericOAuthenticator.

Both Hubs run the same spawner (SimpleLocalProcessSpawner, JupyterLab servers) against the same
local Cognito emulator; N users log in (browser-like, password on the hosted page) and start
their servers, `--concurrency` at a time. Reported per Hub: logins per second (login + server
ready), the Hub process's CPU seconds and peak memory (RSS) read from /proc, and for ours the
time to the first token in a kernel of a sample of servers. Ratios are ours / Generic, same run.

``--write`` stores the figures in ``benchmarks/results/load.json`` (the docs render them).

Run: .venv/bin/python benchmarks/bench_load.py [--users 50] [--concurrency 10] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import tempfile
import threading
import time
from pathlib import Path

from hub_configs import cognito_config, generic_config
from jupyter_ai_access_testing.harness.hub import HubBrowser, HubProcess
from jupyter_ai_access_testing.harness.notebooks import ServerKernel
from results_file import Run

from jupyter_ai_access.local_cognito import LocalCognito
from jupyter_ai_access.local_cognito.process import find_free_port

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0.0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.2)


def login_and_spawn(hub_url: str, user: dict) -> tuple[float, dict[str, str]]:
    t0 = time.perf_counter()
    with HubBrowser(hub_url) as browser:
        browser.login(user["username"], user["password"])
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            r = browser.http.get(
                f"{hub_url}/hub/api/user", headers={"Referer": f"{hub_url}/hub/home"}
            )
            if r.status_code == 200 and r.json().get("servers", {}).get("", {}).get("ready"):
                break
            if r.status_code == 200 and not r.json().get("servers"):
                browser.go("/hub/spawn")
            time.sleep(0.3)
        else:
            raise RuntimeError(f"server of {user['username']} not ready")
        browser.go(f"/user/{user['username']}/lab")
        took = time.perf_counter() - t0
        cookies = {
            c.name: c.value
            for c in browser.http.cookies.jar
            if f"/user/{user['username']}/".startswith(c.path or "/")
        }
    return took, cookies


async def first_token(hub_url: str, username: str, cookies: dict[str, str]) -> float:
    kernel = await ServerKernel(f"{hub_url}/user/{username}/", cookies).start()
    t0 = time.perf_counter()
    out = await kernel.execute(
        "from jupyter_ai_access.client import get_token\nprint(len(get_token()) > 100)"
    )
    took = time.perf_counter() - t0
    await kernel.shutdown()
    assert out["stdout"].strip() == "True", out
    return took


def run_hub(name: str, hub: HubProcess, users: list[dict], concurrency: int) -> dict:
    pid = int((hub.folder / "hub.pid").read_text())
    cpu0 = cpu_seconds(pid)
    sampler = Sampler(pid)
    sampler.start()
    t0 = time.perf_counter()
    results: list[tuple[float, dict[str, str]]] = []
    lock = threading.Lock()
    queue = list(users)

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                user = queue.pop()
            result = login_and_spawn(hub.url, user)
            with lock:
                results.append((result[0], result[1], user["username"]))

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    sampler.running = False
    report = {
        "name": name,
        "users": len(users),
        "wall_s": wall,
        "logins_per_s": len(users) / wall,
        "median_login_to_ready_s": statistics.median(r[0] for r in results),
        "hub_cpu_s": cpu_seconds(pid) - cpu0,
        "hub_peak_rss_mb": sampler.peak,
        "sessions": results,
    }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--token-samples", type=int, default=10)
    parser.add_argument("--write", action="store_true", help="write results/load.json")
    args = parser.parse_args()
    run = Run(
        "load",
        {"users": args.users, "concurrency": args.concurrency, "token_samples": args.token_samples},
    )
    tmp = Path(tempfile.mkdtemp())
    ports = {"ours": find_free_port(), "generic": find_free_port()}
    users = [
        {
            "username": f"user{i:02d}",
            "password": secrets.token_urlsafe(12),
            "groups": ["ml-training"],
        }
        for i in range(args.users)
    ]
    secret = secrets.token_urlsafe(32)
    pool = {
        "region": "us-east-1",
        "user_pool_id": "us-east-1_LoadPool1",
        "groups": [{"name": "ml-training"}],
        "users": users,
        "resource_servers": [{"identifier": "ai-access", "scopes": [{"name": "datasets.read"}]}],
        "app_clients": [
            {
                "name": "hub",
                "client_id": "loadhub0000000000000000000",
                "client_secret": secret,
                "allowed_oauth_flows": ["code"],
                "allowed_oauth_scopes": ["openid", "email", "profile", "ai-access/datasets.read"],
                "callback_urls": [
                    f"http://127.0.0.1:{p}/hub/oauth_callback" for p in ports.values()
                ],
            }
        ],
    }
    (tmp / "pool.json").write_text(json.dumps(pool))
    emulator = LocalCognito(pool_file=str(tmp / "pool.json"), state_dir=str(tmp / "idp"))
    idp = emulator.start()
    spawner = f"""
import sys, os
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = "{tmp}/homes/{{username}}"
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.args = ["--allow-root"] if os.getuid() == 0 else []
c.JupyterHub.redirect_to_server = True
c.JupyterHub.log_level = "WARN"
"""
    configs = {
        "ours": cognito_config(
            idp.issuer, idp.domain, "loadhub0000000000000000000", token_delivery=True
        )
        + spawner,
        "generic": generic_config(idp.domain, "loadhub0000000000000000000") + spawner,
    }
    reports = {}
    try:
        for name in ("generic", "ours"):
            hub = HubProcess(
                tmp / name,
                configs[name],
                port=ports[name],
                env={"COGNITO_CLIENT_SECRET": secret, "OAUTH_CLIENT_SECRET": secret},
            )
            hub.start(timeout=90)
            try:
                reports[name] = run_hub(name, hub, users, args.concurrency)
                if name == "ours":
                    sample = reports[name]["sessions"][: args.token_samples]
                    firsts = [asyncio.run(first_token(hub.url, u, c)) for _, c, u in sample]
                    reports[name]["median_first_token_s"] = statistics.median(firsts)
            finally:
                hub.stop(timeout=60)
        for name, r in reports.items():
            extra = (
                f", first token in a new kernel {r['median_first_token_s'] * 1000:.0f} ms"
                if "median_first_token_s" in r
                else ""
            )
            print(
                f"{name:8s}: {r['users']} users in {r['wall_s']:.1f} s = "
                f"{r['logins_per_s']:.2f} logins+spawns/s, median login-to-ready "
                f"{r['median_login_to_ready_s']:.2f} s, Hub CPU {r['hub_cpu_s']:.1f} s, "
                f"Hub peak RSS {r['hub_peak_rss_mb']:.0f} MB{extra}"
            )
        o, g = reports["ours"], reports["generic"]
        print(
            f"ratios ours/generic: throughput {o['logins_per_s'] / g['logins_per_s']:.2f}x, "
            f"Hub CPU {o['hub_cpu_s'] / g['hub_cpu_s']:.2f}x, "
            f"Hub peak RSS {o['hub_peak_rss_mb'] / g['hub_peak_rss_mb']:.2f}x"
        )
        if args.write:
            keep = (
                "users",
                "wall_s",
                "logins_per_s",
                "median_login_to_ready_s",
                "hub_cpu_s",
                "hub_peak_rss_mb",
                "median_first_token_s",
            )
            run.write(
                f"{args.users} users log in through the hosted page and start JupyterLab "
                f"servers, {args.concurrency} at a time, on one Hub against the local emulator; "
                "the same Hub with GenericOAuthenticator configured for Cognito in the same run; "
                f"first token in a new kernel: median of {args.token_samples} servers",
                {
                    name: {k: r[k] for k in keep if k in r}
                    for name, r in (("ours", o), ("generic", g))
                },
            )
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()
