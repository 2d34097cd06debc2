"""End to end, as a person would: the repository's jupyterhub_config.py in real headless Chromium.

The Hub starts the local Cognito emulator and the example model registry as managed services and
spawns real JupyterLab servers; Playwright drives Debian's /usr/bin/chromium (never a downloaded
browser). The example notebook runs in a real kernel of the user's server, over the server's REST
API and kernel websocket. Screenshots of failures go to test-artifacts/.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jupyter_ai_access_testing.hub import HubProcess
from jupyter_ai_access_testing.notebooks import ServerKernel

from jupyter_ai_access.local_cognito.process import find_free_port

ROOT = Path(__file__).resolve().parent.parent
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


@pytest.fixture(autouse=True)
def _chromium_installed() -> None:
    """Debian's chromium must be there; in CI a missing browser fails instead of skipping."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing: scripts/bootstrap --browser installs it")
        pytest.skip("Debian's chromium is not installed (./run-tests installs it)")


@pytest.fixture(scope="module")
def local_hub(tmp_path_factory, canaries, leak_watcher) -> Iterator[dict[str, Any]]:
    """The repository's jupyterhub_config.py on free ports, with canary passwords and secret."""
    folder = tmp_path_factory.mktemp("local-hub")
    port, cognito_port, registry_port = find_free_port(), find_free_port(), find_free_port()
    pool = json.loads((ROOT / "jupyter_ai_access/local_cognito/demo-pool.json").read_text())
    passwords = {}
    for user in pool["users"]:
        user["password"] = passwords[user["username"]] = canaries.secret(f"pw-{user['username']}")
    hub_client = pool["app_clients"][0]
    hub_client["client_secret"] = canaries.secret("demo-hub-secret")
    hub_client["callback_urls"] = [f"http://127.0.0.1:{port}/hub/oauth_callback"]
    hub_client["logout_urls"] = [f"http://127.0.0.1:{port}/hub/logout-complete"]
    pool["app_clients"][1]["client_secret"] = canaries.secret("demo-machine-secret")
    (folder / "pool.json").write_text(json.dumps(pool))
    config = f"""
load_subconfig({str(ROOT / "jupyterhub_config.py")!r})
c.JupyterHub.redirect_to_server = True
c.JupyterHub.services.append({{"name": "test-admin", "api_token": ADMIN_TOKEN}})
# load_subconfig replaces lists: give the test service its role back.
c.JupyterHub.load_roles.append({{"name": "test-admin", "services": ["test-admin"],
    "scopes": ["admin:users", "admin:auth_state", "read:users", "list:users"]}})
"""
    hub = HubProcess(
        folder / "hub",
        config,
        port=port,
        env={
            "JAIA_STATE_DIR": str(folder / "state"),
            "JAIA_HUB_PORT": str(port),
            "JAIA_COGNITO_PORT": str(cognito_port),
            "JAIA_REGISTRY_PORT": str(registry_port),
            "JAIA_POOL_FILE": str(folder / "pool.json"),
        },
    )
    hub.user_config = f"ADMIN_TOKEN = {hub.admin_token!r}\n" + hub.user_config
    canaries.register(hub.admin_token, "hub admin token")
    leak_watcher.watch_file(hub.log_file)
    # What the users' servers and the example registry write (notebooks, uploaded models).
    leak_watcher.watch_tree(folder / "state" / "users")
    leak_watcher.watch_tree(folder / "state" / "registry")
    hub.start(timeout=90)
    try:
        yield {
            "hub": hub,
            "url": hub.url,
            "passwords": passwords,
            "cognito": f"http://127.0.0.1:{cognito_port}",
            "registry": f"http://127.0.0.1:{registry_port}",
            "state": folder / "state",
            "client_id": hub_client["client_id"],
            "secret": hub_client["client_secret"],
        }
    finally:
        hub.stop(timeout=30)


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    """A browser context in Debian's headless Chromium (pytest-jupyter has no async fixtures)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        chromium = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = await chromium.new_context(viewport={"width": 1280, "height": 800})
        try:
            yield context
        finally:
            await chromium.close()


async def screenshot(page: Any, name: str) -> None:
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
    page = await context.new_page()
    try:
        await sign_in(page, hub, username)
        await page.wait_for_url(re.compile(rf".*/user/{username}/lab.*"), timeout=120_000)
        await page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
    except Exception:
        await screenshot(page, f"failure-open-lab-{username}")
        raise
    return page


async def run_example_notebook(
    context: Any, hub: dict[str, Any], username: str
) -> tuple[ServerKernel, list[dict[str, Any]]]:
    notebook = json.loads((ROOT / "examples/train.ipynb").read_text())
    kernel = await ServerKernel(
        f"{hub['url']}/user/{username}/", await server_cookies(context, f"/user/{username}/")
    ).start()
    return kernel, await kernel.run_notebook(notebook)


async def test_login_lab_notebook_then_logout_revokes_everything(local_hub, canaries):
    async with chromium() as browser:
        hub = local_hub
        page = await open_lab(browser, hub, "alice")
        await page.wait_for_selector(".jp-DirListing-itemText >> text=train.ipynb", timeout=60_000)
        await page.goto(f"{hub['url']}/user/alice/lab/tree/train.ipynb")
        await page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        await page.wait_for_timeout(1500)
        await screenshot(page, "jupyterlab")
        kernel, results = await run_example_notebook(browser, hub, "alice")
        try:
            text = "\n".join(r["stdout"] for r in results)
            assert all(r["error"] is None for r in results), results
            assert "user: alice | groups: ml-training, ml-admins" in text
            assert "downloaded 200 rows" in text
            fit = re.search(r"trained: y = (-?[\d.]+) \* x \+ (-?[\d.]+)", text)
            assert fit, text
            assert abs(float(fit.group(1)) - 3) < 0.1
            assert abs(float(fit.group(2)) - 2) < 0.5
            assert "uploaded: {'stored': 'demo-alice', 'uploaded_by': 'alice'}" in text
            assert canaries.find(text) == []
            assert (
                json.loads((hub["state"] / "registry/demo-alice.json").read_text())["uploaded_by"]
                == "alice"
            )
            status = await browser.new_page()
            await status.goto(f"{hub['url']}/user/alice/ai-access/status")
            assert "Kernels holding tokens" in await status.content()
            assert canaries.find(await status.content()) == []
            await screenshot(status, "token-status")
            refresh_token = hub["hub"].user("alice")["auth_state"]["refresh_token"]
            canaries.register(refresh_token, "refresh_token")

            await page.goto(hub["url"] + "/hub/logout")
            await page.wait_for_url(re.compile(r".*/hub/logout-complete"), timeout=30_000)
            await screenshot(page, "signed-out")
            # The Cognito session is gone: the next visit asks for the password.
            await page.goto(hub["url"] + "/hub/oauth_login")
            await page.wait_for_selector("#signInFormPassword")
            # The refresh token is revoked at Cognito.
            refused = httpx.post(
                f"{hub['cognito']}/oauth2/token",
                auth=(hub["client_id"], hub["secret"]),
                data={"grant_type": "refresh_token", "refresh_token": refresh_token},
            )
            assert refused.json() == {"error": "invalid_grant"}
            # The kernel's next renewal fails with the clear re-login message.
            result = await kernel.execute(
                "from jupyter_ai_access.client import get_token\n"
                "from jupyter_ai_access.errors import SessionEndedError\n"
                "try:\n    get_token(force=True)\n"
                "except SessionEndedError as e:\n    print('ENDED', e)\n"
            )
            assert result["stdout"].startswith("ENDED Your JupyterHub session has ended.")
            assert "Log in again at" in result["stdout"]
        except Exception:
            await screenshot(page, "failure-alice")
            raise
        finally:
            await kernel.shutdown()


async def test_user_without_the_admin_group_gets_403_from_the_registry(local_hub):
    async with chromium() as browser:
        page = await open_lab(browser, local_hub, "bob")
        kernel, results = await run_example_notebook(browser, local_hub, "bob")
        try:
            text = "\n".join(r["stdout"] for r in results)
            assert all(r["error"] is None for r in results), results
            assert "downloaded 200 rows" in text
            assert "upload refused (403): requires membership in the group(s): ml-admins" in text
        except Exception:
            await screenshot(page, "failure-bob")
            raise
        finally:
            await kernel.shutdown()


async def test_user_outside_the_allowed_groups_is_refused_at_login(local_hub):
    async with chromium() as browser:
        page = await browser.new_page()
        try:
            await sign_in(page, local_hub, "carol")
            await page.wait_for_load_state()
            content = await page.content()
            assert "403" in content
            assert local_hub["hub"].user("carol") is None
            await screenshot(page, "refused")
        except Exception:
            await screenshot(page, "failure-carol")
            raise


async def test_the_sign_in_page_says_incorrect_username_or_password(local_hub):
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(local_hub["url"] + "/hub/oauth_login")
        await page.fill("#signInFormUsername", "alice")
        await page.fill("#signInFormPassword", "not-her-password")
        await page.click("button[type=submit]")
        await page.wait_for_selector("#loginErrorMessage")
        assert await page.inner_text("#loginErrorMessage") == "Incorrect username or password."
        await screenshot(page, "cognito-sign-in")
