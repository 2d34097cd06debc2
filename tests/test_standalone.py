"""Standalone mode: a real ``jupyter lab`` with no JupyterHub signs its user in to Cognito itself.

The server runs as a process on a free port with ``COGNITO_*`` pointing at the session's
emulator (the test pool's "lab" client: 30 s tokens, callback on this server). Debian's Chromium
(Playwright) signs in; the example notebook runs in a real kernel against the example registry;
the refresh token is searched for on disk, in the kernel and in the logs; renewal and sign-out
are watched from a kernel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jupyter_ai_access_testing.harness.browser import chromium, screenshot
from jupyter_ai_access_testing.harness.lab import LabProcess, start_registry
from jupyter_ai_access_testing.harness.notebooks import ServerKernel

from jupyter_ai_access.local_cognito.process import stop_process

ROOT = Path(__file__).resolve().parent.parent
LAB_CLIENT = "labclient00000000000000000"
MACHINE = "machineclient0000000000000"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.kernel,
    pytest.mark.skipif(
        not Path("/usr/bin/chromium").exists() and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (./run-tests installs it)",
    ),
]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, local_cognito, lab_port, leak_watcher, canaries) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("standalone")
    registry, registry_url = start_registry(
        ROOT / "examples/model_registry.py",
        folder,
        {
            "COGNITO_ISSUER": local_cognito.issuer,
            "COGNITO_CLIENT_IDS": f"{LAB_CLIENT},{MACHINE}",
            "REGISTRY_ACCEPT_BROAD_TOKENS": "true",  # the test pool has no registry audience
        },
    )
    server = LabProcess(
        folder,
        {
            "COGNITO_ISSUER": local_cognito.issuer,
            "COGNITO_DOMAIN": local_cognito.domain,
            "COGNITO_CLIENT_ID": LAB_CLIENT,
            # In the environment on purpose: the server must not hand it down to kernels.
            "COGNITO_CLIENT_SECRET": local_cognito.client_secrets[LAB_CLIENT],
            "COGNITO_SCOPES": "openid email profile ai-access/datasets.read ai-access/models.write",
            "AI_ACCESS_REGISTRY_URL": registry_url,
        },
        port=lab_port,
        args=["--TokenBroker.renew_before=20", "--ServerApp.log_level=DEBUG"],
    )
    shutil.copyfile(ROOT / "examples/train.ipynb", server.root / "train.ipynb")
    leak_watcher.watch_file(server.log_file)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        stop_process(registry)


def refresh_tokens(local_cognito) -> list[str]:
    """The lab client's refresh tokens, as the emulator stores them (opaque: value = id)."""
    store = json.loads((local_cognito.state_dir / "store.json").read_text())
    return [
        key.split(":", 1)[1]
        for key, entry in store.items()
        if key.startswith("RefreshToken:") and entry["payload"].get("clientId") == LAB_CLIENT
    ]


def files_containing(needles: list[str], *folders: Path) -> list[str]:
    found = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                data = path.read_bytes()
                found += [f"{path}" for needle in needles if needle.encode() in data]
    return found


# What a kernel holds, searched inside the kernel: its output carries names and booleans only
# (kernel outputs are leak-checked).
KERNEL_DUMP = """
import json, os
needles = {needles!r}
folder = os.environ.get("JUPYTER_AI_ACCESS_DIR", "")
names = sorted(os.listdir(folder)) if folder else []
texts = [open(os.path.join(folder, n)).read() for n in names]
texts.append("\\n".join(f"{{k}}={{v}}" for k, v in os.environ.items()))
print(json.dumps({{
    "files": names,
    "found": [i for i, n in enumerate(needles) if any(n in t for t in texts)],
    "secret_env": "COGNITO_CLIENT_SECRET" in os.environ,
}}))
"""

GET_TOKEN = """
import hashlib
from jupyter_ai_access.client import get_token
from jupyter_ai_access.errors import SessionEndedError
try:  # a digest, not the token: kernel outputs are leak-checked
    print("TOKEN", hashlib.sha256(get_token(force={force}).encode()).hexdigest()[:16])
except SessionEndedError as e:
    print("ENDED", e)
"""


