"""Debian's headless Chromium through Playwright, for the end-to-end and Lab extension tests.

Never a downloaded browser: :data:`CHROMIUM` is the system's. :func:`require_chromium` skips
(fails under ``CI``) when it is missing; :func:`chromium` is a browser context; :func:`open_lab`
signs a user in on the README's deployment (the dict :func:`.deployment.local_deployment`
yields) and waits for JupyterLab. Screenshots go to ``test-artifacts/`` (and to
``$JAIA_README_SCREENSHOTS`` when set).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from . import ROOT

__all__ = [
    "ARTIFACTS",
    "CHROMIUM",
    "chromium",
    "open_lab",
    "require_chromium",
    "screenshot",
    "server_cookies",
    "sign_in",
]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def require_chromium() -> None:
    """Debian's chromium must be there; in CI a missing browser fails instead of skipping."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing: scripts/bootstrap --browser installs it")
        pytest.skip("Debian's chromium is not installed (./run-tests installs it)")


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A browser context in Debian's headless Chromium (pytest-jupyter has no async fixtures)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        try:
            yield context
        finally:
            await browser.close()


async def screenshot(page: Any, name: str) -> None:
    """Save ``<name>.png`` in :data:`ARTIFACTS` (and in ``$JAIA_README_SCREENSHOTS``)."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    docs = os.environ.get("JAIA_README_SCREENSHOTS")
    if docs:
        Path(docs).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ARTIFACTS / f"{name}.png", Path(docs) / f"{name}.png")


async def sign_in(page: Any, hub: dict[str, Any], username: str) -> None:
    """Open the Hub, land on the Cognito sign-in page, sign in."""
    await page.goto(hub["url"] + "/hub/oauth_login")
    assert page.url.startswith(hub["cognito"] + "/login")
    await page.wait_for_selector("#signInFormUsername")
    await page.fill("#signInFormUsername", username)
    await page.fill("#signInFormPassword", hub["passwords"][username])
    await page.click("button[type=submit]")


async def server_cookies(context: Any, path: str) -> dict[str, str]:
    """The cookies the browser would send to ``path`` (the most specific path wins)."""
    cookies = sorted(
        (
            c
            for c in await context.cookies()
            if c["domain"] in ("127.0.0.1", "localhost") and path.startswith(c["path"])
        ),
        key=lambda c: len(c["path"]),
    )
    return {c["name"]: c["value"] for c in cookies}


async def open_lab(context: Any, hub: dict[str, Any], username: str) -> Any:
    """A page with ``username`` signed in and JupyterLab loaded (a screenshot on failure)."""
    page = await context.new_page()
    try:
        await sign_in(page, hub, username)
        await page.wait_for_url(re.compile(rf".*/user/{username}/lab.*"), timeout=120_000)
        await page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
    except Exception:
        await screenshot(page, f"failure-open-lab-{username}")
        raise
    return page
