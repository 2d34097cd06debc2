"""The idle session watch costs the Hub no SQL, and the scale benchmark runs (a small-N smoke).

A real Hub (the crafted issuer's logins, token delivery as configured for tests) counts every SQL
statement it executes (SQLAlchemy's ``before_cursor_execute`` event, read on SIGUSR2). alice's
server is the project's own :class:`HubSource` holding the session watch with a short idle cycle
(``watch_wait`` 0.5 s). While nothing changes, the Hub must execute no statement at all over
several of those cycles; the same watch then still hears alice's logout. A long-poll renewed
every cycle authenticates its token and reads auth_state each time (about 20 statements).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from jupyter_ai_access_testing.harness.hub import HubBrowser, HubProcess
from jupyter_ai_access_testing.harness.hubs import (
    SCOPED_CALLERS,
    TOKEN_DELIVERY_CONFIG,
    scripted_issuer_config,
    server_token,
)

from jupyter_ai_access.protocol import TOKENS_SCOPE
from jupyter_ai_access.server.hub_source import HubSource

ROOT = Path(__file__).resolve().parent.parent
IDLE_CYCLE = 0.5  # the watch's watch_wait: its longest silence when nothing changes
CYCLES = 8

COUNTER = """
import json as _json, os as _os, signal as _signal
from sqlalchemy import event as _event
from sqlalchemy.engine import Engine as _Engine
_seen = []
@_event.listens_for(_Engine, "before_cursor_execute")
def _count(conn, cursor, statement, params, context, executemany):
    _seen.append(statement.split(None, 6)[:6])
def _dump(signum, frame):
    path = _os.environ["JAIA_TEST_SQL"]
    with open(path + ".tmp", "w") as f:
        _json.dump(_seen, f)
    _os.replace(path + ".tmp", path)
_signal.signal(_signal.SIGUSR2, _dump)
# the Hub's own timers stay out of the few seconds measured
c.JupyterHub.last_activity_interval = 3600
c.JupyterHub.service_check_interval = 3600
"""


class Recorder:
    """Stands in for the server's TokenBroker: what the watch pushed."""

    max_backoff = 5.0

    def __init__(self) -> None:
        self.tokens: Any = None
        self.withdrawn = 0
        self.failures: list[Any] = []

    def install(self, tokens: Any, via: str = "fetch") -> None:
        self.tokens = tokens

    def withdraw(self, error: Any, via: str = "fetch") -> None:
        self.tokens, self.withdrawn = None, self.withdrawn + 1

    def failed(self, error: Any, via: str = "fetch") -> None:
        self.failures.append(error)


@pytest.fixture
def counted_hub(
    tmp_path: Path, _issuer_server_session: Any, scripted_factory: Any, canaries: Any
) -> Any:
    server = _issuer_server_session
    config = (
        scripted_issuer_config(server, scripted_factory.client_id)
        + TOKEN_DELIVERY_CONFIG
        + SCOPED_CALLERS
        + COUNTER
    )
    sql_file = tmp_path / "sql.json"
    hub = HubProcess(
        tmp_path / "hub",
        config,
        env={
            "COGNITO_CLIENT_SECRET": canaries.secret("counted-hub"),
            "JAIA_TEST_SQL": str(sql_file),
        },
    )
    canaries.register(hub.env["JUPYTERHUB_CRYPT_KEY"], "JUPYTERHUB_CRYPT_KEY")
    hub.start()
    hub.sql_file = sql_file  # type: ignore[attr-defined]
    try:
        yield hub
    finally:
        hub.stop()


def statements(hub: Any) -> list[list[str]]:
    """Every SQL statement the Hub executed so far (first words of each)."""
    hub.sql_file.unlink(missing_ok=True)
    os.kill(hub.pid, signal.SIGUSR2)
    deadline = time.monotonic() + 10
    while not hub.sql_file.exists():
        assert time.monotonic() < deadline, "the Hub did not dump its SQL counter"
        time.sleep(0.02)
    seen: list[list[str]] = json.loads(hub.sql_file.read_text())
    return seen