async def sign_in(page: Any, lab: LabProcess, password: str) -> None:
    await page.wait_for_selector("#signInFormUsername")
    await page.fill("#signInFormUsername", "alice")
    await page.fill("#signInFormPassword", password)
    await page.click("button[type=submit]")


async def test_sign_in_notebook_renewal_and_sign_out(lab, local_cognito, canaries):
    password = local_cognito.passwords["alice"]
    kernel = await ServerKernel(lab.url + "/", token=lab.token).start()
    try:
        # A kernel started before anyone signed in is told where to sign in.
        before = (await kernel.execute(GET_TOKEN.format(force=False)))["stdout"]
        login_url = f"http://127.0.0.1:{lab.port}/ai-access/login"
        assert before.strip() == (
            f"ENDED This Jupyter server is not signed in to Amazon Cognito: sign in at {login_url}"
        )
        assert lab.api("ai-access/api/status").json()["state"] == "signed-out"

        async with chromium() as browser:
            page = await browser.new_page()
            callbacks: list[str] = []
            page.on(
                "request",
                lambda r: callbacks.append(r.url) if "/ai-access/callback" in r.url else 0,
            )
            await page.goto(f"{lab.url}/ai-access/status?token={lab.token}")
            assert "Not signed in to Amazon Cognito" in await page.inner_text("body")
            await page.click("#sign-in")
            assert page.url.startswith(local_cognito.domain + "/login")
            await sign_in(page, lab, password)
            await page.wait_for_url(re.compile(r".*/lab(\?.*)?$"), timeout=60_000)
            status = lab.api("ai-access/api/status").json()
            assert status["state"] in ("fresh", "renewing") and status["user"] == "alice"
            assert status["token_source"] == "standalone"
            # The callback URL is single use: replayed, it is refused.
            await page.goto(callbacks[-1])
            assert "used already" in await page.inner_text("body")

            # The kernel started before the sign-in has its token now; the notebook runs.
            results = await kernel.run_notebook(
                json.loads((ROOT / "examples/train.ipynb").read_text())
            )
            text = "\n".join(r["stdout"] for r in results)
            assert all(r["error"] is None for r in results), results
            assert "user: alice | groups: ml-training, ml-admins" in text
            assert "downloaded 200 rows" in text
            assert (
                "upload refused (403): requires membership in the group(s): ml-publishers" in text
            )

            # The refresh token: only in the server's memory.
            (refresh,) = refresh_tokens(local_cognito)
            canaries.register(refresh, "standalone refresh token")
            secret = local_cognito.client_secrets[LAB_CLIENT]
            dump = json.loads(
                (await kernel.execute(KERNEL_DUMP.format(needles=[refresh, secret])))["stdout"]
            )
            assert set(dump["files"]) == {"access_token", "id_token", "secret", "session"}
            assert dump["found"] == []  # neither the refresh token nor the client secret
            assert dump["secret_env"] is False
            assert files_containing([refresh, secret], lab.folder) == []
            pid = json.loads(
                (await kernel.execute("import os; print(os.getpid())"))["stdout"] or "0"
            )
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            assert refresh.encode() not in environ and secret.encode() not in environ
            page_text = await (await browser.new_page()).goto(f"{lab.url}/ai-access/status")
            assert page_text is not None and refresh not in await page_text.text()

            # Renewal: the server renews 20 s before the 30 s tokens expire, keeping the
            # refresh token (Cognito returns none).
            first = (await kernel.execute(GET_TOKEN.format(force=False)))["stdout"].split()[1]
            renewed_at = status["last_renewal"]
            deadline = time.monotonic() + 90
            while lab.api("ai-access/api/status").json()["last_renewal"] == renewed_at:
                assert time.monotonic() < deadline, lab.log_tail()
                time.sleep(1)
            second = (await kernel.execute(GET_TOKEN.format(force=False)))["stdout"].split()[1]
            assert second != first
            assert refresh_tokens(local_cognito) == [refresh]

            # A GET of the sign-out URL (a link, an <img>) changes nothing: it points to the
            # button.
            answer = await page.goto(f"{lab.url}/ai-access/logout")
            assert answer is not None and answer.status == 405
            assert "Sign out button" in await page.inner_text("body")
            assert lab.api("ai-access/api/status").json()["user"] == "alice"
            still = (await kernel.execute(GET_TOKEN.format(force=True)))["stdout"]
            assert still.startswith("TOKEN ")

            # Sign-out (the status page's button, a POST with _xsrf): kernels refused at once,
            # refresh token revoked, Cognito session ended.
            await page.goto(f"{lab.url}/ai-access/status")
            await page.click("#sign-out")
            await page.wait_for_url(re.compile(r".*/ai-access/status$"), timeout=30_000)
            body = await page.inner_text("body")
            assert "Not signed in to Amazon Cognito" in body
            await screenshot(page, "standalone-signed-out")
            after = (await kernel.execute(GET_TOKEN.format(force=True)))["stdout"]
            assert after.strip() == (
                f"ENDED You signed out of Amazon Cognito: sign in at {login_url}"
            )
            dump = json.loads((await kernel.execute(KERNEL_DUMP.format(needles=[])))["stdout"])
            assert set(dump["files"]) == {"secret"}
            refused = httpx.post(
                f"{local_cognito.domain}/oauth2/token",
                auth=(LAB_CLIENT, secret),
                data={"grant_type": "refresh_token", "refresh_token": refresh},
            )
            assert refused.json() == {"error": "invalid_grant"}
            await page.click("#sign-in")
            await page.wait_for_selector("#signInFormPassword")  # asked for the password again
            await sign_in(page, lab, password)
            await page.wait_for_url(re.compile(r".*/lab(\?.*)?$"), timeout=60_000)
            again = (await kernel.execute(GET_TOKEN.format(force=False)))["stdout"]
            assert again.startswith("TOKEN ")
            for token in refresh_tokens(local_cognito):
                canaries.register(token, "second refresh token")
    finally:
        await kernel.shutdown()


