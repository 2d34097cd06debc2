"""Per-resource tokens in kernels: audience-bound tokens from the server, the URL map, the switch.

A real Jupyter server in the test process (pytest-jupyter) with the extension, real ipykernel
kernels, and the STAND-IN Hub (jupyter_ai_access_testing.fake_hub) serving the exchange endpoint
(``HUB_EXCHANGE_PATH``: tokens with ``aud``, ``act`` and the asked scopes, refusals when told).
The whole chain with the emulator's exchange and the real Hub: tests/test_chain.py's kind.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_ai_access_testing.harness.inprocess import run, server_config, start_kernel
from tornado import web
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from jupyter_ai_access.errors import SessionEndedError
from jupyter_ai_access.protocol import KernelEnv

pytestmark = pytest.mark.kernel

AUDIENCES = ("model-registry", "data-service", "tracker")

#: Kernel code: the claims a token carries that the tests look at (never the token itself).
CLAIMS = """
import base64, json
def claims(token):
    body = token.split(".")[1]
    c = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return {k: c.get(k) for k in ("aud", "act", "scope", "exp")}
"""


@pytest.fixture
def echo(jp_asyncio_loop) -> Iterator[str]:
    """A loopback service that answers which audience the bearer token it got is bound to."""

    class Echo(web.RequestHandler):
        def get(self, _: str) -> None:
            header = self.request.headers.get("Authorization", "")
            if not header.startswith("Bearer "):
                self.finish({"aud": "no token"})
                return
            body = header.split(".")[1]
            import base64

            claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            self.finish({"aud": claims.get("aud", "broad")})

    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(web.Application([("/(.*)", Echo)]))
    server.add_sockets(sockets)
    yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    server.stop()


def _config(fake_hub_tokens, tmp_path, **store):
    config = server_config(fake_hub_tokens, tmp_path)
    config["KernelTokenStore"].update(store)
    return config


@pytest.fixture
def jp_server_config(request, fake_hub_tokens, tmp_path, echo):
    store = dict(getattr(request, "param", {}))
    store.setdefault(
        "audiences",
        {
            f"{echo}/registry/": "model-registry",
            f"{echo}/data/": {"audience": "data-service", "scopes": ["data-service/read"]},
        },
    )
    return _config(fake_hub_tokens, tmp_path, **store)


async def test_a_kernel_gets_a_token_bound_to_the_audience_with_the_actor(
    jp_serverapp, ext, fake_hub_tokens
):
    kernel_id = await start_kernel(jp_serverapp)
    out = await run(
        jp_serverapp,
        kernel_id,
        CLAIMS
        + """
from jupyter_ai_access.client import get_token
c = claims(get_token(audience="model-registry", scopes=["model-registry/read"]))
again = get_token(audience="model-registry", scopes=["model-registry/read"])
print(json.dumps({**c, "same": claims(again) == c}))
""",
    )
    got = json.loads(out)
    assert got["aud"] == "model-registry"
    assert got["act"]["client_id"] == fake_hub_tokens.actor
    assert got["scope"] == "model-registry/read"
    assert got["same"] is True  # the second call is served from the kernel's cache
    assert fake_hub_tokens.exchanges == {("model-registry", "model-registry/read"): 1}


async def test_the_cli_prints_a_per_resource_token(jp_serverapp, ext, fake_hub_tokens):
    kernel_id = await start_kernel(jp_serverapp)
    out = await run(
        jp_serverapp,
        kernel_id,
        CLAIMS
        + """
import subprocess, sys
cmd = [sys.executable, "-m", "jupyter_ai_access.cli", "token", "--audience", "tracker",
       "--scope", "tracker/write", "--scope", "tracker/read"]
