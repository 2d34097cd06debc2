"""Shared fixtures: the package's pytest plugin, pytest-jupyter's server fixtures, real Hubs."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_ai_access_testing.canary import CanaryRegistry
from jupyter_ai_access_testing.harness import deployment
from jupyter_ai_access_testing.harness.hub import HubProcess
from jupyter_ai_access_testing.harness.local_aws import LocalAWS
from jupyter_ai_access_testing.jwks_server import IssuerServer
from jupyter_ai_access_testing.leaks import observe
from jupyter_ai_access_testing.tokens import SigningKey, TokenFactory
from tornado.httpclient import HTTPClientError

pytest_plugins = [
    "jupyter_ai_access_testing.pytest_plugin",
    "pytest_jupyter.jupyter_server",
    "pytester",
]

# The test clients' own request logs: httpcore's chatter drowns failure reports, and httpx logs
# the URLs the tests send (some tests put secrets into URLs on purpose to check the product's
# logs). The product's loggers stay at DEBUG for the leak check.
logging.getLogger("httpcore").setLevel(logging.WARNING)
logging.getLogger("httpx").setLevel(logging.WARNING)


@pytest.fixture
def jp_fetch(jp_fetch):
    """pytest-jupyter's jp_fetch, with every answer (errors too) handed to the leak check."""

    async def fetch(*parts, **kwargs):
        where = f"HTTP answer to {kwargs.get('method', 'GET')} /{'/'.join(parts)}"
        try:
            response = await jp_fetch(*parts, **kwargs)
        except HTTPClientError as e:
            if e.response is not None:
                observe(f"{where} ({e.code})", e.response.body or b"")
            raise
        observe(where, response.body or b"")
        return response

    return fetch


# ---------------------------------------------------------------- real Hubs shared by test modules


@pytest.fixture(scope="session")
def chain_hub_port() -> int:
    """The port of the Hub that spawns real single-user servers (tests/test_chain.py)."""
    from jupyter_ai_access.local_cognito.process import find_free_port

    return find_free_port()


@pytest.fixture(scope="session")
def cognito_pool_description(cognito_pool_description, chain_hub_port) -> dict[str, Any]:
    """The plugin's test pool, with the chain Hub's callback and logout URLs registered too."""
    hub = f"http://127.0.0.1:{chain_hub_port}/hub"
    client = next(c for c in cognito_pool_description["app_clients"] if c["name"] == "hub")
    client["callback_urls"].append(f"{hub}/oauth_callback")
    client["logout_urls"].append(f"{hub}/logout-complete")
    return cognito_pool_description


MISSING = TokenFactory.MISSING
HUB_CLIENT = "hubclient00000000000000000"
# The shipped helper, as jupyterhub_config.py uses it.
TOKEN_DELIVERY_CONFIG = """
from jupyter_ai_access.hub.tokens_api import configure_token_delivery
configure_token_delivery(c, revocation_readers=["test-admin"])
"""
# These Hubs spawn no servers: their tests ask the token endpoint with tokens made through the
# API (the README's deployment keeps the default, "servers", and tests/test_attacks.py checks it).
SCOPED_CALLERS = """
c.CognitoOAuthenticator.token_endpoint_callers = "scoped"
"""


@pytest.fixture(scope="session")
def emulator_hub(
    tmp_path_factory, local_cognito, hub_port, cognito_pool_description, leak_watcher, canaries
) -> Iterator[HubProcess]:
    secret = local_cognito.client_secrets[HUB_CLIENT]
    config = (
        f"""
c.JupyterHub.authenticator_class = "cognito"
c.CognitoOAuthenticator.issuer = {local_cognito.issuer!r}
c.CognitoOAuthenticator.domain = {local_cognito.domain!r}
c.CognitoOAuthenticator.client_id = {HUB_CLIENT!r}
c.CognitoOAuthenticator.scope = ["openid", "email", "profile", "ai-access/datasets.read"]
c.CognitoOAuthenticator.allowed_groups = {{"ml-training", "ml-admins"}}
c.CognitoOAuthenticator.admin_groups = {{"ml-admins"}}
c.CognitoOAuthenticator.refresh_margin = 55
c.Authenticator.auth_refresh_age = 1
"""
        + TOKEN_DELIVERY_CONFIG
        + SCOPED_CALLERS
    )
    hub = HubProcess(
        tmp_path_factory.mktemp("emulator-hub"),
        config,
        env={"COGNITO_CLIENT_SECRET": secret},
        port=hub_port,
    )
    canaries.register(hub.env["JUPYTERHUB_CRYPT_KEY"], "JUPYTERHUB_CRYPT_KEY")
    canaries.register(hub.admin_token, "hub admin token")
    leak_watcher.watch_file(hub.log_file)
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture(scope="session")
def fake_factory(_issuer_server_session, canaries) -> TokenFactory:
    return TokenFactory(
        issuer=_issuer_server_session.issuer,
        canary=canaries.canary,
        id_key=SigningKey.rsa("hub-id-key"),
        access_key=SigningKey.rsa("hub-access-key"),
    )


