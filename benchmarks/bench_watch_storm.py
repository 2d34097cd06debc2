"""One kernel's session-watch storm: the Hub's API latency and another user's logout meanwhile.

The README's deployment (the repository's jupyterhub_config.py, emulator and registry as Hub
services) on free ports; alice and bob log in, their servers and one kernel each start. Measured
idle first, then during two storms from bob's kernel, which opens session watches on the token
endpoint (``?wait=&have=<its token's fingerprint>``) with the server token it inherited:

- burst: N watches at once (the attack of the hardening issue: 3,000 held), then bob logs in
  again, which wakes whatever the Hub still holds;
- flood: the kernel keeps N requests outstanding, opening a new one as soon as one is answered
  (each is answered at once: a newer watch ends the oldest);
- control: the same flood of ``GET /hub/api/user`` (any token may do that on any JupyterHub):
  what a request flood costs the Hub whatever the endpoint.

Figures, each as a ratio to the idle baseline measured in the same run:

- Hub API latency: ``GET /hub/api/user`` (a service's token), median and 95th percentile;
- alice's logout → her kernel refused (token file gone, ``get_token()`` raises), as in
  ``bench_session_end.py`` (goal: under 5 s);
- bob's re-login (the hosted page's full round trip) and the audit lines it wrote;
- the Hub's open file descriptors (``/proc/<pid>/fd``).

Run: .venv/bin/python benchmarks/bench_watch_storm.py [--watches 3000] [--probes 40] [--logouts 3]
[--phases burst,flood,control] [--write]

``--write`` stores the figures in ``benchmarks/results/watch_storm.json`` (the docs render them).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from bench_session_end import WATCH
from jupyter_ai_access_testing.harness.deployment import local_deployment
from jupyter_ai_access_testing.harness.hub import HubBrowser
from jupyter_ai_access_testing.harness.notebooks import ServerKernel
from results_file import Run

ROOT = Path(__file__).resolve().parent.parent

STORM = """
import os, resource, selectors, socket, threading, time, urllib.parse
_, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
from jupyter_ai_access.client import get_token
from jupyter_ai_access.protocol import fingerprint
api = urllib.parse.urlsplit(os.environ["JUPYTERHUB_API_URL"])
path = (api.path.rstrip("/") + "/ai-access/users/" + os.environ["JUPYTERHUB_USER"]
        + "/tokens?wait=300&have=" + fingerprint(get_token()))
if CONTROL:
    path = api.path.rstrip("/") + "/user"
request = ("GET " + path + " HTTP/1.1\\r\\nHost: " + api.netloc + "\\r\\nAuthorization: token "
           + os.environ["JUPYTERHUB_API_TOKEN"] + "\\r\\nConnection: close\\r\\n\\r\\n").encode()
storm = {"answers": {}, "open": 0, "opened": 0, "errors": 0, "error": "", "stop": False}
selector = selectors.DefaultSelector()
def one():
    s = socket.create_connection((api.hostname, api.port), timeout=10)
    s.sendall(request)
    s.setblocking(False)
    selector.register(s, selectors.EVENT_READ, bytearray())
    storm["open"] += 1
    storm["opened"] += 1
def run(n, reopen):
    deadline = time.monotonic() + 900
    while not storm["stop"] and time.monotonic() < deadline:
        want = storm["opened"] < n or (reopen and storm["open"] < n)
        if want:
            try:
                one()
            except OSError as e:  # the Hub's accept queue is full: try again
                storm["errors"] += 1
                storm["error"] = type(e).__name__
        for key, _ in selector.select(0 if want else 0.1):
            try:
                chunk = key.fileobj.recv(65536)
            except OSError:
                chunk = b""
            key.data.extend(chunk)
            if b"\\r\\n" in key.data or not chunk:
                line = bytes(key.data).split(b"\\r\\n", 1)[0].split()
                status = line[1].decode() if len(line) > 1 else "closed"
                storm["answers"][status] = storm["answers"].get(status, 0) + 1
                storm["open"] -= 1
                selector.unregister(key.fileobj)
                key.fileobj.close()
    for key in list(selector.get_map().values()):
        selector.unregister(key.fileobj)
        key.fileobj.close()
    storm["open"] = 0
