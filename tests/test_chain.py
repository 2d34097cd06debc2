"""The real chain: Cognito emulator → JupyterHub → single-user server + extension → real kernels.

Nothing stands in here. A real JupyterHub (with configurable-http-proxy) logs users in against
the local Cognito emulator and spawns a real single-user server (``jupyterhub.singleuser``,
SimpleLocalProcessSpawner) that loads the extension; kernels are started through that server's
REST API and driven over its websocket, like a browser does; code in them calls
``jupyter_ai_access.client``. The tests compare what kernels got with what the Hub holds
(``auth_state`` through an admin token) and count the Hub's token requests in its access log.

tests/test_delivery.py covers the same server side fast, against a stand-in for the Hub's token
endpoint (jupyter_ai_access_testing.fake_hub) and an in-process Jupyter server.

Lifetimes: the emulator's ``hub`` client issues 60 s tokens; this Hub refreshes them when they
have 50 s or less left (``refresh_margin``) and the server's broker renews in the background when
10 s are left (``TokenBroker.renew_before``), so between renewals the Hub holds one token set.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from jupyter_ai_access_testing import leaks
from jupyter_ai_access_testing.canary import CanaryRegistry
from jupyter_ai_access_testing.harness.hub import HubBrowser, HubProcess
from jupyter_ai_access_testing.harness.hubs import HUB_CLIENT, TOKEN_DELIVERY_CONFIG
from jupyter_ai_access_testing.harness.notebooks import ServerKernel

from jupyter_ai_access.cognito.verify import CognitoTokenVerifier

USER = "alice"
HUB_REFRESH_MARGIN = 50
BROKER_RENEW_BEFORE = 10
FAN_IN_KERNELS = 10

pytestmark = [pytest.mark.hub, pytest.mark.kernel]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def password(desc: dict[str, Any], user: str) -> str:
    return next(u["password"] for u in desc["users"] if u["username"] == user)


@pytest.fixture(scope="module")
def chain_hub(tmp_path_factory, local_cognito, chain_hub_port, canaries) -> Iterator[HubProcess]:
    folder = tmp_path_factory.mktemp("chain")
    users, token_dir = folder / "users", folder / "kernel-tokens"
    args = [
        f"--TokenBroker.renew_before={BROKER_RENEW_BEFORE}",
        f"--KernelTokenStore.token_dir={token_dir}",
        "--AIAccessApp.log_level=DEBUG",
        "--debug",
    ]
    if os.geteuid() == 0:
        args.append("--allow-root")
    config = (
        f"""
import sys
from pathlib import Path
c.JupyterHub.authenticator_class = "cognito"
c.CognitoOAuthenticator.issuer = {local_cognito.issuer!r}
c.CognitoOAuthenticator.domain = {local_cognito.domain!r}
c.CognitoOAuthenticator.client_id = {HUB_CLIENT!r}
c.CognitoOAuthenticator.scope = ["openid", "email", "profile", "ai-access/datasets.read"]
c.CognitoOAuthenticator.allowed_groups = {{"ml-training", "ml-admins"}}
c.CognitoOAuthenticator.admin_groups = {{"ml-admins"}}
c.CognitoOAuthenticator.refresh_margin = {HUB_REFRESH_MARGIN}
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(users / "{username}")!r}
c.Spawner.cmd = [{sys.executable!r}, "-m", "jupyterhub.singleuser"]
c.Spawner.args = {args!r}
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.pre_spawn_hook = lambda spawner: Path(
    spawner.home_dir_template.format(username=spawner.user.name)
).mkdir(parents=True, exist_ok=True)
"""
        + TOKEN_DELIVERY_CONFIG
    )
    hub = HubProcess(
        folder / "hub",
        config,
        env={"COGNITO_CLIENT_SECRET": local_cognito.client_secrets[HUB_CLIENT]},
        port=chain_hub_port,
    )
    canaries.register(hub.env["JUPYTERHUB_CRYPT_KEY"], "JUPYTERHUB_CRYPT_KEY")
    canaries.register(hub.admin_token, "hub admin token")
    leaks.watch_tree(users)  # what the user's server writes into the home folder
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


class Server:
    """alice's running single-user server, as her browser reaches it."""

    def __init__(self, hub: HubProcess, browser: HubBrowser, canaries: CanaryRegistry) -> None:
        self.hub = hub
        self.browser = browser
        self.canaries = canaries
        self.url = f"{hub.url}/user/{USER}/"

    def cookies(self) -> dict[str, str]:
        path = f"/user/{USER}/"
        return {
            c.name: c.value
            for c in self.browser.http.cookies.jar
            if path.startswith(c.path) and c.domain in ("127.0.0.1", "127.0.0.1.local", "")
        }

    @asynccontextmanager
    async def kernels(self, n: int) -> AsyncIterator[list[ServerKernel]]:
        """``n`` kernels started through the server's REST API (shut down afterwards)."""
        started: list[ServerKernel] = []
        try:
            for _ in range(n):
                started.append(await ServerKernel(self.url, self.cookies()).start())
            yield started
        finally:
            await asyncio.gather(*(k.shutdown() for k in started), return_exceptions=True)

    def auth_state(self) -> dict[str, Any]:
        """alice's auth_state; its tokens become leak-check needles (they carry no canary)."""
        model = self.hub.user(USER)
        assert model is not None
        state: dict[str, Any] = model["auth_state"]
        for key in ("access_token", "id_token", "refresh_token"):
            if state.get(key):
                self.canaries.register(state[key], key)
        return state


