"""pytest fixtures this repository's test modules share (loaded by ``tests/conftest.py``).

On top of the public plugin (:mod:`jupyter_ai_access_testing.pytest_plugin`):

- ``chain_hub_port`` (session): the port of the Hub that spawns real single-user servers (its
  callback is registered in the test pool by ``tests/conftest.py``);
- ``emulator_hub`` (session): a real Hub (configurable-http-proxy, token delivery) that logs in
  against the local emulator on ``hub_port``;
- ``scripted_hub`` (session): a real Hub that logs in against the crafted-answers issuer, whose
  token endpoint each test scripts through ``idp`` (an :class:`~.hubs.Idp`); it signs with
  ``scripted_factory``'s keys; refresh margin 300 s, no leeway;
- both session Hubs have a clock a test moves (``with hub.clock_ahead(seconds):``) instead of
  sleeping until a token is due for refresh or expired;
- ``local_aws`` (session): the local AWS emulator (moto, IAM enforced) seeded from the demo pool;
- ``ext``: the running extension of pytest-jupyter's in-process server (``jp_serverapp``);
- ``chromium_installed``: skips (fails under ``CI``) without Debian's chromium.

Every Hub's log and the emulators' logs are watched by the leak check.

Markers (registered in ``pyproject.toml``): ``hub`` (a real JupyterHub with
configurable-http-proxy), ``browser`` (headless Chromium), ``kernel`` (real kernels or a real
``jupyter lab`` process), ``slow`` (tens of seconds on its own). A test that uses a fixture
named ``*_hub`` or ``deployment`` (the convention for fixtures that start a real Hub or the
README's deployment) is marked ``hub`` here; the others are marked where they are written (a
module's ``pytestmark``). Every test with none of the four is marked ``quick``: unit and
single-process tests (the emulator, moto, an in-process Jupyter server), ``pytest -m quick``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_ai_access.demo.settings import DEMO_POOL_FILE
from jupyter_ai_access.local_cognito.process import RunningPool
from jupyter_ai_access.server.app import AIAccessApp

from ..canary import CanaryRegistry
from ..jwks_server import IssuerServer
from ..leaks import LeakWatcher
from ..ports import free_port
from ..tokens import SigningKey, TokenFactory
from .browser import require_chromium
from .hub import HubProcess
from .hubs import HUB_CLIENT, SCOPED_CALLERS, TOKEN_DELIVERY_CONFIG, Idp, scripted_issuer_config
from .local_aws import LocalAWS
from .whatwg import close_shared

HEAVY = ("hub", "browser", "kernel", "slow")
"""The markers of tests left out of the quick loop."""


def starts_a_hub(fixture: str) -> bool:
    """Whether a fixture of this name starts a real Hub (the suite's naming convention)."""
    return fixture.endswith("_hub") or fixture == "deployment"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that use a Hub fixture ``hub``, and every test with no heavy marker ``quick``.

    ``tryfirst``: before ``-m`` deselects by these markers.
    """
    for item in items:
        if any(starts_a_hub(name) for name in getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.hub)
        if not any(item.get_closest_marker(name) for name in HEAVY):
            item.add_marker(pytest.mark.quick)


@pytest.fixture(scope="session", autouse=True)
def _whatwg_parser_closed() -> Iterator[None]:
    """The shared Node URL parser (harness/whatwg.py) ends with the session, not at exit."""
    yield
    close_shared()


@pytest.fixture(scope="session")
def chain_hub_port() -> int:
    """The port of the Hub that spawns real single-user servers (tests/test_chain.py)."""
    return free_port()


@pytest.fixture(scope="session")
def emulator_hub(
    tmp_path_factory: pytest.TempPathFactory,
    local_cognito: RunningPool,
    hub_port: int,
    leak_watcher: LeakWatcher,
    canaries: CanaryRegistry,
) -> Iterator[HubProcess]:
    """A real Hub logging in against the local emulator (the test pool's ``hub`` client)."""
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
        clock=True,
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
def scripted_factory(
    _issuer_server_session: IssuerServer, canaries: CanaryRegistry
) -> TokenFactory:
    """The token factory whose keys the crafted issuer serves to ``scripted_hub``."""
    return TokenFactory(
        issuer=_issuer_server_session.issuer,
        canary=canaries.canary,
        id_key=SigningKey.rsa("hub-id-key"),
        access_key=SigningKey.rsa("hub-access-key"),
    )


@pytest.fixture(scope="session")
def scripted_hub(
    tmp_path_factory: pytest.TempPathFactory,
    _issuer_server_session: IssuerServer,
    scripted_factory: TokenFactory,
    leak_watcher: LeakWatcher,
    canaries: CanaryRegistry,
) -> Iterator[HubProcess]:
    """A real Hub logging in against the crafted-answers issuer (answers scripted by ``idp``)."""
    server = _issuer_server_session
    config = (
        scripted_issuer_config(server, scripted_factory.client_id, '{"ml-training", "ml-admins"}')
        + """c.CognitoOAuthenticator.admin_groups = {"ml-admins"}
c.CognitoOAuthenticator.refresh_margin = 300
c.CognitoOAuthenticator.leeway = 0
c.Authenticator.auth_refresh_age = 1
"""
        + TOKEN_DELIVERY_CONFIG
        + SCOPED_CALLERS
    )
    secret = canaries.secret("scripted-hub-secret")
    hub = HubProcess(
        tmp_path_factory.mktemp("scripted-hub"),
        config,
        env={"COGNITO_CLIENT_SECRET": secret},
        clock=True,
    )
    canaries.register(hub.env["JUPYTERHUB_CRYPT_KEY"], "JUPYTERHUB_CRYPT_KEY")
    leak_watcher.watch_file(hub.log_file)
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


@pytest.fixture
def idp(
    _issuer_server_session: IssuerServer, scripted_factory: TokenFactory, canaries: CanaryRegistry
) -> Idp:
    """Scripted answers of the crafted issuer for this test (counters reset)."""
    server = _issuer_server_session
    server.reset()
    server.factory = scripted_factory
    server.jwks = scripted_factory.jwks()
    return Idp(server, scripted_factory, canaries)


@pytest.fixture(scope="session")
def local_aws(
    tmp_path_factory: pytest.TempPathFactory, leak_watcher: LeakWatcher
) -> Iterator[LocalAWS]:
    """The local AWS emulator (moto, IAM enforced) seeded from the demo pool description."""
    log = tmp_path_factory.mktemp("local-aws") / "local-aws.log"
    pool = DEMO_POOL_FILE
    emulator = LocalAWS(pool, "4jupyterhubdemo0000000000a", log).start()
    leak_watcher.watch_file(log)
    yield emulator
    emulator.stop()


@pytest.fixture
def ext(jp_serverapp: Any) -> AIAccessApp:
    """The extension running in pytest-jupyter's in-process server."""
    app = AIAccessApp.active
    assert app is not None
    return app


@pytest.fixture
def chromium_installed() -> None:
    """Debian's chromium must be there; in CI a missing browser fails instead of skipping."""
    require_chromium()