threading.Thread(target=run, args=(N, REOPEN), daemon=True).start()
"""
STATE = "import json; print(json.dumps({k: v for k, v in storm.items() if k != 'stop'}))"
READY = (
    "import time\nfrom jupyter_ai_access.client import get_token\n"
    "for _ in range(600):\n"
    "    try:\n        get_token(); break\n"
    "    except Exception:\n        time.sleep(0.05)\n"
)


def login(hub: dict[str, Any], name: str) -> tuple[HubBrowser, float]:
    browser = HubBrowser(hub["url"])
    started = time.monotonic()
    assert browser.login(name, hub["passwords"][name]).status_code == 200
    return browser, time.monotonic() - started


def spawn(hub: dict[str, Any], name: str) -> None:
    hub["hub"].api("POST", f"/users/{name}/server")
    for _ in range(480):
        model = hub["hub"].user(name, auth_state=False) or {}
        if (model.get("servers") or {}).get("", {}).get("ready"):
            return
        time.sleep(0.5)
    raise RuntimeError(f"{name}'s server did not start")


async def probes(hub: dict[str, Any], n: int) -> list[float]:
    """``n`` sequential ``GET /hub/api/user`` round trips (seconds), 50 ms apart."""
    out = []
    async with httpx.AsyncClient(timeout=120) as client:
        for _ in range(n):
            started = time.monotonic()
            response = await client.get(
                f"{hub['url']}/hub/api/user",
                headers={"Authorization": f"token {hub['hub'].admin_token}"},
            )
            out.append(time.monotonic() - started)
            assert response.status_code == 200, response.status_code
            await asyncio.sleep(0.05)
    return out


async def logout_to_refusal(hub: dict[str, Any], kernel: ServerKernel, n: int) -> list[float]:
    """alice's logout → her kernel refused, ``n`` times (seconds)."""
    loop = asyncio.get_running_loop()
    out = []
    for _ in range(n):
        browser, _ = await loop.run_in_executor(None, login, hub, "alice")
        ready = await kernel.execute(READY, timeout=60)
        assert ready["error"] is None, ready
        watcher = asyncio.ensure_future(kernel.execute(WATCH, timeout=120))
        await asyncio.sleep(0.3)
        sent = time.time()
        await loop.run_in_executor(None, browser.go, "/hub/logout")
        seen = json.loads((await watcher)["stdout"])["seen"]
        out.append((seen - sent) if seen is not None else float("inf"))
        browser.close()
    return out


def fds(hub: dict[str, Any]) -> int:
    return len(os.listdir(f"/proc/{hub['hub'].pid}/fd"))


def audit_count(hub: dict[str, Any], user: str, after: int) -> int:
    text = hub["hub"].log_file.read_bytes()[after:].decode(errors="replace")
    return sum(
        1
        for line in text.splitlines()
        if '"event": "tokens_handed"' in line and f'"{user}"' in line
    )


def figures(name: str, lat: list[float], logouts: list[float]) -> dict[str, float]:
    lat_sorted = sorted(lat)
    return {
        "name": name,
        "median": statistics.median(lat),
        "p95": lat_sorted[int(0.95 * (len(lat_sorted) - 1))],
        "logout": statistics.median(logouts),
        "logout_worst": max(logouts),
    }