@pytest.fixture(scope="module")
def server(chain_hub, cognito_pool_description, canaries) -> Iterator[Server]:
    browser = HubBrowser(chain_hub.url)
    try:
        browser.login(USER, password(cognito_pool_description, USER))
        assert browser.logged_in
        response = chain_hub.api("POST", f"/users/{USER}/server")
        assert response.status_code in (201, 202), response.text
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            model = chain_hub.user(USER)
            assert model is not None
            if model["servers"].get("", {}).get("ready"):
                break
            time.sleep(0.25)
        else:
            pytest.fail(f"alice's server did not start: {chain_hub.log_tail()}")
        # As a browser: the server's own OAuth login through the Hub, then a page that sets _xsrf.
        page = browser.go(f"/user/{USER}/lab")
        assert page.status_code == 200, page.status_code
        server = Server(chain_hub, browser, canaries)
        assert {"_xsrf", f"jupyterhub-user-{USER}"} <= set(server.cookies())
        server.auth_state()  # registers the tokens with the leak check
        yield server
    finally:
        chain_hub.api("DELETE", f"/users/{USER}/server")
        browser.close()


@pytest.fixture(autouse=True)
def _register_the_latest_tokens(request) -> Iterator[None]:
    """After each test (before the leak check runs), the tokens the Hub holds are needles too:
    the server's broker and the kernels saw them, whatever the test itself read."""
    yield
    if "server" in request.fixturenames:
        request.getfixturevalue("server").auth_state()


@pytest.fixture(scope="module")
def verifier(local_cognito) -> CognitoTokenVerifier:
    return CognitoTokenVerifier(issuer=local_cognito.issuer, client_ids=[HUB_CLIENT])


TOKEN_REQUEST = re.compile(rf"\b\d{{3}} GET /hub/api/ai-access/users/{USER}/tokens \(")


def hub_token_requests(hub: HubProcess) -> int:
    """How many token requests the Hub has answered so far (its access log, flushed first)."""
    sentinel = f"log-sentinel-{uuid.uuid4().hex}"
    # One event loop answers and logs in order: once this 404 is logged, so is all before it.
    assert hub.api("GET", f"/users/{sentinel}").status_code == 404
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = hub.log_file.read_text(errors="replace")
        if sentinel in text:
            return len(TOKEN_REQUEST.findall(text))
        time.sleep(0.05)
    raise AssertionError("the Hub did not log the sentinel request")


TOKEN_HASH = """
import hashlib
from jupyter_ai_access.client import get_token
print(hashlib.sha256(get_token({args}).encode()).hexdigest())
"""


# ---------------------------------------------------------------- the chain works
async def test_a_real_kernel_gets_the_token_the_hub_holds(server, verifier):
    async with server.kernels(1) as (kernel,):
        # min_valid=60 > the emulator's lifetime: through the endpoint, the broker and the Hub.
        out = await kernel.execute(TOKEN_HASH.format(args="min_valid=60"))
        assert out["error"] is None, out
        state = server.auth_state()
        assert out["stdout"].strip() == sha(state["access_token"])
        claims = verifier.verify(state["access_token"])
        assert claims["username"] == USER
        assert claims["client_id"] == HUB_CLIENT
        # The file path (no request) serves the same token.
        again = await kernel.execute(TOKEN_HASH.format(args="min_valid=0"))
        assert again["stdout"].strip() == sha(state["access_token"])


