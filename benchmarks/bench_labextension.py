"""JupyterLab load time with and without the jupyter_ai_access Lab extension, in one run.

Two JupyterLab servers run side by side, identical but for their prebuilt-extension path: one
holds every installed extension, the other every one but ours. Both run the server extension
with tokens from the loopback stand-in for the Hub (so the item shows "alice · fresh", as under
JupyterHub). Debian's headless Chromium loads /lab from each in turn, a fresh browser context
(cold cache) per load, and reads in the page:

- restored: ``performance.now()`` when ``app.restored`` resolves (every plugin activated and the
  layout restored), from navigation start;
- item: when the status-bar item first shows "fresh" (its first status request answered).

The ratio is the median "restored" with the extension over the median without it.
``--write`` stores the figures in ``benchmarks/results/labextension.json`` (the docs render them).
Run: .venv/bin/python benchmarks/bench_labextension.py [--loads 8] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from jupyter_ai_access_testing.fake_hub import FakeHubTokens
from jupyter_ai_access_testing.tokens import TokenFactory
from jupyter_core.paths import jupyter_path

from jupyter_ai_access.local_cognito.process import find_free_port, stop_process

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage"]
NAME = "jupyter-ai-access"


def extensions_dir(folder: Path, *, with_ours: bool) -> Path:
    """A prebuilt-extensions folder: links to every installed extension (ours or not)."""
    target = folder / ("with" if with_ours else "without")
    target.mkdir()
    for base in map(Path, jupyter_path("labextensions")):
        if not base.is_dir():
            continue
        for entry in base.iterdir():
            scoped = entry.name.startswith("@")
            for ext in entry.iterdir() if scoped else [entry]:
                name = f"{entry.name}/{ext.name}" if scoped else ext.name
                link = target / name
                if (name == NAME and not with_ours) or link.exists() or not ext.is_dir():
                    continue
                link.parent.mkdir(exist_ok=True)
                link.symlink_to(ext.resolve())
    return target


def start_lab(folder: Path, labext: Path, hub: FakeHubTokens, token: str) -> tuple[object, str]:
    port = find_free_port()
    root = folder / f"root-{port}"
    root.mkdir()
    config = folder / f"config-{port}.py"
    config.write_text(
        f"""
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.port = {port}
c.ServerApp.open_browser = False
c.ServerApp.allow_root = True  # CI runs as root
c.ServerApp.root_dir = {str(root)!r}
c.IdentityProvider.token = {token!r}
c.LabApp.expose_app_in_browser = True
c.LabApp.labextensions_path = [{str(labext)!r}]
c.LabApp.extra_labextensions_path = []
c.LabApp.workspaces_dir = {str(folder / f"ws-{port}")!r}
c.LabApp.news_url = None
c.TokenBroker.hub_api_url = {hub.url!r}
c.TokenBroker.user = "alice"
c.KernelTokenStore.token_dir = {str(folder / f"tokens-{port}")!r}
"""
    )
    env = {
        **os.environ,
        "JUPYTERHUB_API_TOKEN": hub.api_token,
        "JUPYTER_CONFIG_DIR": str(folder),
        "JUPYTER_RUNTIME_DIR": str(folder / "runtime"),
    }
    log = (folder / f"lab-{port}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", f"--config={config}"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=root,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/status?token={token}", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"JupyterLab did not start: see {log.name}")


async def load(browser, url: str, token: str, *, ours: bool) -> tuple[float, float | None]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = await context.new_page()
        await page.goto(f"{url}/lab?token={token}")
        await page.wait_for_function("window.jupyterapp !== undefined", timeout=60_000)
        restored = await page.evaluate(
            "async () => { await window.jupyterapp.restored; return performance.now(); }"
        )
        item = None
        if ours:
            await page.wait_for_selector('.jp-AIAccess-status[data-state="fresh"]', timeout=60_000)
            item = await page.evaluate("performance.now()")
            text = await page.inner_text(".jp-AIAccess-status")
            assert text.startswith("alice · fresh"), text
        return restored, item
    finally:
        await context.close()


async def main(loads: int, write: bool) -> None:
    from results_file import Run

    run = Run("labextension", {"loads": loads})
    from playwright.async_api import async_playwright

    folder = Path(tempfile.mkdtemp(prefix="bench-labext-"))
    hub = FakeHubTokens(TokenFactory(), user="alice", api_token=secrets.token_urlsafe(16))
    token = secrets.token_hex(16)
    servers = {
        ours: start_lab(folder, extensions_dir(folder, with_ours=ours), hub, token)
        for ours in (True, False)
    }
    results: dict[bool, list[float]] = {True: [], False: []}
    items: list[float] = []
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            for ours in (True, False):  # warm-up: the servers' first page build, not measured
                await load(browser, servers[ours][1], token, ours=ours)
            for i in range(loads * 2):
                ours = i % 2 == 0
                restored, item = await load(browser, servers[ours][1], token, ours=ours)
                results[ours].append(restored)
                if item is not None:
                    items.append(item)
            await browser.close()
    finally:
        for proc, _ in servers.values():
            stop_process(proc, 20)  # type: ignore[arg-type]
        hub.stop()
    with_ext, without = statistics.median(results[True]), statistics.median(results[False])
    print(f"JupyterLab loads per variant: {loads} (alternating, cold browser context each)")
    for label, ours, median in (("without", False, without), ("with", True, with_ext)):
        q = statistics.quantiles(results[ours], n=4)
        print(
            f"restored {label} the extension: median {median:.0f} ms "
            f"(quartiles {q[0]:.0f}-{q[2]:.0f} ms)"
        )
    print(f"ratio with / without: {with_ext / without:.3f}x")
    print(f"item showing 'fresh' (from navigation start): median {statistics.median(items):.0f} ms")
    if write:
        run.write(
            f"{loads} alternating loads of /lab per variant in headless Chromium, a cold browser "
            "context each, after one warm-up load; two JupyterLab servers identical but for our "
            "prebuilt extension",
            {
                "with_ms": with_ext,
                "without_ms": without,
                "ratio": with_ext / without,
                "quartiles_ms": {
                    "with": statistics.quantiles(results[True], n=4),
                    "without": statistics.quantiles(results[False], n=4),
                },
                "item_fresh_ms": statistics.median(items),
            },
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=8)
    parser.add_argument("--write", action="store_true", help="write results/labextension.json")
    args = parser.parse_args()
    asyncio.run(main(args.loads, args.write))