async def storm_phase(
    hub: dict[str, Any], bob: ServerKernel, alice: ServerKernel, args: Any, name: str
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    reopen = name != "burst"
    code = STORM.replace("N, REOPEN", f"{args.watches}, {reopen}")
    code = code.replace("CONTROL", str(name == "control"))
    assert (await bob.execute(code, timeout=60))["error"] is None
    for _ in range(240):  # the burst is answered down to the cap (or the flood is running)
        state = json.loads((await bob.execute(STATE))["stdout"])
        if state["opened"] >= args.watches and (reopen or state["open"] <= 8):
            break
        await asyncio.sleep(0.5)
    held_fds = fds(hub)
    lat = await probes(hub, args.probes)
    logouts = await logout_to_refusal(hub, alice, args.logouts)
    offset = hub["hub"].log_file.stat().st_size
    browser, relogin = await loop.run_in_executor(None, login, hub, "bob")
    browser.close()
    lat += await probes(hub, args.probes // 2)  # after the wake
    await asyncio.sleep(2)
    state = json.loads((await bob.execute(STATE))["stdout"])
    await bob.execute("storm['stop'] = True")
    await asyncio.sleep(1)
    result = figures(name, lat, logouts)
    result.update(fds=held_fds, relogin=relogin, audit=audit_count(hub, "bob", offset), storm=state)
    return result


HOW = (
    "the README's deployment on free ports; bob's kernel opens the storm with the server token "
    "it inherited while a service probes `GET /hub/api/user` and alice logs out with a kernel "
    "running; each figure against the idle phase of the same run"
)


async def main(args: Any) -> None:
    run = Run(
        "watch_storm",
        {"watches": args.watches, "probes": args.probes, "logouts": args.logouts},
    )
    with local_deployment(ROOT, Path(tempfile.mkdtemp())) as hub:
        for name in ("alice", "bob"):
            login(hub, name)[0].close()
            spawn(hub, name)
        url = hub["url"]
        alice = await ServerKernel(f"{url}/user/alice/", token=hub["hub"].admin_token).start()
        bob = await ServerKernel(f"{url}/user/bob/", token=hub["hub"].admin_token).start()
        assert (await bob.execute(READY, timeout=60))["error"] is None
        loop = asyncio.get_running_loop()
        idle_fds = fds(hub)
        idle_probes = await probes(hub, args.probes)
        idle = figures("idle", idle_probes, await logout_to_refusal(hub, alice, args.logouts))
        browser, relogin = await loop.run_in_executor(None, login, hub, "bob")
        browser.close()
        idle.update(fds=idle_fds, relogin=relogin, audit=0, storm={})
        results = [idle]
        for name in args.phases.split(","):
            results.append(await storm_phase(hub, bob, alice, args, name))
        await alice.shutdown()
        await bob.shutdown()
    base = results[0]
    print(f"watches per storm: {args.watches}; probes: {args.probes}; logouts: {args.logouts}")
    for r in results:
        print(
            f"{r['name']:>7}: GET /hub/api/user median {r['median'] * 1000:.1f} ms "
            f"({r['median'] / base['median']:.2f}x idle), p95 {r['p95'] * 1000:.1f} ms "
            f"({r['p95'] / base['p95']:.2f}x); alice logout -> kernel refused median "
            f"{r['logout'] * 1000:.0f} ms, worst {r['logout_worst'] * 1000:.0f} ms "
            f"({r['logout'] / base['logout']:.2f}x idle); bob re-login {r['relogin']:.2f} s "
            f"({r['relogin'] / base['relogin']:.2f}x); tokens_handed lines for bob's re-login: "
            f"{r['audit']}; Hub fds {r['fds']} (idle {base['fds']}); storm {r['storm']}"
        )
    if args.write:
        run.write(HOW, {"phases": results})


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watches", type=int, default=3000)
    parser.add_argument("--probes", type=int, default=40)
    parser.add_argument("--logouts", type=int, default=3)
    parser.add_argument("--phases", default="burst,flood,control", help="comma-separated")
    parser.add_argument("--write", action="store_true", help="write results/watch_storm.json")
    asyncio.run(main(parser.parse_args()))
