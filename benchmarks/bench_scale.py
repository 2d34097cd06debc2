"""The Hub at N users, measured: N real session watches, idle, with a trickle, in storms.

A real JupyterHub with CognitoOAuthenticator (token delivery as the README configures it) against
the local Cognito emulator. Every simulated user is a real JupyterHub user who logged in through
the emulator's hosted sign-in page (real tokens in auth_state) and whose server was spawned by the
Hub: the spawner (``BenchSpawner`` below) starts no process, it hands the server's real API token
to this benchmark and points the Hub at one shared HTTP responder. One asyncio process then holds
N session watches with the project's own client (``HubSource``, streamed watch), each with its
server's API token, straight to the Hub's port (not through the proxy).

For each N: a window with the N servers and no watches (the baseline), a window with the N watches
idle, and a window with a trickle (logins, refreshes, logouts of users whose watches are timed).
Then, at the largest N: a mass logout, every user's tokens due in the same minute, and a Hub
restart with N watches reconnecting. Figures per window: Hub CPU s per wall s (``/proc``), RSS,
open fds, SQL statements per second (SQLAlchemy events in the Hub, dumped on SIGUSR2),
``GET /hub/api/user`` p50/p99 (5 probes/s), and logout → that user's watch woken p50/p99.

Run: .venv/bin/python benchmarks/bench_scale.py [--n 250,1000,2000] [--window 60]
     [--out benchmarks/results/scale.json] [--smoke]
The JSON goes to --out, a Markdown table beside it (same name, .md).
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import random
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_hub_scale import COUNTERS, cpu_seconds
from hub_configs import cognito_config
from jupyter_ai_access_testing.harness.hub import HubBrowser, HubProcess, find_chp

from jupyter_ai_access.local_cognito import LocalCognito
from jupyter_ai_access.local_cognito.process import find_free_port
from jupyter_ai_access.protocol import hub_tokens_url
from jupyter_ai_access.server.hub_source import HubSource

ROOT = Path(__file__).resolve().parent.parent
CLIENT = "benchscale1000000000000000"
SPAWNER = """
import os as _os, resource as _resource
_soft, _hard = _resource.getrlimit(_resource.RLIMIT_NOFILE)
_resource.setrlimit(_resource.RLIMIT_NOFILE, (_hard, _hard))
from jupyterhub.spawner import Spawner as _Spawner
class BenchSpawner(_Spawner):
    '''Starts nothing: hands the server's API token to the benchmark, shares one responder.'''
    async def start(self):
        path = _os.path.join(_os.environ["JAIA_BENCH_TOKENS"], self.user.name)
        fd = _os.open(path, _os.O_WRONLY | _os.O_CREAT | _os.O_TRUNC | _os.O_NOFOLLOW, 0o600)
        _os.write(fd, self.api_token.encode())
        _os.close(fd)
        return ("127.0.0.1", int(_os.environ["JAIA_BENCH_SERVER_PORT"]))
    async def poll(self):
        return None
    async def stop(self, now=False):
        pass
c.JupyterHub.spawner_class = BenchSpawner
c.JupyterHub.cleanup_servers = False
c.JupyterHub.concurrent_spawn_limit = 0
# the watch alone: no re-check at Cognito every recheck_interval (each one is a refresh, whose
# cost the expiry storm measures; docs/scaling.md adds it per recheck_interval)
c.CognitoOAuthenticator.recheck_interval = 0
# JupyterHub's own poll of every server's activity (every 300 s by default) blocks the Hub for
# seconds at thousands of servers: kept out of the windows, reported apart (see docs/scaling.md)
c.JupyterHub.last_activity_interval = 3600
"""


class Responder(BaseHTTPRequestHandler):
    """Every simulated server's URL: answers anything with 200."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    """The responder: a client gone before the answer (the Hub restarting) is not an error."""

    daemon_threads = True
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class Sink:
    """Stands in for the server's TokenBroker: records when tokens come and go."""

    max_backoff = 60.0

    def __init__(self) -> None:
        self.tokens: Any = None
        self.withdrawn_at = 0.0
        self.installed_at = 0.0
        self.failures = 0

    def install(self, tokens: Any, via: str = "fetch") -> None:
        self.tokens, self.installed_at = tokens, time.monotonic()

    def withdraw(self, error: Any, via: str = "fetch") -> None:
        self.tokens, self.withdrawn_at = None, time.monotonic()

    def failed(self, error: Any, via: str = "fetch") -> None:
        self.failures += 1