BARRIER = """
import hashlib, os, pathlib, time
from jupyter_ai_access.client import get_token
folder = pathlib.Path({folder!r})
(folder / str(os.getpid())).touch()
deadline = time.monotonic() + 120
while len(list(folder.iterdir())) < {n}:  # every kernel waits for all the others
    if time.monotonic() > deadline:
        raise TimeoutError("not every kernel reached the barrier")
    time.sleep(0.002)
print(hashlib.sha256(get_token(min_valid={min_valid}).encode()).hexdigest())
"""


async def test_ten_real_kernels_asking_at_once_after_expiry_cause_one_hub_request(
    server, verifier, tmp_path
):
    async with server.kernels(FAN_IN_KERNELS) as kernels:
        # Bring the held tokens into the state "no longer valid for what kernels will ask, and due
        # for refresh at the Hub": 25-49 s left (the broker renews by itself only at 10 s).
        for _ in range(3):
            state = server.auth_state()
            left = min(state["access_token_expires_at"], state["id_token_expires_at"]) - time.time()
            if left < 25:  # close to the broker's own renewal: renew now, then wait again
                await kernels[0].execute(TOKEN_HASH.format(args="force=True"))
                continue
            await asyncio.sleep(max(0.0, left - (HUB_REFRESH_MARGIN - 1)))
            break
        held = server.auth_state()["access_token"]
        outs = await asyncio.gather(
            *(k.execute(TOKEN_HASH.format(args="min_valid=0")) for k in kernels)
        )
        assert {o["stdout"].strip() for o in outs} == {sha(held)}  # every kernel holds it

        before = hub_token_requests(server.hub)
        barrier = tmp_path / "barrier"
        barrier.mkdir()
        # 55 s: more than the held tokens have left, less than fresh ones have.
        code = BARRIER.format(folder=str(barrier), n=FAN_IN_KERNELS, min_valid=55)
        outs = await asyncio.gather(*(k.execute(code) for k in kernels))
        assert all(o["error"] is None for o in outs), [o["error"] for o in outs]
        requests = hub_token_requests(server.hub) - before

    assert requests == 1
    fresh = server.auth_state()["access_token"]
    assert fresh != held  # the Hub refreshed once, for everyone
    assert {o["stdout"].strip() for o in outs} == {sha(fresh)}
    assert verifier.verify(fresh)["username"] == USER


# ---------------------------------------------------------------- what the server's token reaches
HUB_API_PROBE = """
import json, os, urllib.error, urllib.request
api, token = os.environ["JUPYTERHUB_API_URL"], os.environ["JUPYTERHUB_API_TOKEN"]
answers = {{}}
for path in {paths!r}:
    request = urllib.request.Request(api + path, headers={{"Authorization": "token " + token}})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            answers[path] = [response.status, response.read().decode()]
    except urllib.error.HTTPError as e:
        answers[path] = [e.code, e.read().decode()]
with open({out!r}, "w") as f:  # not printed: the token answer is legitimately secret
    json.dump(answers, f)
print(sorted((p, a[0]) for p, a in answers.items()))
"""

HUB_API_PATHS = [
    "/user",
    f"/users/{USER}",
    f"/users/{USER}?include_stopped_servers",
    f"/users/{USER}?include_stopped_servers=1",
    "/users",
    f"/users/{USER}/tokens",
    f"/users/{USER}/server/progress",
    "/groups",
    "/services",
    "/info",
    f"/ai-access/users/{USER}/tokens",
]


async def test_the_servers_token_in_a_kernel_reaches_no_refresh_token(server, tmp_path):
    """Kernels inherit JUPYTERHUB_API_TOKEN: nothing it can reach may hold the refresh token."""
    out_file = tmp_path / "answers.json"
    async with server.kernels(1) as (kernel,):
        out = await kernel.execute(HUB_API_PROBE.format(paths=HUB_API_PATHS, out=str(out_file)))
    assert out["error"] is None, out
    answers = json.loads(out_file.read_text())
    out_file.unlink()
    state = server.auth_state()
    refresh_token = state["refresh_token"]
    assert refresh_token
    for path, (_status, body) in answers.items():
        assert "refresh_token" not in body, path
        assert refresh_token not in body, path
        assert "auth_state" not in body or json.loads(body).get("auth_state") is None, path
    # The token does reach the user model and the short-lived tokens: the probe saw real answers.
    assert answers[f"/users/{USER}"][0] == 200
    assert json.loads(answers[f"/users/{USER}"][1])["name"] == USER
    status, body = answers[f"/ai-access/users/{USER}/tokens"]
    assert status == 200
    assert json.loads(body)["access_token"].count(".") == 2