def test_a_callback_without_this_browsers_state_is_refused(lab):
    answer = httpx.get(
        f"{lab.url}/ai-access/callback",
        params={"state": "forged", "code": "forged"},
        headers={"Authorization": f"token {lab.token}"},
    )
    assert answer.status_code == 400
    assert "not started in this browser" in answer.text


def test_the_sign_in_pages_need_the_servers_own_login(lab):
    for path in ("ai-access/login", "ai-access/callback?state=a&code=b", "ai-access/logout"):
        answer = httpx.get(f"{lab.url}/{path}", follow_redirects=False)
        assert answer.status_code in (302, 403), path
        assert "/login" in answer.headers.get("location", "/login"), path
        assert "cognito" not in answer.headers.get("location", "")


def test_sign_out_is_a_post_with_the_xsrf_token(lab, local_cognito):
    with httpx.Client(base_url=lab.url, follow_redirects=False, timeout=30) as browser:
        assert browser.get(f"/lab?token={lab.token}").status_code in (200, 302)
        xsrf = browser.cookies.get("_xsrf")
        assert xsrf  # Jupyter's own XSRF cookie, as a page of this server sets it
        page = browser.get("/ai-access/logout")
        assert page.status_code == 405
        assert page.headers["allow"] == "POST"
        assert "Sign out button" in page.text and "/ai-access/status" in page.text
        api = browser.get("/ai-access/logout", headers={"Accept": "application/json"})
        assert api.status_code == 405
        assert api.json()["error"] == "method_not_allowed"
        forged = browser.post("/ai-access/logout", data={})  # another site's form: no _xsrf
        assert forged.status_code == 403
        signed_out = browser.post("/ai-access/logout", data={"_xsrf": xsrf})
        assert signed_out.status_code == 303
        assert signed_out.headers["location"].startswith(f"{local_cognito.domain}/logout?")
