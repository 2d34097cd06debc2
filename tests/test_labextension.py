"""The JupyterLab extension, as a person sees it, in Debian's headless Chromium (Playwright).

The README's deployment (the repository's jupyterhub_config.py on free ports, the emulator and
the registry as Hub services) and the extension as the wheel installs it (prebuilt, from
share/jupyter/labextensions). The status-bar item names the user and the state of the tokens;
a logout in another tab turns it to "session ended" with a "Log in again" notification, whose
action opens the login in a new tab; once signed in there, the item is fresh again without a
reload. The Help menu and the command palette open the status page in a Lab tab.

Its one version source: labextension/package.json (the JupyterLab extension template's choice);
hatchling reads the Python package's version from it and writes jupyter_ai_access/_version.py;
every other statement of the version must agree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from jupyter_ai_access_testing.harness.browser import chromium, open_lab, screenshot
from jupyter_ai_access_testing.harness.deployment import watched_deployment
from playwright.async_api import Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeout

pytestmark = [pytest.mark.hub, pytest.mark.browser, pytest.mark.usefixtures("chromium_installed")]

ITEM = ".jp-AIAccess-status"
ROOT = Path(__file__).resolve().parents[1]


def toml(path: Path) -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    loaded: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    return loaded


def source_version() -> str:
    """The one version source: labextension/package.json."""
    package = json.loads((ROOT / "labextension" / "package.json").read_text(encoding="utf-8"))
    found: str = package["version"]
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?", found), found
    return found


def test_the_python_package_takes_its_version_from_package_json():
    import jupyter_ai_access

    pyproject = toml(ROOT / "pyproject.toml")
    assert pyproject["project"]["dynamic"] == ["version"]
    hatch = pyproject["tool"]["hatch"]
    assert hatch["version"]["path"] == "labextension/package.json"
    hook = hatch["build"]["hooks"]["version"]
    assert hook["path"] == "jupyter_ai_access/_version.py"
    # _version.py is what the hook writes from package.json (stale: reinstall, or build)
    written = (ROOT / hook["path"]).read_text(encoding="utf-8")
    assert written == hook["template"].format(version=source_version())
    assert jupyter_ai_access.__version__ == source_version()


def test_every_other_statement_of_the_version_agrees_with_package_json():
    expected = source_version()
    lock = json.loads((ROOT / "labextension" / "package-lock.json").read_text(encoding="utf-8"))
    stated = {
        "labextension/package-lock.json": {lock["version"], lock["packages"][""]["version"]},
        "testing/pyproject.toml (the fixtures)": {
            toml(ROOT / "testing" / "pyproject.toml")["project"]["version"]
        },
    }
    for name in ("values.yaml", "README.md", "hub.Dockerfile", "singleuser.Dockerfile"):
        text = (ROOT / "deploy" / "kubernetes" / name).read_text(encoding="utf-8")
        tags = re.findall(r"jupyter-ai-access-(?:hub|singleuser):(\S+?)\s", text)
        tags += re.findall(r'^\s+tag: "([^"]+)"', text, flags=re.MULTILINE)
        assert tags, f"deploy/kubernetes/{name} names no image tag"
        stated[f"deploy/kubernetes/{name} (image tags)"] = set(tags)
    built = ROOT / "build" / "labextension" / "package.json"
    if built.exists():  # the prebuilt extension the wheel ships
        stated["build/labextension/package.json"] = {json.loads(built.read_text())["version"]}
    wrong = {where: found for where, found in stated.items() if found != {expected}}
    assert wrong == {}, f"labextension/package.json says {expected}"
    assert version("jupyter_ai_access") == expected  # the installed distribution's metadata


@pytest.fixture(scope="module")
def lab_hub(tmp_path_factory, canaries, leak_watcher) -> Iterator[dict[str, Any]]:
    with watched_deployment(tmp_path_factory, canaries, leak_watcher) as hub:
        yield hub


async def item_in_state(page: Any, state: str, timeout: float = 30_000) -> Any:
    """The status-bar item once it shows ``state`` (the server tells it: no reload)."""
    await page.wait_for_selector(f'{ITEM}[data-state="{state}"]', timeout=timeout)
    return page.locator(ITEM)


async def settled(page: Any) -> None:
    """Wait until the notebook shows its cells and its kernel is idle (no loading spinner),
    and close JupyterLab's "official Jupyter news?" question: what a person sees once the
    page has loaded."""
    await page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    await page.wait_for_selector(".jp-NotebookPanel .jp-Spinner", state="detached")
    # the kernel has started: "Python 3 (ipykernel) | Idle", not "No Kernel | Initializing"
    await page.locator("#jp-main-statusbar", has_text="| Idle").wait_for(timeout=120_000)
    news = page.locator(".Toastify__toast", has_text="Jupyter news")
    try:  # JupyterLab asks a few seconds after it has loaded
        await news.wait_for(timeout=20_000)
    except PlaywrightTimeout:
        return
    await news.locator("button", has_text="No").click()
    await news.wait_for(state="detached")


async def close_dialogs(page: Any, attempts: int = 5) -> None:
    """Close JupyterLab's modal dialogs (after a logout it says "Forbidden" or that the XSRF
    cookie does not match, about requests the ended session refused)."""
    dialogs = page.locator(".jp-Dialog")
    for _ in range(attempts):
        await page.wait_for_timeout(500)  # the refused requests' dialogs arrive in a burst
        if not await dialogs.count():
            return
        await page.keyboard.press("Escape")
    assert not await dialogs.count(), await dialogs.first.inner_text()


async def click_past_dialogs(page: Any, target: Any, attempts: int = 10) -> None:
    """Click ``target``, closing JupyterLab's own modal dialogs first: the logout revoked the
    Lab's access too, and JupyterLab says so ("Forbidden") in dialogs that cover the page."""
    seen: list[str] = []
    for _ in range(attempts):
        dialogs = page.locator(".jp-Dialog")
        for _ in range(5):
            if not await dialogs.count():
                break
            seen.append(await dialogs.first.inner_text())
            await page.keyboard.press("Escape")
            await page.wait_for_timeout(200)
        try:
            await target.click(timeout=3000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"could not click past JupyterLab's dialogs: {seen}")