# ---------------------------------------------------------------- a removal at Cognito
WATCHED = """
from jupyter_ai_access.client import get_token
from jupyter_ai_access.errors import SessionEndedError
try:  # what the kernel holds (its token file): no request of its own reaches the Hub
    get_token(min_valid=0)
    print("TOKEN")
except SessionEndedError:
    print("ENDED")
"""


async def test_a_removal_at_cognito_reaches_the_kernels_within_the_recheck_interval(
    tmp_path, idp, scripted_factory, canaries, leak_watcher
):
    """Hour-long tokens, nobody at the browser: the server's session watch, reconnecting, makes
    the Hub re-check the user at Cognito once ``recheck_interval`` has passed."""
    user = "olga"
    args = ["--TokenBroker.watch_wait=2", f"--KernelTokenStore.token_dir={tmp_path / 'tokens'}"]
    if os.geteuid() == 0:
        args.append("--allow-root")
    config = (
        f"""
from pathlib import Path
c.JupyterHub.authenticator_class = "cognito"
c.CognitoOAuthenticator.issuer = {idp.server.issuer!r}
c.CognitoOAuthenticator.domain = "http://127.0.0.1:{idp.server.port}"
c.CognitoOAuthenticator.client_id = {scripted_factory.client_id!r}
c.CognitoOAuthenticator.allowed_groups = {{"ml-training"}}
c.CognitoOAuthenticator.recheck_interval = 3
c.Authenticator.auth_refresh_age = 1
c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 1}}  # POST .../server answers at once
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(tmp_path / "users" / "{username}")!r}
c.Spawner.cmd = [{sys.executable!r}, "-m", "jupyterhub.singleuser"]
c.Spawner.args = {args!r}
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.pre_spawn_hook = lambda spawner: Path(
    spawner.home_dir_template.format(username=spawner.user.name)
).mkdir(parents=True, exist_ok=True)
"""
        + TOKEN_DELIVERY_CONFIG
    )
    hub = HubProcess(tmp_path / "hub", config, env={"COGNITO_CLIENT_SECRET": canaries.secret("s")})
    leak_watcher.watch_file(hub.log_file)
    idp.login_ok(user, lifetime=3600)
    hub.start()
    try:
        with HubBrowser(hub.url) as browser:
            assert browser.login("x", "y").status_code == 200
            assert hub.api("POST", f"/users/{user}/server").status_code in (201, 202)
            deadline = time.monotonic() + 120
            while not (hub.user(user) or {}).get("servers", {}).get("", {}).get("ready"):
                assert time.monotonic() < deadline, hub.log_tail()
                time.sleep(0.25)
            assert browser.go(f"/user/{user}/lab").status_code == 200
            path = f"/user/{user}/"
            cookies = {c.name: c.value for c in browser.http.cookies.jar if path.startswith(c.path)}
            kernel = await ServerKernel(f"{hub.url}{path}", cookies).start()
            try:
                assert (await kernel.execute(WATCHED))["stdout"].strip() == "TOKEN"
                # An admin removes olga from ml-training at Cognito; her tokens stay valid for
                # an hour, and nobody uses the Hub in a browser.
                idp.answer_with(lambda form, auth: (200, idp.tokens(user, groups=[])))
                deadline = time.monotonic() + 60
                while (await kernel.execute(WATCHED))["stdout"].strip() == "TOKEN":
                    assert time.monotonic() < deadline, hub.log_tail()
                    await asyncio.sleep(1)
            finally:
                await kernel.shutdown()
            state = hub.user(user)["auth_state"]
            assert "refresh_token" not in state and "access_token" not in state
            assert idp.server.token_requests[-1][1]["grant_type"] == "refresh_token"
    finally:
        hub.api("DELETE", f"/users/{user}/server")
        hub.stop()
