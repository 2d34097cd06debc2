"""What one login, one token refresh and one session-watch cycle cost a real Hub: CPU and database.

The numbers docs/scaling.md extrapolates to 10,000 users. Two Hubs run side by side against the
same local Cognito emulator:

- ours: CognitoOAuthenticator with token delivery (the README's settings);
- baseline: JupyterHub's DummyAuthenticator (a form login, no IdP), the cheapest login there is.

Each Hub's process CPU (user + system, from /proc/<pid>/stat) and its SQL statements and commits
(SQLAlchemy event listeners installed by the Hub's config, dumped on SIGUSR2: JupyterHub keeps
SIGUSR1) are read before and after each batch. Batches:

1. N logins on each Hub (a fresh user each; ours through the emulator's hosted sign-in page);
2. on ours, N token requests that each refresh at Cognito (refresh_margin longer than the
   token lifetime): what a user server's renewal costs;
3. on ours, N session-watch cycles (``?wait=0.05&have=<fingerprint>``: held, then answered
   unchanged): what the long-poll costs each time it is renewed.

Ratios are against the baseline login in the same run. Run:
    .venv/bin/python benchmarks/bench_hub_scale.py [--users 40]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import tempfile
import time
from pathlib import Path

import httpx
from hub_configs import cognito_config
from jupyter_ai_access_testing.harness.hub import HubBrowser, HubProcess

from jupyter_ai_access.local_cognito import LocalCognito
from jupyter_ai_access.local_cognito.process import find_free_port
from jupyter_ai_access.protocol import TOKENS_SCOPE, fingerprint

CLIENT = "benchscale0000000000000000"
COUNTERS = """
import json as _json, os as _os, signal as _signal
from sqlalchemy import event as _event
from sqlalchemy.engine import Engine as _Engine
_counts = {"statements": 0, "select": 0, "insert": 0, "update": 0, "delete": 0, "commits": 0}
@_event.listens_for(_Engine, "before_cursor_execute")
def _count(conn, cursor, statement, params, context, executemany):
    _counts["statements"] += 1
    verb = statement.lstrip().split(None, 1)[0].lower()
    if verb in _counts:
        _counts[verb] += 1
@_event.listens_for(_Engine, "commit")
def _commit(conn):
    _counts["commits"] += 1
def _dump(signum, frame):
    with open(_os.environ["JAIA_BENCH_COUNTS"], "w") as f:
        _json.dump(_counts, f)
_signal.signal(_signal.SIGUSR2, _dump)
c.JupyterHub.log_level = "WARN"
c.Authenticator.auth_refresh_age = 86400  # batches measure refreshes explicitly
"""
BROKER = """
c.JupyterHub.services.append({"name": "broker-sim", "api_token": %r})
c.JupyterHub.load_roles.append(
    {"name": "broker-sim", "services": ["broker-sim"], "scopes": [%r]}
)
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def snapshot(hub: HubProcess, counts_file: Path) -> dict[str, float]:
    assert hub.pid is not None
    counts_file.unlink(missing_ok=True)
    os.kill(hub.pid, signal.SIGUSR2)
    deadline = time.monotonic() + 10
    while not counts_file.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.05)  # the dump is a handful of bytes; let it finish
    counts = json.loads(counts_file.read_text())
    counts["cpu"] = cpu_seconds(hub.pid)
    return counts


def delta(before: dict[str, float], after: dict[str, float], n: int) -> dict[str, float]:
    return {k: (after[k] - before[k]) / n for k in after}


def dummy_login(url: str, name: str) -> None:
    with httpx.Client(base_url=url, follow_redirects=True, timeout=15) as client:
        page = client.get("/hub/login")
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        data = {"username": name, "password": "x"}
        if xsrf:
            data["_xsrf"] = xsrf.group(1)
        answer = client.post("/hub/login", data=data)
        assert answer.status_code == 200 and "jupyterhub-session-id" in client.cookies, name