async def test_the_item_names_the_user_turns_ended_at_logout_and_fresh_after_login_again(
    lab_hub, canaries
):
    hub = lab_hub
    async with chromium() as browser:
        page = await open_lab(browser, hub, "alice")
        try:
            item = await item_in_state(page, "fresh", timeout=60_000)
            text = await item.inner_text()
            assert text.startswith("alice · fresh · ") and re.search(r"\d+ (min|s|h)", text)
            assert await item.evaluate("e => e.tagName") == "BUTTON"
            label = await item.get_attribute("aria-label")
            assert label.startswith("AI access: alice, tokens fresh, expire in ")
            await settled(page)
            await screenshot(page, "lab-status-fresh")  # the README's picture of the item

            other = await browser.new_page()  # log out in another tab
            await other.goto(hub["url"] + "/hub/logout")
            await other.wait_for_url(re.compile(r".*/hub/logout-complete"), timeout=30_000)
            item = await item_in_state(page, "ended")
            assert await item.inner_text() == "alice · session ended"
            action = page.locator("button", has_text="Log in again")
            await action.wait_for(timeout=10_000)
            await close_dialogs(page)  # JupyterLab's own errors about the ended session
            await action.wait_for(timeout=10_000)  # the item's notification stays
            await screenshot(page, "lab-status-ended")
            async with browser.expect_page() as opened:
                await click_past_dialogs(page, action)
            login = await opened.value
            await login.wait_for_load_state()
            # /hub/login?next=... goes straight to Cognito's sign-in page (auto_login)
            await login.wait_for_selector("#signInFormUsername")
            assert login.url.startswith(hub["cognito"] + "/login")
            await login.fill("#signInFormUsername", "alice")
            await login.fill("#signInFormPassword", hub["passwords"]["alice"])
            await login.click("button[type=submit]")
            await login.wait_for_url(re.compile(r".*/user/alice/ai-access/status"), timeout=60_000)
            assert "fresh" in await login.inner_text("body")

            # The person goes back to the Lab tab: its focus wakes the poller at once. Without a
            # focus event (headless) the poller's next try comes within its back-off, which grew
            # to as much as MAX_BACKOFF_MS (60 s, labextension/src/poller.ts) while the session
            # was over: either way the same page, never reloaded, turns fresh.
            await page.bring_to_front()
            item = await item_in_state(page, "fresh", timeout=60_000 + 30_000)
            assert (await item.inner_text()).startswith("alice · fresh · ")
            await page.locator("text=Logged in again: your tokens are fresh.").wait_for()
            assert canaries.find(await page.content()) == []
        except Exception:
            await screenshot(page, "failure-lab-status")
            raise


