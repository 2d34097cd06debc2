"""Token delivery, fast: broker, token files, loopback endpoint, provisioner, client.

A real Jupyter server in the test process (pytest-jupyter) with the extension, real ipykernel
kernels, a protected resource that uses the verifier, and a STAND-IN for the Hub's token endpoint
(jupyter_ai_access_testing.fake_hub: tokens from the session's token factory, scripted outages).
No JupyterHub runs here; tests/test_chain.py runs the real chain (emulator → Hub → single-user
server → kernels).
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_ai_access_testing.harness.ci import skip_or_fail
from jupyter_ai_access_testing.harness.inprocess import run, server_config, start_kernel
from tornado import web
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from jupyter_ai_access.cognito.verify import CognitoTokenVerifier
from jupyter_ai_access.errors import SessionEndedError
from jupyter_ai_access.files import write_private_file
from jupyter_ai_access.protocol import KernelEnv
from jupyter_ai_access.resource.tornado_auth import bearer_required
from jupyter_ai_access.server.app import AIAccessApp

pytestmark = pytest.mark.kernel

SCOPE = "ai-access/datasets.read"


@pytest.fixture
def jp_server_config(fake_hub_tokens, tmp_path):
    return server_config(fake_hub_tokens, tmp_path)


@pytest.fixture
def resource(issuer_server, jp_asyncio_loop) -> Iterator[str]:
    """A protected dataset API on loopback that uses the verifier."""
    verifier = CognitoTokenVerifier(
        issuer=issuer_server.issuer, client_ids=[issuer_server.factory.client_id]
    )

    class Dataset(web.RequestHandler):
        @bearer_required(verifier, scopes=[SCOPE], groups=["ml-training"])
        async def get(self) -> None:
            self.finish({"user": self.cognito_claims["username"], "rows": 3})

    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(web.Application([("/dataset", Dataset)]))
    server.add_sockets(sockets)
    yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}/dataset"
    server.stop()


# ---------------------------------------------------------------- the happy path
async def test_kernel_reads_its_token_and_calls_a_protected_resource(
    jp_serverapp, ext, resource, fake_hub_tokens
):
    kernel_id = await start_kernel(jp_serverapp)
    out = await run(
        jp_serverapp,
        kernel_id,
        f"""
        import json, urllib.request
        from jupyter_ai_access.client import get_token
        req = urllib.request.Request({resource!r}, headers={{"Authorization": "Bearer " + get_token()}})
        print(json.loads(urllib.request.urlopen(req).read())["user"])
    """,
    )
    assert out.strip() == "alice"
    assert fake_hub_tokens.fetches == 1


async def test_kernel_environment_points_at_files_and_endpoint_only(
    jp_serverapp, ext, canaries, fake_hub_tokens
):
    kernel_id = await start_kernel(jp_serverapp)
    out = await run(
        jp_serverapp,
        kernel_id,
        """
        import json, os
        print(json.dumps({k: v for k, v in os.environ.items() if k.startswith("JUPYTER_AI_ACCESS")
                          and k != "JUPYTER_AI_ACCESS_NODE"}))  # the test runner's own variable
    """,
    )
    env = json.loads(out)
    assert set(env) == {
        getattr(KernelEnv, k)
        for k in ("DIR", "TOKEN_FILE", "ID_TOKEN_FILE", "URL", "SECRET_FILE", "LOGIN_URL")
    }
    assert env[KernelEnv.URL].startswith("http://127.0.0.1:")
    assert env[KernelEnv.LOGIN_URL] == "https://hub.example.org/hub/login"
    folder = Path(env[KernelEnv.DIR])
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in ("access_token", "id_token", "secret"):
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600
    assert (folder / "access_token").read_text() == fake_hub_tokens.issued[-1]
    root = Path(jp_serverapp.root_dir).resolve()
    assert root not in folder.resolve().parents
    await jp_serverapp.kernel_manager.shutdown_kernel(kernel_id)
    assert not folder.exists()


async def test_get_id_token_and_httpx_and_requests_auth(jp_serverapp, ext, resource):
    kernel_id = await start_kernel(jp_serverapp)
    out = await run(
        jp_serverapp,
        kernel_id,
        f"""
        import httpx, requests
        from jupyter_ai_access.client import HttpxAuth, RequestsAuth, get_id_token, token_expiry
        import time
        print(token_expiry(get_id_token()) > time.time())
        print(httpx.get({resource!r}, auth=HttpxAuth()).json()["user"])
        print(requests.get({resource!r}, auth=RequestsAuth()).json()["user"])
    """,
    )
    assert out.split() == ["True", "alice", "alice"]


async def test_auth_objects_retry_once_with_a_fresh_token_on_401(
    jp_serverapp, ext, jp_asyncio_loop, fake_hub_tokens
):
    seen: list[str] = []

    class Flaky(web.RequestHandler):
        def get(self) -> None:
            seen.append(self.request.headers.get("Authorization", ""))
            if len(seen) % 2 == 1:
                self.set_status(401)
            self.finish("ok")

    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(web.Application([("/", Flaky)]))
    server.add_sockets(sockets)
    url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}/"
    try:
        kernel_id = await start_kernel(jp_serverapp)
        out = await run(
            jp_serverapp,
            kernel_id,
            f"""
            import httpx, requests
            from jupyter_ai_access.client import HttpxAuth, RequestsAuth
            print(httpx.get({url!r}, auth=HttpxAuth()).status_code)
            print(requests.get({url!r}, auth=RequestsAuth()).status_code)
        """,
        )
    finally:
        server.stop()
    assert out.split() == ["200", "200"]
    assert len(seen) == 4
    assert all(h.startswith("Bearer ey") for h in seen)
    assert seen[0] != seen[1]  # the retry carried a freshly fetched token


async def test_auth_objects_never_send_the_token_to_the_host_a_redirect_leads_to(
    jp_serverapp, ext, jp_asyncio_loop
):
    """A (first asked) redirects to B, another origin, which answers 401: B gets no token,
    neither with the redirect (requests and httpx strip it) nor as a retry after the 401."""
    seen: dict[str, list[str]] = {"a": [], "b": []}

    def recorder(name: str, answer: Any) -> type[web.RequestHandler]:
        class Recorder(web.RequestHandler):
            def get(self) -> None:
                seen[name].append(self.request.headers.get("Authorization", ""))
                answer(self)

        return Recorder

    servers, urls = [], {}
    for name in ("b", "a"):
        sockets = bind_sockets(0, "127.0.0.1")  # same host, other port: another origin
        url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}/"
        if name == "b":
            app = web.Application([("/", recorder("b", lambda h: h.send_error(401)))])
        else:
            app = web.Application([("/", recorder("a", lambda h: h.redirect(urls["b"])))])
        server = HTTPServer(app)
        server.add_sockets(sockets)
        servers.append(server)
        urls[name] = url
    try:
        kernel_id = await start_kernel(jp_serverapp)
        out = await run(
            jp_serverapp,
            kernel_id,
            f"""
            import httpx, requests
            from jupyter_ai_access.client import HttpxAuth, RequestsAuth
            print(httpx.get({urls["a"]!r}, auth=HttpxAuth(), follow_redirects=True).status_code)
            print(requests.get({urls["a"]!r}, auth=RequestsAuth()).status_code)
        """,
        )
    finally:
        for server in servers:
            server.stop()
    assert out.split() == ["401", "401"]
    # counts, not the headers: a failure report must not print a token
    assert len(seen["b"]) >= 2
    assert sum(1 for h in seen["b"] if h) == 0, "a bearer token reached the other origin"
    assert seen["a"] and all(h.startswith("Bearer ey") for h in seen["a"])


# ---------------------------------------------------------------- renewal, restart, outages
@pytest.mark.slow
async def test_a_kernel_keeps_working_across_two_renewals(
    jp_serverapp, ext, resource, fake_hub_tokens
):
    fake_hub_tokens.lifetime = 30  # renew_before 20: a renewal every ~10 s
    kernel_id = await start_kernel(jp_serverapp)
    out = await run(
        jp_serverapp,
        kernel_id,
        f"""
        import json, time, urllib.request
        from jupyter_ai_access.client import get_token
        for i in range(3):
            req = urllib.request.Request({resource!r},
                                         headers={{"Authorization": "Bearer " + get_token(5)}})
            print(urllib.request.urlopen(req).status, flush=True)
            if i < 2:
                time.sleep(12)
    """,
        timeout=90,
    )
    assert out.split() == ["200", "200", "200"]
    assert fake_hub_tokens.fetches >= 3  # the first fetch and at least two renewals


async def test_kernel_restart_gets_a_new_secret_and_keeps_tokens(jp_serverapp, ext):
    kernel_id = await start_kernel(jp_serverapp)
    folder = ext.store.kernels[kernel_id]
    old_secret = (folder / "secret").read_text()
    await jp_serverapp.kernel_manager.restart_kernel(kernel_id)
    new_secret = (folder / "secret").read_text()
    assert new_secret != old_secret
    assert ext.store.kernel_for_secret(old_secret) is None
    assert ext.store.kernel_for_secret(new_secret) == kernel_id
    out = await run(
        jp_serverapp,
        kernel_id,
        """
        from jupyter_ai_access.client import get_token
        print(len(get_token(min_valid=10**6).split(".")))  # forces the endpoint path
    """,
    )
    assert out.strip() == "3"


async def test_server_shutdown_removes_folders_and_a_new_server_fetches_fresh(
    jp_serverapp, ext, fake_hub_tokens
):
    kernel_id = await start_kernel(jp_serverapp)
    folder = ext.store.kernels[kernel_id]
    await ext.stop_extension()
    assert not folder.exists()
    assert AIAccessApp.active is None
    ext.initialize_settings()  # the extension as a restarted server builds it
    tokens = await ext.broker.get()
    assert tokens.access_token == fake_hub_tokens.issued[-1]
    assert fake_hub_tokens.fetches == 2


async def test_hub_down_keeps_the_valid_token_then_says_so_clearly(
    jp_serverapp, ext, fake_hub_tokens
):
    fake_hub_tokens.lifetime = 8
    kernel_id = await start_kernel(jp_serverapp)
    fake_hub_tokens.status = 502
    out = await run(
        jp_serverapp,
        kernel_id,
        """
        import time
        from jupyter_ai_access.client import get_token, token_expiry
        from jupyter_ai_access.errors import TokensUnavailableError
        first = get_token(min_valid=0)
        print(get_token(min_valid=60) == first)   # endpoint: Hub down, still-valid token served
        time.sleep(max(0, token_expiry(first) - time.time()) + 1)
        try:
            get_token(min_valid=0)
        except TokensUnavailableError as e:
            print("ERROR", e)
    """,
    )
    lines = out.strip().splitlines()
    assert lines == ["True", "ERROR Cognito cannot be reached."]  # the Hub's own message


async def test_session_ended_withdraws_tokens_and_tells_the_user_to_log_in(
    jp_serverapp, ext, fake_hub_tokens
):
    kernel_id = await start_kernel(jp_serverapp)
    folder = ext.store.kernels[kernel_id]
    fake_hub_tokens.status = 401
    with pytest.raises(SessionEndedError, match="session has ended") as ended:
        await ext.broker.get(force=True)
    assert ended.value.login_url == "https://hub.example.org/hub/login"
    assert not (folder / "access_token").exists()
    out = await run(
        jp_serverapp,
        kernel_id,
        """
        from jupyter_ai_access.client import get_token
        from jupyter_ai_access.errors import SessionEndedError
        try:
            get_token()
        except SessionEndedError as e:
            print(e.login_url)
            print(e)
    """,
    )
    login_url, message = out.strip().splitlines()
    assert login_url == "https://hub.example.org/hub/login"
    assert "Log in again at https://hub.example.org/hub/login" in message


async def test_twenty_kernel_secrets_asking_after_expiry_cause_one_hub_fetch(
    jp_serverapp, ext, fake_hub_tokens
):
    """The endpoint and broker alone: 20 registered secrets (no kernel processes) ask over HTTP.

    With real kernel processes and a real Hub: tests/test_chain.py.
    """
    await ext.broker.get()
    secrets = [ext.store.add_kernel(f"k{i}", ext.broker.tokens) for i in range(20)]
    ext.broker.tokens = None  # expired: everyone must fetch
    fake_hub_tokens.delay = 0.3
    before = fake_hub_tokens.fetches
    client = AsyncHTTPClient(force_instance=True, max_clients=30)

    async def ask(env: dict[str, str]) -> str:
        secret = Path(env[KernelEnv.SECRET_FILE]).read_text()
        response = await client.fetch(
            ext.endpoint.url + "?min_valid=10", headers={"Authorization": f"Bearer {secret}"}
        )
        return json.loads(response.body)["token"]

    tokens = await asyncio.gather(*(ask(env) for env in secrets))
    assert len(set(tokens)) == 1
    assert fake_hub_tokens.fetches - before == 1


async def test_real_kernels_asking_at_once_share_one_fetch(jp_serverapp, ext, fake_hub_tokens):
    kernels = [await start_kernel(jp_serverapp) for _ in range(3)]
    before = fake_hub_tokens.fetches
    ext.broker.tokens = None
    fake_hub_tokens.delay = 0.5
    code = "from jupyter_ai_access.client import get_token\nprint(get_token(10**6)[:20])"
    outs = await asyncio.gather(*(run(jp_serverapp, k, code) for k in kernels))
    assert len({o.strip() for o in outs}) == 1
    assert fake_hub_tokens.fetches - before == 1


# ---------------------------------------------------------------- the endpoint's refusals
async def endpoint_case_for(ext) -> dict[str, Any]:
    await ext.broker.get()
    env = ext.store.add_kernel("k-live", ext.broker.tokens)
    dead = ext.store.add_kernel("k-dead", ext.broker.tokens)
    dead_secret = Path(dead[KernelEnv.SECRET_FILE]).read_text()
    ext.store.remove_kernel("k-dead")
    return {
        "url": ext.endpoint.url,
        "secret": Path(env[KernelEnv.SECRET_FILE]).read_text(),
        "dead": dead_secret,
        "port": ext.endpoint.port,
    }


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("good", 200),
        ("no-secret", 403),
        ("unknown-secret", 403),
        ("dead-kernel", 403),
        ("origin", 403),
        ("foreign-host", 403),
        ("x-forwarded-for", 403),
        ("forwarded", 403),
        ("x-forwarded-host", 403),
        ("basic-scheme", 403),
    ],
)
async def test_loopback_endpoint_refusals(jp_serverapp, ext, case, status, canaries):
    endpoint_case = await endpoint_case_for(ext)
    headers = {"Authorization": f"Bearer {endpoint_case['secret']}"}
    if case == "no-secret":
        headers = {}
    elif case == "unknown-secret":
        headers = {"Authorization": f"Bearer {canaries.secret('guess')}"}
    elif case == "dead-kernel":
        headers = {"Authorization": f"Bearer {endpoint_case['dead']}"}
    elif case == "origin":
        headers["Origin"] = "http://evil.example"
    elif case == "foreign-host":
        headers["Host"] = f"evil.example:{endpoint_case['port']}"
    elif case == "x-forwarded-for":
        headers["X-Forwarded-For"] = "203.0.113.7"
    elif case == "forwarded":
        headers["Forwarded"] = "for=203.0.113.7"
    elif case == "x-forwarded-host":
        headers["X-Forwarded-Host"] = "evil.example"
    elif case == "basic-scheme":
        headers["Authorization"] = f"Basic {endpoint_case['secret']}"
    client = AsyncHTTPClient(force_instance=True)
    response = await client.fetch(endpoint_case["url"], headers=headers, raise_error=False)
    client.close()
    assert response.code == status
    body = json.loads(response.body)
    if status == 200:
        assert body["token"].count(".") == 2
    else:
        assert "token" not in body
        assert canaries.find(response.body.decode()) == []


def listening_addresses(port: int) -> set[str]:
    """The local addresses (as /proc/net/tcp writes them) with a TCP listener on ``port``."""
    found = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        for line in table.read_text().splitlines()[1:] if table.exists() else []:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                found.add(address)
    return found


async def test_the_endpoint_listens_on_127_0_0_1_only(jp_serverapp, ext):
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux's /proc/net/tcp")
    assert listening_addresses(ext.endpoint.port) == {"0100007F"}  # 127.0.0.1, nothing else


# ---------------------------------------------------------------- files, status, extras
def test_token_files_are_replaced_atomically(tmp_path):
    target = tmp_path / "access_token"
    values = [("x" * 5000) + str(i) for i in range(200)]
    write_private_file(target, values[0])
    seen: set[str] = set()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.add(target.read_text())

    thread = threading.Thread(target=reader)
    thread.start()
    for value in values:
        write_private_file(target, value)
    stop.set()
    thread.join()
    assert seen <= set(values)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["access_token"]


async def test_browser_calls_never_receive_a_token(
    jp_serverapp, jp_fetch, ext, fake_hub_tokens, canaries
):
    await start_kernel(jp_serverapp)
    status = json.loads((await jp_fetch("ai-access", "api", "status")).body)
    assert status["user"] == "alice"
    assert status["groups"] == ["ml-training"]
    assert status["kernels_with_tokens"] == 1
    assert status["seconds_left"] > 3000
    page = (await jp_fetch("ai-access", "status")).body.decode()
    assert "Token status" in page and "alice" in page
    info = (await jp_fetch("ai-access", "api", "info")).body.decode()
    for text in (json.dumps(status), page, info):
        assert canaries.find(text) == []
        for token in fake_hub_tokens.issued:
            assert token not in text


async def test_optional_extras_token_env_and_no_hub_token(jp_serverapp, ext):
    ext.store.inject_token_env = True
    ext.store.remove_hub_token = True
    kernel_id = await start_kernel(jp_serverapp)
    out = await run(
        jp_serverapp,
        kernel_id,
        """
        import os
        print(os.environ.get("JUPYTER_AI_ACCESS_TOKEN", "")[:3], "JUPYTERHUB_API_TOKEN" in os.environ)
    """,
    )
    assert out.split() == ["eyJ", "False"]


async def test_without_extras_the_kernel_inherits_the_hub_token_and_no_token_value(
    jp_serverapp, ext
):
    kernel_id = await start_kernel(jp_serverapp)
    out = await run(
        jp_serverapp,
        kernel_id,
        """
        import os
        print("JUPYTER_AI_ACCESS_TOKEN" in os.environ, "JUPYTERHUB_API_TOKEN" in os.environ)
    """,
    )
    assert out.split() == ["False", "True"]


def test_token_dir_inside_the_contents_root_is_refused(tmp_path):
    from jupyter_ai_access.errors import ConfigurationError
    from jupyter_ai_access.server.store import KernelTokenStore

    store = KernelTokenStore(token_dir=str(tmp_path / "notebooks" / ".tokens"))
    with pytest.raises(ConfigurationError, match="inside the notebook contents root"):
        store.prepare(contents_root=str(tmp_path / "notebooks"))


def test_token_dir_owned_by_someone_else_or_a_link_is_refused(tmp_path):
    from jupyter_ai_access.errors import ConfigurationError
    from jupyter_ai_access.server.store import KernelTokenStore

    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(ConfigurationError, match="link or belongs to another user"):
        KernelTokenStore(token_dir=str(tmp_path / "link")).prepare()


# ---------------------------------------------------------------- another OS user
@pytest.fixture(scope="module")
def other_user() -> str:
    if os.geteuid() != 0:
        skip_or_fail("creating a second OS user needs root (CI runs as root)")
    name = "jaiaother"
    subprocess.run(
        ["useradd", "--no-create-home", "--shell", "/bin/sh", name],
        capture_output=True,
        check=False,
    )
    return name


async def test_another_os_user_cannot_read_files_or_use_the_endpoint(jp_serverapp, ext, other_user):
    kernel_id = await start_kernel(jp_serverapp)
    folder = ext.store.kernels[kernel_id]

    async def as_other(command: str) -> subprocess.CompletedProcess[str]:
        # In a thread: the endpoint runs on this event loop and must keep answering.
        return await asyncio.to_thread(
            subprocess.run,
            ["su", "-s", "/bin/sh", other_user, "-c", command],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    for name in ("access_token", "id_token", "secret"):
        result = await as_other(f"cat {folder / name}")
        assert result.returncode != 0
        assert "Permission denied" in result.stderr
    assert (await as_other(f"ls {folder}")).returncode != 0
    probe = (
        "import urllib.request,sys\n"
        f"r=urllib.request.Request('{ext.endpoint.url}')\n"
        "try:\n urllib.request.urlopen(r)\nexcept urllib.error.HTTPError as e:\n print(e.code)"
    )
    result = await as_other(f'/usr/bin/python3 -c "{probe}"')
    assert result.stdout.strip() == "403"
