"""End to end, as a person would: the repository's jupyterhub_config.py in real headless Chromium.

The Hub starts the local Cognito emulator and the example model registry as managed services and
spawns real JupyterLab servers; Playwright drives Debian's /usr/bin/chromium (never a downloaded
browser). The example notebook runs in a real kernel of the user's server, over the server's REST
API and kernel websocket. Screenshots of failures go to test-artifacts/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jupyter_ai_access_testing.harness import ROOT
from jupyter_ai_access_testing.harness.browser import (
    chromium,
    open_lab,
    screenshot,
    server_cookies,
    sign_in,
)
from jupyter_ai_access_testing.harness.deployment import watched_deployment
from jupyter_ai_access_testing.harness.notebooks import ServerKernel

pytestmark = [pytest.mark.hub, pytest.mark.browser, pytest.mark.usefixtures("chromium_installed")]


@pytest.fixture(scope="module")
def local_hub(tmp_path_factory, canaries, leak_watcher) -> Iterator[dict[str, Any]]:
    """The repository's jupyterhub_config.py on free ports, with canary passwords and secret."""
    with watched_deployment(tmp_path_factory, canaries, leak_watcher) as hub:
        yield hub


async def run_example_notebook(
    context: Any, hub: dict[str, Any], username: str, name: str = "train.ipynb"
) -> tuple[ServerKernel, list[dict[str, Any]]]:
    notebook = json.loads((ROOT / "examples" / name).read_text())
    kernel = await ServerKernel(
        f"{hub['url']}/user/{username}/", await server_cookies(context, f"/user/{username}/")
    ).start()
    return kernel, await kernel.run_notebook(notebook)


ROLE_ARN = "arn:aws:sts::123456789012:assumed-role/jupyter-ai-access-demo-{}/{}"
AWS_SECRETS_ON_DISK = """
import json, os, boto3
frozen = boto3.Session().get_credentials().get_frozen_credentials()
needles = [frozen.secret_key.encode(), frozen.token.encode()]
roots = {os.path.expanduser("~"), os.environ["JUPYTER_AI_ACCESS_DIR"] + "/..", "/tmp", os.getcwd()}
hits, files = [], 0
for root in roots:
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            try:
                if files > 20000 or os.path.getsize(path) > 5_000_000:
                    continue
                files += 1
                data = open(path, "rb").read()
            except OSError:
                continue
            if any(n in data for n in needles):
                hits.append(path)
print(json.dumps(hits))
"""


async def aws_secrets_on_disk(kernel: ServerKernel) -> list[str]:
    """Files the kernel can read that hold its AWS secret key or session token."""
    result = await kernel.execute(AWS_SECRETS_ON_DISK, timeout=120)
    assert result["error"] is None, result
    return json.loads(result["stdout"])


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
            assert "user: alice | groups: ml-training, ml-publishers" in text
            assert "downloaded 200 rows" in text
            fit = re.search(r"trained: y = (-?[\d.]+) \* x \+ (-?[\d.]+)", text)
            assert fit, text
            assert abs(float(fit.group(1)) - 3) < 0.1
            assert abs(float(fit.group(2)) - 2) < 0.5
            assert "uploaded: {'stored': 'demo-alice', 'uploaded_by': 'alice'}" in text
            # S3 with plain boto3, as herself (the local AWS enforces her role's policy)
            assert f"AWS identity: {ROLE_ARN.format('ml-publishers', 'alice')}" in text
            assert "read 200 rows from s3://jupyter-ai-access-demo/datasets/demo.csv" in text
            assert "published s3://jupyter-ai-access-demo/models/alice/model.json" in text
            assert await aws_secrets_on_disk(kernel) == []
            assert canaries.find(text) == []
            assert (
                json.loads((hub["state"] / "registry/demo-alice.json").read_text())["uploaded_by"]
                == "alice"
            )
            status = await browser.new_page()
            for theme in ("light", "dark"):
                await status.goto(f"{hub['url']}/user/alice/ai-access/status?theme={theme}")
                text = await status.inner_text("body")
                assert "Tokens are fresh" in text and "Kernels holding tokens" in text
                assert "Back to JupyterLab" in text
                shown = await status.inner_text("time")  # rendered in the reader's zone
                assert "2026" in shown or "20" in shown[:12]  # the date is there
                assert re.search(r"\(in \d+ s\)$", shown), shown  # rendered by the page
                background = await status.evaluate(
                    "getComputedStyle(document.body).backgroundColor"
                )
                assert background == (
                    "rgb(255, 255, 255)" if theme == "light" else "rgb(17, 17, 17)"
                )
                assert canaries.find(await status.content()) == []
                await screenshot(
                    status, "token-status" if theme == "light" else "token-status-dark"
                )
            refresh_token = hub["hub"].unseal(
                hub["hub"].user("alice")["auth_state"]["refresh_token"]
            )
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