done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
c = claims(done.stdout.strip())
print(c["aud"], c["scope"], done.returncode)
bad = subprocess.run(cmd[:4] + ["--scope", "x"], capture_output=True, text=True, timeout=60)
print(bad.returncode, bad.stderr.strip())
""",
    )
    first, second = out.strip().splitlines()
    assert first == "tracker tracker/read tracker/write 0"
    assert second == "1 error: --scope goes with --audience (TokenApp.audience)"
    assert fake_hub_tokens.exchanges == {("tracker", "tracker/read tracker/write"): 1}


async def test_twenty_kernels_and_three_audiences_make_one_exchange_per_key(
    jp_serverapp, ext, fake_hub_tokens
):
    """The endpoint and broker alone: 20 live secrets (no kernel processes) ask at once."""
    await ext.broker.get()
    envs = [ext.store.add_kernel(f"k{i}", ext.broker.tokens) for i in range(20)]
    fake_hub_tokens.delay = 0.3
    client = AsyncHTTPClient(force_instance=True, max_clients=80)

    async def ask(env: dict[str, str], audience: str) -> tuple[str, str]:
        secret = Path(env[KernelEnv.SECRET_FILE]).read_text()
        url = f"{ext.endpoint.url}?audience={audience}&scope={audience}/read&min_valid=10"
        response = await client.fetch(url, headers={"Authorization": f"Bearer {secret}"})
        answer = json.loads(response.body)
        assert answer["audience"] == audience and answer["scope"] == [f"{audience}/read"]
        return audience, hashlib.sha256(answer["token"].encode()).hexdigest()[:12]  # no token

    got = await asyncio.gather(*(ask(env, a) for env in envs for a in AUDIENCES))
    assert len(set(got)) == 3  # one token per audience, shared by every kernel
    assert fake_hub_tokens.exchanges == {(a, f"{a}/read"): 1 for a in AUDIENCES}
    # asked again: served from the broker's cache, no request to the Hub
    await asyncio.gather(*(ask(env, a) for env in envs[:3] for a in AUDIENCES))
    assert fake_hub_tokens.exchange_count == 3
    client.close()


async def test_requests_auth_picks_the_token_by_the_url_map(jp_serverapp, ext, echo):
    kernel_id = await start_kernel(jp_serverapp)
    out = await run(
        jp_serverapp,
        kernel_id,
        f"""
import json, requests
from jupyter_ai_access.client import RequestsAuth
auth = RequestsAuth()
for path in ("/registry/models/1", "/data/rows", "/elsewhere", "/registry-not/x"):
    print(requests.get({echo!r} + path, auth=auth).json()["aud"])
print(requests.get({echo!r} + "/elsewhere", auth=RequestsAuth(audience="tracker")).json()["aud"])
""",
    )
    assert out.split() == ["model-registry", "data-service", "broad", "broad", "tracker"]


async def test_httpx_auth_picks_the_token_by_the_url_map(jp_serverapp, ext, echo):
    kernel_id = await start_kernel(jp_serverapp)
    out = await run(
        jp_serverapp,
        kernel_id,
        f"""
import httpx
from jupyter_ai_access.client import HttpxAuth
with httpx.Client(auth=HttpxAuth()) as client:
    for path in ("/registry/m", "/data/rows", "/other"):
        print(client.get({echo!r} + path).json()["aud"])
""",
    )
    assert out.split() == ["model-registry", "data-service", "broad"]


@pytest.mark.parametrize("jp_server_config", [{"broad_token": False}], indirect=True)
async def test_without_the_broad_token_no_file_and_audience_required(jp_serverapp, ext, echo):
    kernel_id = await start_kernel(jp_serverapp)
    folder = ext.store.kernels[kernel_id]
    assert not (folder / "access_token").exists()
    assert not (folder / "id_token").exists()
    out = await run(
        jp_serverapp,
        kernel_id,
        f"""
import requests
from jupyter_ai_access.client import RequestsAuth, get_token
from jupyter_ai_access.errors import AudienceRequiredError
try:
    get_token()
except AudienceRequiredError as e:
    print("REFUSED", e)
for path in ("/registry/m", "/elsewhere"):
    print(requests.get({echo!r} + path, auth=RequestsAuth()).json()["aud"].replace(" ", "_"))
""",
    )
    lines = out.strip().splitlines()
    assert lines[0].startswith("REFUSED") and "KernelTokenStore.broad_token" in lines[0]
    assert "get_token(audience=" in lines[0]
    assert lines[1:] == ["model-registry", "no_token"]


async def test_a_refused_audience_says_who_decides(jp_serverapp, ext, fake_hub_tokens):
    fake_hub_tokens.refused_audiences = {"tracker"}
    kernel_id = await start_kernel(jp_serverapp)
    out = await run(
        jp_serverapp,
        kernel_id,
        """