def show(name: str, row: dict[str, float], base: dict[str, float] | None = None) -> None:
    ratio = f", {row['cpu'] / base['cpu']:.2f}x the baseline login's CPU" if base else ""
    print(
        f"{name:<34} Hub CPU {row['cpu'] * 1000:6.1f} ms, SQL statements {row['statements']:5.1f}"
        f" (select {row['select']:.1f}, insert {row['insert']:.1f}, update {row['update']:.1f},"
        f" delete {row['delete']:.1f}), commits {row['commits']:.1f}{ratio}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=40)
    args = parser.parse_args()
    n = args.users
    tmp = Path(tempfile.mkdtemp())
    ports = {"ours": find_free_port(), "baseline": find_free_port()}
    users = [
        {"username": f"user{i}", "password": secrets.token_urlsafe(12), "groups": ["ml-training"]}
        for i in range(n)
    ]
    secret = secrets.token_urlsafe(32)
    pool = {
        "region": "us-east-1",
        "user_pool_id": "us-east-1_ScalePool",
        "groups": [{"name": "ml-training"}],
        "users": users,
        "resource_servers": [{"identifier": "ai-access", "scopes": [{"name": "datasets.read"}]}],
        "app_clients": [
            {
                "name": "hub",
                "client_id": CLIENT,
                "client_secret": secret,
                "allowed_oauth_flows": ["code"],
                "allowed_oauth_scopes": ["openid", "email", "profile", "ai-access/datasets.read"],
                "callback_urls": [f"http://127.0.0.1:{ports['ours']}/hub/oauth_callback"],
            }
        ],
    }
    (tmp / "pool.json").write_text(json.dumps(pool))
    emulator = LocalCognito(pool_file=str(tmp / "pool.json"), state_dir=str(tmp / "state"))
    running = emulator.start()
    broker_token = secrets.token_hex(20)
    ours_config = (
        cognito_config(running.issuer, running.domain, CLIENT, token_delivery=True)
        + "\nc.CognitoOAuthenticator.refresh_margin = 7200  # every token request refreshes\n"
        # one service token stands in for every user's server, asking as fast as it can
        + 'c.CognitoOAuthenticator.token_endpoint_callers = "scoped"\n'
        + "c.CognitoOAuthenticator.token_answers_per_second = 1e6\n"
        + COUNTERS
        + BROKER % (broker_token, TOKENS_SCOPE)
    )
    baseline_config = (
        'c.JupyterHub.authenticator_class = "dummy"\nc.Authenticator.allow_all = True\n' + COUNTERS
    )
    counts = {name: tmp / f"{name}-counts.json" for name in ports}
    hubs = {
        "ours": HubProcess(
            tmp / "ours",
            ours_config,
            port=ports["ours"],
            env={"COGNITO_CLIENT_SECRET": secret, "JAIA_BENCH_COUNTS": str(counts["ours"])},
        ),
        "baseline": HubProcess(
            tmp / "baseline",
            baseline_config,
            port=ports["baseline"],
            env={"JAIA_BENCH_COUNTS": str(counts["baseline"])},
        ),
    }
    try:
        for hub in hubs.values():
            hub.start()
        # warm-up: the first login of each Hub fetches discovery and keys, compiles templates
        with HubBrowser(hubs["ours"].url) as browser:
            browser.login(users[0]["username"], users[0]["password"])
        dummy_login(hubs["baseline"].url, "warmup")
        rows = {}
        before = snapshot(hubs["baseline"], counts["baseline"])
        for i in range(n):
            dummy_login(hubs["baseline"].url, f"person{i}")
        rows["baseline login (DummyAuthenticator)"] = delta(
            before, snapshot(hubs["baseline"], counts["baseline"]), n
        )
        before = snapshot(hubs["ours"], counts["ours"])
        for user in users[1:]:
            with HubBrowser(hubs["ours"].url) as browser:
                browser.login(user["username"], user["password"])
                assert browser.logged_in, user["username"]
        rows["our login (Cognito, verified)"] = delta(
            before, snapshot(hubs["ours"], counts["ours"]), n - 1
        )
        api = f"{hubs['ours'].url}/hub/api/ai-access/users/{{}}/tokens"
        headers = {"Authorization": f"token {broker_token}"}
        with httpx.Client(headers=headers, timeout=30) as client:
            before = snapshot(hubs["ours"], counts["ours"])
            answers = {}
            for user in users[1:]:
                answer = client.get(api.format(user["username"]))
                assert answer.status_code == 200, answer.text[:200]
                answers[user["username"]] = answer.json()
            rows["token request with refresh"] = delta(
                before, snapshot(hubs["ours"], counts["ours"]), n - 1
            )
            before = snapshot(hubs["ours"], counts["ours"])
            for name, body in answers.items():
                have = fingerprint(body["access_token"])
                answer = client.get(api.format(name), params={"wait": "0.05", "have": have})
                assert answer.status_code == 200
            rows["session-watch cycle (unchanged)"] = delta(
                before, snapshot(hubs["ours"], counts["ours"]), n - 1
            )
        base = rows["baseline login (DummyAuthenticator)"]
        print(f"per operation, averaged over {n - 1}-{n} operations (Hub process only):")
        for name, row in rows.items():
            show(name, row, None if row is base else base)
    finally:
        for hub in hubs.values():
            hub.stop()
        emulator.stop()


if __name__ == "__main__":
    main()