async def search_palette(page: Page, text: str) -> Locator:
    """Open the command palette from the View menu and type ``text``; return its matching items.

    The palette is a modal that hides itself when focus leaves it: a Lab widget that takes focus
    a moment later (seen once in CI, on a loaded 2-core machine) closes it before anything is
    typed. A person opens it again; so does this, at most three times.
    """
    box = page.locator(".lm-CommandPalette-input")
    for attempt in range(3):
        await page.click('.lm-MenuBar-itemLabel:text-is("View")')
        await page.click('.lm-Menu-item[data-command="apputils:activate-command-palette"]')
        try:
            await box.wait_for(state="visible", timeout=5_000)
            await box.fill(text, timeout=5_000)
            items = page.locator(".lm-CommandPalette-itemLabel", has_text=text)
            await items.first.wait_for(state="visible", timeout=5_000)
            return items
        except PlaywrightTimeout:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


async def test_help_menu_and_palette_open_the_status_page_in_a_lab_tab(lab_hub, canaries):
    async with chromium() as browser:
        page = await open_lab(browser, lab_hub, "bob")
        try:
            await item_in_state(page, "fresh", timeout=60_000)
            await settled(page)  # the kernel idle, the news question closed: nothing takes focus
            await page.click('.lm-MenuBar-itemLabel:text-is("Help")')
            await page.click('.lm-Menu-itemLabel:text-is("AI Access: Token Status")')
            # JupyterHub forbids framing the server: the page is shown from srcdoc
            frame = page.frame_locator("#jp-AIAccess-status-page iframe")
            await frame.locator("h1", has_text="Token status").wait_for(timeout=30_000)
            body = await frame.locator("body").inner_text()
            assert "bob" in body and "fresh" in body
            assert canaries.find(body) == []
            await screenshot(page, "lab-status-page")
            # the status-bar item opens the same tab
            await page.click('.lm-TabBar-tab:has-text("Token Status") .lm-TabBar-tabCloseIcon')
            await page.click(ITEM)
            await frame.locator("h1", has_text="Token status").wait_for(timeout=30_000)
            # the command palette lists it (opened from the View menu: a key press could land
            # in the page's frame)
            palette = await search_palette(page, "Token Status")
            await palette.first.wait_for(timeout=10_000)
            status = await page.evaluate(  # as the item asks: with the Lab's XSRF token
                """async () => {
                    const xsrf = document.cookie.match(/_xsrf=([^;]+)/)[1];
                    const r = await fetch('/user/bob/ai-access/api/status',
                                          {headers: {'X-XSRFToken': xsrf}});
                    return r.json();
                }"""
            )
            assert status["state"] == "fresh" and status["cognito_username"] == "bob"
            assert canaries.find(json.dumps(status)) == []
        except Exception:
            await screenshot(page, "failure-lab-help")
            raise