@pytest.fixture(scope="session")
def fake_hub(
    tmp_path_factory, _issuer_server_session, fake_factory, leak_watcher, canaries
) -> Iterator[HubProcess]:
    server = _issuer_server_session
    config = (
        f"""
c.JupyterHub.authenticator_class = "cognito"
c.CognitoOAuthenticator.issuer = {server.issuer!r}
c.CognitoOAuthenticator.domain = "http://127.0.0.1:{server.port}"
c.CognitoOAuthenticator.client_id = {fake_factory.client_id!r}
c.CognitoOAuthenticator.allowed_groups = {{"ml-training", "ml-admins"}}
c.CognitoOAuthenticator.admin_groups = {{"ml-admins"}}
c.CognitoOAuthenticator.refresh_margin = 300
c.CognitoOAuthenticator.leeway = 0
c.Authenticator.auth_refresh_age = 1
"""
        + TOKEN_DELIVERY_CONFIG
        + SCOPED_CALLERS
    )
    secret = canaries.secret("fake-hub-secret")
    hub = HubProcess(
        tmp_path_factory.mktemp("fake-hub"), config, env={"COGNITO_CLIENT_SECRET": secret}
    )
    canaries.register(hub.env["JUPYTERHUB_CRYPT_KEY"], "JUPYTERHUB_CRYPT_KEY")
    leak_watcher.watch_file(hub.log_file)
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


class Idp:
    """Scripted answers of the crafted issuer for one test."""

    def __init__(self, server: IssuerServer, factory: TokenFactory, canaries: CanaryRegistry):
        self.server, self.factory, self.canaries = server, factory, canaries
        self.subs: dict[str, str] = {}
        self.refresh_tokens: list[str] = []

    def sub(self, user: str) -> str:
        return self.subs.setdefault(user, f"sub-{user}-{time.monotonic_ns()}")

    def tokens(
        self,
        user: str = "alice",
        *,
        nonce: Any = None,
        groups: Any = None,
        id_claims: dict | None = None,
        access_claims: dict | None = None,
        id_key: SigningKey | None = None,
        refresh: Any = "new",
        lifetime: int = 3600,
        **extra: Any,
    ) -> dict[str, Any]:
        now = int(time.time())
        groups = ["ml-training"] if groups is None else groups
        common = {
            "sub": self.sub(user),
            "iat": now,
            "exp": now + lifetime,
            "auth_time": now,
            "cognito__groups": groups,
        }
        id_over = {"cognito__username": user, **common, "nonce": nonce, **(id_claims or {})}
        access_over = {"username": user, **common, **(access_claims or {})}
        answer: dict[str, Any] = {
            "id_token": self.factory.mint("id", key=id_key, **id_over),
            "access_token": self.factory.mint("access", **access_over),
            "expires_in": lifetime,
            "token_type": "Bearer",
            **extra,
        }
        if refresh == "new":
            refresh = self.canaries.secret("refresh")
        if refresh:
            answer["refresh_token"] = refresh
            self.refresh_tokens.append(refresh)
        for key in ("id_token", "access_token"):
            self.canaries.register(answer[key], key)
        return answer

    def answer_with(self, make) -> None:
        def handler(form: dict[str, str], authorize: dict[str, str]):
            return make(form, authorize)

        self.server.token_handler = handler

    def login_ok(self, user: str = "alice", **kw: Any) -> None:
        self.answer_with(lambda form, auth: (200, self.tokens(user, nonce=auth.get("nonce"), **kw)))


@pytest.fixture
def idp(_issuer_server_session, fake_factory, canaries) -> Idp:
    server = _issuer_server_session
    server.reset()
    server.factory = fake_factory
    server.jwks = fake_factory.jwks()
    return Idp(server, fake_factory, canaries)


ROOT = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def local_deployment(
    tmp_path_factory, canaries, leak_watcher, **options: Any
) -> Iterator[dict[str, Any]]:
    """The README's deployment on free ports, with canary secrets, its log leak-checked."""
    folder = tmp_path_factory.mktemp("local-hub")
    with deployment.local_deployment(
        ROOT, folder, canaries, leak_watcher.watch_file, **options
    ) as hub:
        # What the users' servers and the example registry write (notebooks, uploaded models);
        # with one account per user the homes carry this run's account prefix.
        leak_watcher.watch_tree(folder / "state" / "users")
        leak_watcher.watch_tree(folder / "state" / "registry")
        if hub["isolated"]:
            for name in ("alice", "bob", "carol"):
                leak_watcher.watch_tree(Path("/home") / f"{hub['account_prefix']}{name}")
        yield hub


@pytest.fixture(scope="session")
def local_aws(tmp_path_factory, leak_watcher) -> Iterator[LocalAWS]:
    """The local AWS emulator (moto, IAM enforced) seeded from the demo pool description."""
    log = tmp_path_factory.mktemp("local-aws") / "local-aws.log"
    pool = ROOT / "jupyter_ai_access/local_cognito/demo-pool.json"
    emulator = LocalAWS(pool, "4jupyterhubdemo0000000000a", log).start()
    leak_watcher.watch_file(log)
    yield emulator
    emulator.stop()