from jupyter_ai_access.client import get_token
from jupyter_ai_access.errors import AudienceRefusedError
try:
    get_token(audience="tracker")
except AudienceRefusedError as e:
    print(e)
""",
    )
    assert "'tracker'" in out
    assert "CognitoOAuthenticator.exchange_policy" in out


async def test_session_end_withdraws_per_resource_tokens(jp_serverapp, ext, fake_hub_tokens):
    kernel_id = await start_kernel(jp_serverapp)
    get = "from jupyter_ai_access.client import get_token\nget_token(audience='tracker')\n"
    await run(jp_serverapp, kernel_id, get)  # cached by the broker and in the kernel
    assert ext.broker.exchanged.entries
    fake_hub_tokens.status = 401
    with pytest.raises(SessionEndedError):
        await ext.broker.get(force=True)
    assert ext.broker.exchanged.entries == {}
    with pytest.raises(SessionEndedError):
        await ext.broker.get_exchanged("tracker")
    out = await run(
        jp_serverapp,
        kernel_id,
        """
from jupyter_ai_access.client import get_token
from jupyter_ai_access.errors import SessionEndedError
try:
    get_token(audience="tracker")
    print("STILL SERVED")
except SessionEndedError as e:
    print(e.login_url)
""",
    )
    assert out.strip() == "https://hub.example.org/hub/login"


async def test_the_broker_renews_ahead_and_serves_the_valid_token_while_the_hub_is_down(
    jp_serverapp, ext, fake_hub_tokens
):
    fake_hub_tokens.exchange_lifetime = 15  # within renew_before (20 s) from the start
    broker = ext.broker
    first = await broker.get_exchanged("tracker", min_valid=0)
    again = await broker.get_exchanged("tracker", min_valid=0)
    assert again == first  # renewal due, but just tried: no request per kernel meanwhile
    assert fake_hub_tokens.exchange_count == 1
    broker.exchanged.retry_after = 0.0
    renewed = await broker.get_exchanged("tracker", min_valid=0)
    assert renewed.access_token != first.access_token  # renewed ahead of its expiry
    assert fake_hub_tokens.exchange_count == 2
    fake_hub_tokens.status = 503
    served = await broker.get_exchanged("tracker", min_valid=0)
    assert served == renewed  # the Hub is down: the still-valid token is served
    assert fake_hub_tokens.exchange_count == 3


@pytest.mark.slow
async def test_per_resource_tokens_renew_across_two_lifetimes(jp_serverapp, ext, fake_hub_tokens):
    fake_hub_tokens.exchange_lifetime = 30  # renew_before 20: renewed when < 20 s are left
    kernel_id = await start_kernel(jp_serverapp)
    out = await run(
        jp_serverapp,
        kernel_id,
        CLAIMS
        + """
import time
from jupyter_ai_access.client import get_token
seen = []
for i in range(3):
    c = claims(get_token(5, audience="data-service"))
    seen.append(c["exp"])
    print(c["aud"], c["exp"] - time.time() > 5, flush=True)
    if i < 2:
        time.sleep(26)
print(len(set(seen)))
""",
        timeout=120,
    )
    lines = out.strip().splitlines()
    assert lines[:3] == ["data-service True"] * 3
    assert lines[3] == "3"  # a new token each lifetime
    assert fake_hub_tokens.exchanges[("data-service", "")] >= 3


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"registry.example/": "model-registry"}, "absolute http(s) URL prefix"),
        ({"https://registry.example/": ""}, "non-empty string"),
        ({"https://registry.example/": {"audience": "a", "scopes": "a/read"}}, "list of strings"),
        ({"https://registry.example/": {"aud": "a"}}, "give an audience"),
    ],
)
def test_a_bad_url_map_names_the_setting(value, problem):
    from traitlets import TraitError

    from jupyter_ai_access.server.store import KernelTokenStore

    with pytest.raises(TraitError, match=r"KernelTokenStore\.audiences\[") as refused:
        KernelTokenStore(audiences=value)
    assert problem in str(refused.value)
    good = KernelTokenStore(audiences={"https://r.example/": {"audience": "r", "scopes": ["r/a"]}})
    assert good.audiences == {"https://r.example/": {"audience": "r", "scopes": ["r/a"]}}