async def test_a_user_outside_ml_publishers_is_refused_a_registry_token_by_the_hub(local_hub):
    async with chromium() as browser:
        page = await open_lab(browser, local_hub, "bob")
        kernel, results = await run_example_notebook(browser, local_hub, "bob")
        try:
            text = "\n".join(r["stdout"] for r in results)
            assert all(r["error"] is None for r in results), results
            # exchange_policy gives model-registry tokens to ml-publishers only: bob's kernel
            # is refused one (his broad token would be refused by the registry anyway)
            refusal = "You may not get a token for the audience 'model-registry' (None of your"
            assert f"no registry token for you: {refusal}" in text
            assert f"upload refused by the Hub: {refusal}" in text
            assert "groups (ml-training) may get tokens for 'model-registry'" in text
            assert "CognitoOAuthenticator.exchange_policy" in text
            assert "downloaded" not in text
            assert "trained: y = " in text, text  # on the S3 copy of the data
            assert f"AWS identity: {ROLE_ARN.format('ml-training', 'bob')}" in text
            assert "read 200 rows from s3://jupyter-ai-access-demo/datasets/demo.csv" in text
            assert "S3 refused the upload (AccessDenied): your role" in text
        except Exception:
            await screenshot(page, "failure-bob")
            raise
        finally:
            await kernel.shutdown()


async def test_the_engines_notebook_trains_from_parquet_on_s3_as_alice(local_hub):
    async with chromium() as browser:
        page = await open_lab(browser, local_hub, "alice")
        kernel, results = await run_example_notebook(
            browser, local_hub, "alice", "train_engines.ipynb"
        )
        try:
            text = "\n".join(r["stdout"] for r in results)
            assert all(r["error"] is None for r in results), results
            parquet = "s3://jupyter-ai-access-demo/models/alice/train.parquet"
            assert f"wrote 200 rows to {parquet}" in text  # Arrow, as alice (a publisher)
            assert f"Polars read 200 rows from {parquet}" in text
            fit = re.search(r"trained: y = (-?[\d.]+) \* x \+ (-?[\d.]+)", text)
            assert fit, text
            assert abs(float(fit.group(1)) - 3) < 0.1
            assert await aws_secrets_on_disk(kernel) == []
        except Exception:
            await screenshot(page, "failure-engines-notebook")
            raise
        finally:
            await kernel.shutdown()


async def test_user_outside_the_allowed_groups_is_refused_at_login(local_hub):
    async with chromium() as browser:
        page = await browser.new_page()
        try:
            await sign_in(page, local_hub, "carol")
            await page.wait_for_load_state()
            text = await page.inner_text("body")
            assert "403" in text
            assert "carol signed in to Amazon Cognito, but is not in a group allowed" in text
            assert "allowed: hub-admins, ml-publishers, ml-training" in text
            assert local_hub["hub"].user("carol") is None
            await screenshot(page, "refused")
            # "Sign in as someone else" ends the Cognito session too: the hosted page asks for
            # a password again (not carol's SSO), and bob gets in.
            await page.click("a:has-text('Sign in as someone else')")
            await page.wait_for_url(re.compile(r".*/hub/logout-complete"), timeout=30_000)
            await sign_in(page, local_hub, "bob")
            await page.wait_for_url(re.compile(r".*/user/bob/lab.*"), timeout=120_000)
        except Exception:
            await screenshot(page, "failure-carol")
            raise


async def test_the_sign_in_page_says_incorrect_username_or_password(local_hub):
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(local_hub["url"] + "/hub/oauth_login")
        await page.wait_for_selector("#signInFormUsername")
        await screenshot(page, "cognito-sign-in")  # what the README's step 1 shows: no error yet
        await page.fill("#signInFormUsername", "alice")
        await page.fill("#signInFormPassword", "not-her-password")
        await page.click("button[type=submit]")
        await page.wait_for_selector("#loginErrorMessage")
        assert await page.inner_text("#loginErrorMessage") == "Incorrect username or password."
        await screenshot(page, "cognito-sign-in-refused")