async def test_an_idle_watch_cycle_issues_no_sql(counted_hub, idp, canaries):
    idp.login_ok("alice")
    browser = HubBrowser(counted_hub.url)
    assert browser.login("x", "y").status_code == 200
    token = server_token(counted_hub, "alice", canaries)
    source = HubSource(
        hub_api_url=f"{counted_hub.url}/hub/api",
        api_token=token,
        user="alice",
        watch_wait=IDLE_CYCLE,
    )
    sink = Recorder()
    source.attach(sink)  # type: ignore[arg-type]
    source.start()
    loop = asyncio.get_running_loop()
    try:
        for _ in range(300):
            if sink.tokens is not None:
                break
            await asyncio.sleep(0.1)
        assert sink.tokens is not None, "the watch never delivered alice's tokens"
        await asyncio.sleep(2 * IDLE_CYCLE)  # the watch is held: nothing changes from here
        before = await loop.run_in_executor(None, statements, counted_hub)
        await asyncio.sleep(CYCLES * IDLE_CYCLE)
        after = await loop.run_in_executor(None, statements, counted_hub)
        issued = after[len(before) :]
        assert issued == [], f"{len(issued)} SQL statements in {CYCLES} idle cycles: {issued[:5]}"
        # the same watch is alive: alice's logout reaches it
        await loop.run_in_executor(None, browser.go, "/hub/logout")
        for _ in range(300):
            if sink.withdrawn:
                break
            await asyncio.sleep(0.05)
        assert sink.withdrawn == 1 and sink.tokens is None
    finally:
        await source.close()
        browser.close()


async def test_a_held_watch_whose_token_was_deleted_gets_no_new_tokens(counted_hub, idp, canaries):
    """The stream outlives its authentication: before writing a change it checks the token again."""
    idp.login_ok("alice")
    with HubBrowser(counted_hub.url) as browser:
        assert browser.login("x", "y").status_code == 200
    made = counted_hub.api(
        "POST", "/users/alice/tokens", json={"scopes": [f"{TOKENS_SCOPE}!user=alice"]}
    )
    assert made.status_code == 201, made.text
    canaries.register(made.json()["token"], "alice's server token")
    source = HubSource(
        hub_api_url=f"{counted_hub.url}/hub/api",
        api_token=made.json()["token"],
        user="alice",
        watch_wait=30,  # held for longer than this test: no reconnection re-authenticates it
    )
    sink = Recorder()
    source.attach(sink)  # type: ignore[arg-type]
    source.start()
    loop = asyncio.get_running_loop()
    try:
        for _ in range(300):
            if sink.tokens is not None:
                break
            await asyncio.sleep(0.1)
        held = sink.tokens
        assert held is not None
        await asyncio.sleep(1)
        deleted = counted_hub.api("DELETE", f"/users/alice/tokens/{made.json()['id']}")
        assert deleted.status_code == 204, deleted.text
        idp.login_ok("alice")  # a new login: new tokens for alice's watches
        with HubBrowser(counted_hub.url) as browser:
            ok = await loop.run_in_executor(None, browser.login, "x", "y")
            assert ok.status_code == 200
        for _ in range(200):
            if sink.failures or sink.tokens is not held:
                break
            await asyncio.sleep(0.05)
        assert sink.tokens is held, "the deleted token's watch received the new tokens"
        assert sink.failures and sink.failures[0].failure == "refused"
    finally:
        await source.close()


def test_the_scale_benchmark_runs_at_small_n(tmp_path: Path):
    """bench_scale.py end to end at N=10 with short windows: every figure present and sane."""
    out = tmp_path / "scale.json"
    args = ["--n", "10", "--window", "2", "--timed", "3", "--storm-minute", "2"]
    args += ["--restart-window", "20", "--out", str(out)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "testing")])}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_scale.py"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert [r["n"] for r in results["per_n"]] == [10]
    for row in results["per_n"]:
        for phase in ("no_watch", "idle", "trickle"):
            figures = row[phase]
            assert figures["hub_cpu_per_s"] > 0 and figures["sql_per_s"] > 0
            assert figures["rss_mb"] > 10 and figures["fds"] > 5
            assert 0 < figures["api_p50_ms"] <= figures["api_p99_ms"] < 60_000
        assert row["idle"]["fds"] >= row["n"]  # one socket per watch at least
        assert row["trickle"]["logouts"] >= 1
        assert 0 < row["trickle"]["woken_p50_ms"] <= row["trickle"]["woken_p99_ms"] < 30_000
    storms = results["storms"]
    assert 0 < storms["mass_logout"]["woken_p99_ms"] < 30_000
    assert storms["expiry_storm"]["refreshed"] == 10
    assert storms["restart"]["reconnected"] == 10
    table = out.with_suffix(".md").read_text()
    assert "| 10 |" in table and "Hub restart" in table