class BenchSource(HubSource):
    """The project's HubSource, noting each (re)connection attempt."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.attempts: list[float] = []

    async def watch_stream_once(self, wait: float) -> None:
        self.attempts.append(time.monotonic())
        await super().watch_stream_once(wait)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Bench:
    def __init__(self, args: Any) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-scale-"))
        self.tokens_dir = self.tmp / "tokens"
        self.tokens_dir.mkdir(mode=0o700)
        self.counts = self.tmp / "counts.json"
        self.nmax = max(args.ns)
        self.users = [f"u{i:05d}" for i in range(self.nmax)]
        self.passwords = {u: secrets.token_urlsafe(12) for u in self.users}
        self.browsers: dict[str, HubBrowser] = {}
        self.sources: dict[str, BenchSource] = {}
        self.results: dict[str, Any] = {"per_n": [], "storms": {}}

    # ------------------------------------------------------------------ setup
    def start(self) -> None:
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        self.responder = QuietServer(("127.0.0.1", 0), Responder)
        threading.Thread(target=self.responder.serve_forever, daemon=True).start()
        port = find_free_port()  # the public (proxy) port: the callback URL names it
        secret = secrets.token_urlsafe(32)
        pool = {
            "region": "us-east-1",
            "user_pool_id": "us-east-1_ScaleBench",
            "groups": [{"name": "ml-training"}],
            "users": [
                {"username": u, "password": self.passwords[u], "groups": ["ml-training"]}
                for u in self.users
            ],
            "resource_servers": [
                {"identifier": "ai-access", "scopes": [{"name": "datasets.read"}]}
            ],
            "app_clients": [
                {
                    "name": "hub",
                    "client_id": CLIENT,
                    "client_secret": secret,
                    "allowed_oauth_flows": ["code"],
                    "allowed_oauth_scopes": [
                        "openid",
                        "email",
                        "profile",
                        "ai-access/datasets.read",
                    ],
                    "callback_urls": [f"http://127.0.0.1:{port}/hub/oauth_callback"],
                }
            ],
        }
        (self.tmp / "pool.json").write_text(json.dumps(pool))
        self.emulator = LocalCognito(
            pool_file=str(self.tmp / "pool.json"), state_dir=str(self.tmp / "state")
        )
        running = self.emulator.start()
        proxy_token = secrets.token_hex(32)
        config = (
            cognito_config(running.issuer, running.domain, CLIENT, token_delivery=True)
            + COUNTERS
            + SPAWNER
            + "c.ConfigurableHTTPProxy.should_start = False\n"
            + f"c.ConfigurableHTTPProxy.auth_token = {proxy_token!r}\n"
        )
        self.hub = HubProcess(
            self.tmp / "hub",
            config,
            port=port,
            clock=True,
            env={
                "COGNITO_CLIENT_SECRET": secret,
                "JAIA_BENCH_COUNTS": str(self.counts),
                "JAIA_BENCH_TOKENS": str(self.tokens_dir),
                "JAIA_BENCH_SERVER_PORT": str(self.responder.server_address[1]),
            },
        )
        # the proxy runs on its own, as in Zero to JupyterHub (its own pod): it and its routes
        # outlive a Hub restart, which then only checks them
        self.proxy = subprocess.Popen(
            [
                os.environ.get("JUPYTER_AI_ACCESS_NODE") or "node",
                find_chp(),
                "--ip=127.0.0.1",
                f"--port={self.hub.port}",
                "--api-ip=127.0.0.1",
                f"--api-port={self.hub.proxy_api_port}",
                f"--default-target=http://127.0.0.1:{self.hub.hub_port}",
                f"--error-target=http://127.0.0.1:{self.hub.hub_port}/hub/error",
                "--log-level=warn",
            ],
            env={**os.environ, "CONFIGPROXY_AUTH_TOKEN": proxy_token},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.hub.start(timeout=300)
        self.api = f"http://127.0.0.1:{self.hub.hub_port}/hub/api"

    def stop(self) -> None:
        for browser in self.browsers.values():
            browser.close()
        self.hub.stop()
        self.proxy.terminate()
        self.proxy.wait(20)
        self.emulator.stop()
        self.responder.shutdown()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def login(self, name: str, keep: bool) -> None:
        browser = HubBrowser(self.hub.url)
        answer = browser.login(name, self.passwords[name], next_url="/hub/api/")
        assert answer.status_code == 200 and browser.logged_in, (name, answer.status_code)
        if keep:
            old = self.browsers.pop(name, None)
            if old is not None:
                old.close()
            self.browsers[name] = browser
        else:
            browser.close()

    def grow(self, n: int) -> None:
        """Users 0..n-1 logged in and their servers running (the new ones only)."""
        todo = [u for u in self.users[:n] if not (self.tokens_dir / u).exists()]
        keep = set(self.users[: self.args.timed])
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            list(pool.map(lambda u: self.login(u, u in keep), todo))
        asyncio.run(self.spawn(todo))
        deadline = time.monotonic() + 300
        while any(not (self.tokens_dir / u).exists() for u in todo):
            assert time.monotonic() < deadline, "servers did not start"
            time.sleep(0.2)

    async def spawn(self, names: list[str]) -> None:
        headers = {"Authorization": f"token {self.hub.admin_token}"}
        gate = asyncio.Semaphore(16)

        async def one(client: httpx.AsyncClient, u: str) -> None:
            async with gate:
                answer = await client.post(f"{self.api}/users/{u}/server")
                assert answer.status_code in (201, 202), (u, answer.status_code, answer.text)

        async with httpx.AsyncClient(headers=headers, timeout=120) as client:
            await asyncio.gather(*(one(client, u) for u in names))

    # ------------------------------------------------------------------ watches
    async def watch(self, names: list[str]) -> None:
        for u in names:
            if u in self.sources:
                continue
            source = BenchSource(
                hub_api_url=self.api,
                api_token=(self.tokens_dir / u).read_text(),
                user=u,
                http_timeout=30,
            )
            source.attach(Sink())  # type: ignore[arg-type]
            source.start()
            self.sources[u] = source
        deadline = time.monotonic() + 600
        while any(s._sink.tokens is None for s in self.sources.values()):  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "watches did not get their tokens"
            await asyncio.sleep(0.5)

    async def unwatch(self) -> None:
        await asyncio.gather(*(s.close() for s in self.sources.values()))
        self.sources.clear()
        await asyncio.sleep(2)

    # ------------------------------------------------------------------ figures
    def snapshot(self) -> dict[str, float]:
        pid = self.hub.pid
        assert pid is not None
        self.counts.unlink(missing_ok=True)
        os.kill(pid, signal.SIGUSR2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                counts = json.loads(self.counts.read_text())
                break
            except (OSError, ValueError):
                time.sleep(0.02)
        status = Path(f"/proc/{pid}/status").read_text()
        rss = sum(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
        return {
            "cpu": cpu_seconds(pid),
            "sql": counts["statements"],
            "rss_mb": rss / 1024,
            "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "at": time.monotonic(),
        }

    async def probes(self, seconds: float, out: list[tuple[float, float]]) -> None:
        headers = {"Authorization": f"token {self.hub.admin_token}"}
        async with httpx.AsyncClient(headers=headers, timeout=120) as client:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                started = time.monotonic()
                try:
                    answer = await client.get(f"{self.api}/user")
                    ok = answer.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    out.append((started, time.monotonic() - started))
                await asyncio.sleep(max(0.0, 0.2 - (time.monotonic() - started)))

    async def window(self, seconds: float, load: Any = None) -> dict[str, Any]:
        lat: list[tuple[float, float]] = []
        loop = asyncio.get_running_loop()
        before = await loop.run_in_executor(None, self.snapshot)
        extra: dict[str, Any] = {}
        jobs = [self.probes(seconds, lat)]
        if load is not None:
            jobs.append(load(seconds, extra))
        await asyncio.gather(*jobs)
        after = await loop.run_in_executor(None, self.snapshot)
        wall = after["at"] - before["at"]
        values = [d for _, d in lat]
        return {
            "wall_s": round(wall, 1),
            "hub_cpu_per_s": (after["cpu"] - before["cpu"]) / wall,
            "sql_per_s": (after["sql"] - before["sql"]) / wall,
            "rss_mb": after["rss_mb"],
            "fds": after["fds"],
            "api_p50_ms": pct(values, 0.5) * 1000,
            "api_p99_ms": pct(values, 0.99) * 1000,
            "probes": len(values),
            **extra,
        }

    async def logout_timed(self, name: str, pool: Any = None) -> float:
        """``name`` logs out in the browser; seconds from the moment its request left until
        that user's watch withdrew (not counting time queued for a client thread)."""
        sink = self.sources[name]._sink
        assert isinstance(sink, Sink) and sink.tokens is not None
        loop = asyncio.get_running_loop()
        started: list[float] = []

        def go() -> None:
            started.append(time.monotonic())
            self.browsers[name].go("/hub/logout")

        await loop.run_in_executor(pool, go)
        sent = started[0]
        deadline = time.monotonic() + 30
        while sink.withdrawn_at < sent and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        return sink.withdrawn_at - sent if sink.withdrawn_at >= sent else float("inf")

    async def relogin(self, names: list[str]) -> None:
        loop = asyncio.get_running_loop()
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            await asyncio.gather(*(loop.run_in_executor(pool, self.login, u, True) for u in names))
        deadline = time.monotonic() + 120
        while any(self.sources[u]._sink.tokens is None for u in names):  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "re-logins did not reach the watches"
            await asyncio.sleep(0.1)

    async def trickle(self, seconds: float, extra: dict[str, Any], n: int) -> None:
        """Logouts (timed), logins and refreshes, a few per second, for ``seconds``."""
        timed = [u for u in self.users[: min(n, self.args.timed)]]
        woken: list[float] = []
        refreshed = 0
        end = time.monotonic() + seconds
        headers = lambda u: {  # noqa: E731
            "Authorization": f"token {(self.tokens_dir / u).read_text()}"
        }
        async with httpx.AsyncClient(timeout=60) as client:
            i = 0
            while time.monotonic() < end:
                name = timed[i % len(timed)]
                i += 1
                woken.append(await self.logout_timed(name))
                await self.relogin([name])  # a login: the watch gets the new tokens
                other = random.choice(self.users[:n])
                with self.hub.clock_ahead(3600 - 200):  # its tokens are due: a refresh
                    answer = await client.get(
                        hub_tokens_url(self.api, other), headers=headers(other)
                    )
                refreshed += answer.status_code == 200
                await asyncio.sleep(0.5)
        extra.update(
            logouts=len(woken),
            woken_p50_ms=pct(woken, 0.5) * 1000,
            woken_p99_ms=pct(woken, 0.99) * 1000,
            renewals=refreshed,
        )

    def save(self) -> None:
        """The results so far (a run cut short keeps what it measured)."""
        out = Path(self.args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".partial.json").write_text(json.dumps(self.results, indent=1) + "\n")

    # ------------------------------------------------------------------ phases
    async def per_n(self, n: int) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.grow, n)
        w = self.args.window
        row: dict[str, Any] = {"n": n}
        row["no_watch"] = await self.window(w)
        before = await loop.run_in_executor(None, self.snapshot)
        await self.watch(self.users[:n])
        after = await loop.run_in_executor(None, self.snapshot)
        row["connect_s"] = round(after["at"] - before["at"], 1)
        row["connect_cpu_ms_per_watch"] = (after["cpu"] - before["cpu"]) / n * 1000
        row["connect_sql_per_watch"] = (after["sql"] - before["sql"]) / n
        await asyncio.sleep(3)
        row["idle"] = await self.window(w)
        row["trickle"] = await self.window(w, lambda s, e: self.trickle(s, e, n))
        idle = row["idle"]["hub_cpu_per_s"] - row["no_watch"]["hub_cpu_per_s"]
        row["idle_watch_cpu_per_s"] = idle
        row["idle_watch_sql_per_s"] = row["idle"]["sql_per_s"] - row["no_watch"]["sql_per_s"]
        row["core_share_at_10000"] = idle / n * 10000  # below 0: inside the windows' noise
        print(json.dumps(row), flush=True)
        return row

    async def mass_logout(self, n: int) -> dict[str, Any]:
        names = self.users[: min(n, self.args.timed)]

        async def load(seconds: float, extra: dict[str, Any]) -> None:
            await asyncio.sleep(2)
            with concurrent.futures.ThreadPoolExecutor(32) as pool:
                woken = await asyncio.gather(*(self.logout_timed(u, pool) for u in names))
            extra.update(
                logouts=len(woken),
                woken_p50_ms=pct(list(woken), 0.5) * 1000,
                woken_p99_ms=pct(list(woken), 0.99) * 1000,
            )

        figures = await self.window(max(10.0, self.args.window / 2), load)
        await self.relogin(names)
        return figures

    async def expiry_storm(self, n: int) -> dict[str, Any]:
        """Every user's tokens due at once; each server renews within one minute."""
        spread = self.args.storm_minute

        async def load(seconds: float, extra: dict[str, Any]) -> None:
            done: list[float] = []
            started = time.monotonic()

            async def renew(u: str, client: httpx.AsyncClient) -> None:
                await asyncio.sleep(random.uniform(0, spread))
                token = (self.tokens_dir / u).read_text()
                answer = await client.get(
                    hub_tokens_url(self.api, u), headers={"Authorization": f"token {token}"}
                )
                if answer.status_code == 200:
                    done.append(time.monotonic() - started)

            limits = httpx.Limits(max_connections=200)
            async with httpx.AsyncClient(timeout=300, limits=limits) as client:
                await asyncio.gather(*(renew(u, client) for u in self.users[:n]))
            per_second: dict[int, int] = {}
            for t in done:
                per_second[int(t)] = per_second.get(int(t), 0) + 1
            extra.update(
                refreshed=len(done),
                cognito_refresh_per_s_mean=len(done) / max(done) if done else 0.0,
                cognito_refresh_per_s_max=max(per_second.values()) if per_second else 0,
                last_refresh_s=round(max(done), 1) if done else None,
            )

        assert self.hub.clock_file is not None
        with self.hub.clock_ahead(3600 - 200):  # every token expires within the margin
            return await self.window(spread + 5, load)

    async def restart(self, n: int, idle_p99: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        lat: list[tuple[float, float]] = []
        stopped = time.monotonic()
        await loop.run_in_executor(None, lambda: self.hub.restart(timeout=300))
        up = time.monotonic()
        before = await loop.run_in_executor(None, self.snapshot)
        horizon = self.args.restart_window
        probing = asyncio.ensure_future(self.probes(horizon, lat))
        await asyncio.sleep(horizon)
        await probing
        after = await loop.run_in_executor(None, self.snapshot)
        # each watch's successful reconnection: its last attempt since the Hub stopped, while it
        # holds a stream now (clamped at the moment the benchmark saw the Hub answer)
        firsts = [
            max(up, max(a for a in s.attempts if a > stopped))
            for s in self.sources.values()
            if s._lost_spread > 0 and any(a > stopped for a in s.attempts)
        ]
        buckets: dict[int, list[float]] = {}
        for at, d in lat:
            buckets.setdefault(int((at - up) / 5), []).append(d)
        recovered = None
        for b in sorted(buckets):
            if pct(buckets[b], 0.99) < 2 * idle_p99 and all(
                pct(buckets[c], 0.99) < 2 * idle_p99 for c in buckets if c > b
            ):
                recovered = b * 5
                break
        wall = after["at"] - before["at"]
        values = [d for _, d in lat]
        return {
            "hub_down_s": round(up - stopped, 1),
            "reconnected": len(firsts),
            "reconnect_p50_s": round(pct([f - up for f in firsts], 0.5), 1),
            "reconnect_all_s": round(max(firsts) - up, 1) if firsts else None,
            "api_p99_back_under_2x_idle_after_s": recovered,
            "hub_cpu_per_s": (after["cpu"] - before["cpu"]) / wall,
            "sql_per_s": (after["sql"] - before["sql"]) / wall,
            "rss_mb": after["rss_mb"],
            "fds": after["fds"],
            "api_p50_ms": pct(values, 0.5) * 1000,
            "api_p99_ms": pct(values, 0.99) * 1000,
            "wall_s": round(wall, 1),
        }

    async def run(self) -> dict[str, Any]:
        started = time.time()
        load = os.getloadavg()
        for n in self.args.ns:
            if n != self.args.ns[0]:
                await self.unwatch()
            self.results["per_n"].append(await self.per_n(n))
            self.save()
        n = self.args.ns[-1]
        idle_p99 = self.results["per_n"][-1]["idle"]["api_p99_ms"] / 1000
        storms = self.results["storms"]
        storms["mass_logout"] = await self.mass_logout(n)
        self.save()
        storms["expiry_storm"] = await self.expiry_storm(n)
        self.save()
        storms["restart"] = await self.restart(n, idle_p99)
        self.results["machine"] = {
            "cpus": os.cpu_count(),
            "loadavg_at_start": [round(x, 2) for x in load],
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
            "duration_s": round(time.time() - started),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
        }
        self.results["benchmark"] = "benchmarks/bench_scale.py"
        self.results["settings"] = {
            "session_watch_keepalive_s": 60,
            "session_wait_max_s": 3600,
            "timed_users": self.args.timed,
            "window_s": self.args.window,
        }
        await self.unwatch()
        return self.results


def markdown(results: dict[str, Any]) -> str:
    """The per-N and storm tables of docs/scaling.md, from the JSON."""
    out = [
        "| N watches | Hub CPU s/s (no watch → idle → trickle) | idle watches' CPU at 10,000 "
        "| SQL/s (no watch → idle → trickle) | RSS MB | fds | API p50 / p99 ms (idle) "
        "| logout → watch woken p50 / p99 ms |",
        "|---:|---|---:|---|---:|---:|---|---|",
    ]
    for r in results["per_n"]:
        a, b, c = r["no_watch"], r["idle"], r["trickle"]
        out.append(
            f"| {r['n']:,} | {a['hub_cpu_per_s']:.3f} → {b['hub_cpu_per_s']:.3f} → "
            f"{c['hub_cpu_per_s']:.3f} | {r['core_share_at_10000'] * 100:.1f} % of a core "
            f"| {a['sql_per_s']:.1f} → {b['sql_per_s']:.1f} → {c['sql_per_s']:.1f} "
            f"| {b['rss_mb']:.0f} | {b['fds']:,} | {b['api_p50_ms']:.1f} / {b['api_p99_ms']:.1f} "
            f"| {c['woken_p50_ms']:.0f} / {c['woken_p99_ms']:.0f} ({c['logouts']} logouts) |"
        )
    out += [
        "",
        "| N watches | connecting all N: Hub CPU per watch | SQL statements per watch "
        "| idle: Hub RSS per watch |",
        "|---:|---:|---:|---:|",
    ]
    for r in results["per_n"]:
        rss = (r["idle"]["rss_mb"] - r["no_watch"]["rss_mb"]) * 1024 / r["n"]
        out.append(
            f"| {r['n']:,} | {r['connect_cpu_ms_per_watch']:.1f} ms "
            f"| {r['connect_sql_per_watch']:.1f} | {rss:.0f} KB |"
        )
    s = results["storms"]
    n = results["per_n"][-1]["n"]
    out += [
        "",
        f"| storm at N = {n:,} | Hub CPU s/s | SQL/s | API p50 / p99 ms | what else |",
        "|---|---:|---:|---|---|",
    ]
    m = s.get("mass_logout")
    if m:
        out.append(
            f"| mass logout ({m['logouts']} users at once) | {m['hub_cpu_per_s']:.2f} "
            f"| {m['sql_per_s']:.0f} | {m['api_p50_ms']:.0f} / {m['api_p99_ms']:.0f} "
            f"| logout → watch woken p50 {m['woken_p50_ms']:.0f} ms, p99 "
            f"{m['woken_p99_ms']:.0f} ms |"
        )
    e = s.get("expiry_storm")
    if e:
        out.append(
            f"| every user's tokens due in the same minute ({e['refreshed']} renewals) "
            f"| {e['hub_cpu_per_s']:.2f} | {e['sql_per_s']:.0f} "
            f"| {e['api_p50_ms']:.0f} / {e['api_p99_ms']:.0f} | Cognito refreshes "
            f"{e['cognito_refresh_per_s_mean']:.1f}/s mean, {e['cognito_refresh_per_s_max']}/s "
            f"peak second; last done after {e['last_refresh_s']} s |"
        )
    r = s.get("restart")
    if r:
        p50 = r.get("reconnect_p50_s", r.get("reconnect_first_p50_s"))
        out.append(
            f"| Hub restart ({r['reconnected']} watches reconnect) | {r['hub_cpu_per_s']:.2f} "
            f"| {r['sql_per_s']:.0f} | {r['api_p50_ms']:.0f} / {r['api_p99_ms']:.0f} "
            f"| Hub down {r['hub_down_s']} s; reconnections p50 {p50} s, "
            f"all within {r['reconnect_all_s']} s after the Hub was up; API p99 under 2x idle "
            f"from {r['api_p99_back_under_2x_idle_after_s']} s |"
        )
    mach = results["machine"]
    out += [
        "",
        f"Measured {mach['date']} on {mach['cpus']} cores shared with other work (load average "
        f"{mach['loadavg_at_start'][0]} at the start, {mach['loadavg_at_end'][0]} at the end); "
        f"{mach['duration_s']} s in all. CPU is the Hub process's own (user + system, /proc).",
    ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="250,1000,2000", help="comma-separated numbers of watches")
    parser.add_argument("--window", type=float, default=60.0, help="seconds per window")
    parser.add_argument("--timed", type=int, default=200, help="users whose logouts are timed")
    parser.add_argument("--storm-minute", type=float, default=60.0)
    parser.add_argument("--restart-window", type=float, default=120.0)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scale.json"))
    args = parser.parse_args(argv)
    args.ns = sorted(int(x) for x in args.n.split(","))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the Hub and emulator too
    bench = Bench(args)
    bench.start()
    try:
        results = asyncio.run(bench.run())
    finally:
        bench.stop()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    out.with_suffix(".md").write_text(markdown(results))
    out.with_suffix(".partial.json").unlink(missing_ok=True)
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
