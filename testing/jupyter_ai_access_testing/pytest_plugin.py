"""pytest fixtures: the local Cognito emulator, a token factory and the canary leak check.

Enable with ``pytest_plugins = ["jupyter_ai_access_testing.pytest_plugin"]``.

- ``canaries`` (session): the run's :class:`CanaryRegistry`; every test secret carries its canary.
- ``cognito_pool_description`` (session): a pool description whose passwords and client secrets
  carry the canary; short-lived clients for expiry tests; a "lab" client whose callback is a
  standalone Jupyter server's on ``lab_port`` (30 s tokens, for renewal).
- ``local_cognito`` (session): the emulator running that description on a free loopback port.
- ``token_factory`` (session): a :class:`TokenFactory` with keys generated for this session.
- ``issuer_server``: a loopback issuer (discovery + JWKS of ``token_factory``), reset per test.
- ``fake_hub_tokens``: a stand-in for the Hub's token endpoint (:class:`.fake_hub.FakeHubTokens`)
  serving alice tokens from ``issuer_server``'s factory; its API token is in
  ``$JUPYTERHUB_API_TOKEN`` (as JupyterHub gives it to a server), so a Jupyter server with the
  extension and ``TokenBroker.hub_api_url = fake_hub_tokens.url`` gets tokens from it.
- ``leak_watcher`` (session) and the leak check (autouse): after each test, everything the
  :class:`~.leaks.LeakWatcher` collected meanwhile is searched for the canary and registered
  secrets: every log record of every logger in this process (any level the logger lets through;
  traitlets application loggers included), the log files of the Hub, of what it spawns and of
  the emulator, changed files in watched folders (the Hub's database), HTTP answers and kernel
  outputs the test helpers hand in; and, on the teardown report, the test's captured stdout and
  stderr (which holds what kernels of in-process servers print). A hit fails the test, naming
  what leaked and where, never the value.
- Processes and accounts: SIGINT and SIGTERM unwind the session (fixtures stop what they
  started) whatever dispositions it inherited, and at its end whatever still runs under it and
  the system accounts it made are removed (:mod:`.cleanup`, :mod:`.processes`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest

from jupyter_ai_access.local_cognito.process import LocalCognito, RunningPool

from .canary import CanaryRegistry
from .fake_hub import FakeHubTokens
from .jwks_server import IssuerServer
from .leaks import LeakWatcher
from .ports import free_port
from .tokens import TokenFactory

__all__ = ["LeakWatcher"]

pytest_plugins = ["jupyter_ai_access_testing.cleanup"]  # processes and accounts (see there)

_CANARIES = pytest.StashKey[CanaryRegistry]()


@pytest.fixture(scope="session")
def canaries(pytestconfig: pytest.Config) -> CanaryRegistry:
    """The canary registry of this test session."""
    registry = CanaryRegistry()
    pytestconfig.stash[_CANARIES] = registry
    return registry


@pytest.fixture(scope="session")
def leak_watcher() -> Iterator[LeakWatcher]:
    """The session's :class:`LeakWatcher`: every log record of every logger, root at DEBUG."""
    watcher = LeakWatcher().install()
    root = logging.getLogger()
    old_level = root.level
    root.setLevel(logging.DEBUG)
    yield watcher
    root.setLevel(old_level)
    watcher.uninstall()


def _report(leaks: list[tuple[str, list[str]]]) -> str:
    detail = "; ".join(f"{', '.join(names)} in {where}" for where, names in leaks)
    return f"secret leaked: {detail}"


@pytest.fixture(autouse=True)
def _no_secret_leaks(leak_watcher: LeakWatcher, canaries: CanaryRegistry) -> Iterator[None]:
    """Fail the test when a canary or registered secret shows up in anything watched."""
    leak_watcher.take()  # what came before this test is not its fault
    yield
    leaks = [(where, canaries.find(text)) for where, text in leak_watcher.take()]
    leaks = [(where, names) for where, names in leaks if names]
    if leaks:
        pytest.fail(_report(leaks), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Fail a test whose captured stdout/stderr (its own, and its kernels') holds a secret.

    Looks at the teardown report, which carries what was captured in every phase. With pytest's
    default ``--capture=fd`` that includes child processes that inherited the test process's
    stdout and stderr: the kernels of in-process Jupyter servers. (``-s`` turns capture off.)
    """
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    registry = item.config.stash.get(_CANARIES, None)
    if report.when != "teardown" or registry is None:
        return
    leaks = [
        (title, names)
        for title, text in report.sections
        if title.startswith(("Captured stdout", "Captured stderr"))
        for names in [registry.find(text)]
        if names
    ]
    if leaks:
        message = _report(leaks)
        report.outcome = "failed"
        report.longrepr = f"{report.longrepr}\n{message}" if report.longrepr else message


@pytest.fixture(scope="session")
def hub_port() -> int:
    """The port of the test Hub that logs in against the local emulator (registered there)."""
    return free_port()


@pytest.fixture(scope="session")
def lab_port() -> int:
    """The port of the standalone Jupyter server that signs in against the emulator."""
    return free_port()


@pytest.fixture(scope="session")
def cognito_pool_description(
    canaries: CanaryRegistry, hub_port: int, lab_port: int
) -> dict[str, Any]:
    """A pool description for tests: canary-carrying secrets, 30 s and 60 s token clients."""

    def password(user: str) -> str:
        return canaries.secret(f"pw-{user}")

    callback = "http://127.0.0.1:8000/hub/oauth_callback"
    hub = f"http://127.0.0.1:{hub_port}/hub"
    return {
        "region": "us-east-1",
        "user_pool_id": "us-east-1_TestPool1",
        "groups": [{"name": "ml-training"}, {"name": "ml-admins"}],
        "users": [
            {
                "username": "alice",
                "password": password("alice"),
                "groups": ["ml-training", "ml-admins"],
                "attributes": {
                    "email": "alice@example.org",
                    "email_verified": True,
                    "custom:canary": canaries.canary,
                },
            },
            {
                "username": "bob",
                "password": password("bob"),
                "groups": ["ml-training"],
                "attributes": {"email": "bob@example.org", "email_verified": True},
            },
            {
                "username": "carol",
                "password": password("carol"),
                "attributes": {"email": "carol@example.org", "email_verified": False},
            },
            {"username": "dave", "password": password("dave"), "enabled": False},
        ],
        "resource_servers": [
            {
                "identifier": "ai-access",
                "scopes": [{"name": "datasets.read"}, {"name": "models.write"}],
            }
        ],
        "identity_providers": [
            {
                "name": "CorpOIDC",
                "type": "OIDC",
                "issuer": "https://idp.example.org",
                "attribute_mapping": {"username": "sub", "email": "email"},
                "users": [
                    {
                        "username": "erin",
                        "password": password("erin"),
                        "groups": ["ml-training"],
                        "attributes": {"email": "erin@corp.example.org"},
                    }
                ],
            }
        ],
        "app_clients": [
            {
                "name": "hub",
                "client_id": "hubclient00000000000000000",
                "client_secret": canaries.secret("hub-secret"),
                "allowed_oauth_flows": ["code"],
                "allowed_oauth_scopes": [
                    "openid",
                    "email",
                    "profile",
                    "ai-access/datasets.read",
                    "ai-access/models.write",
                ],
                "callback_urls": [callback, f"{hub}/oauth_callback"],
                "logout_urls": [
                    "http://127.0.0.1:8000/hub/logout-complete",
                    f"{hub}/logout-complete",
                ],
                "supported_identity_providers": ["COGNITO", "CorpOIDC"],
                "token_validity": {"access_token": 60, "id_token": 60, "refresh_token": 3600},
            },
            {
                "name": "short",
                "client_id": "shortclient000000000000000",
                "client_secret": canaries.secret("short-secret"),
                "allowed_oauth_flows": ["code"],
                "allowed_oauth_scopes": ["openid", "email"],
                "callback_urls": [callback],
                "token_validity": {"access_token": 30, "id_token": 30, "refresh_token": 3600},
            },
            {
                "name": "rotating",
                "client_id": "rotatingclient000000000000",
                "client_secret": canaries.secret("rotating-secret"),
                "allowed_oauth_flows": ["code"],
                "allowed_oauth_scopes": ["openid"],
                "callback_urls": [callback],
                "refresh_token_rotation": True,
            },
            {
                "name": "public",
                "client_id": "publicclient00000000000000",
                "allowed_oauth_flows": ["code"],
                "allowed_oauth_scopes": ["openid", "email"],
                "callback_urls": ["http://127.0.0.1:8888/callback"],
            },
            {
                "name": "lab",
                "client_id": "labclient00000000000000000",
                "client_secret": canaries.secret("lab-secret"),
                "allowed_oauth_flows": ["code"],
                "allowed_oauth_scopes": [
                    "openid",
                    "email",
                    "profile",
                    "ai-access/datasets.read",
                    "ai-access/models.write",
                ],
                "callback_urls": [
                    f"http://{host}:{lab_port}/ai-access/callback"
                    for host in ("127.0.0.1", "localhost")
                ],
                "logout_urls": [
                    f"http://{host}:{lab_port}/ai-access/status"
                    for host in ("127.0.0.1", "localhost")
                ],
                "token_validity": {"access_token": 30, "id_token": 30, "refresh_token": 3600},
            },
            {
                "name": "machine",
                "client_id": "machineclient0000000000000",
                "client_secret": canaries.secret("machine-secret"),
                "allowed_oauth_flows": ["client_credentials"],
                "allowed_oauth_scopes": ["ai-access/datasets.read"],
                "token_validity": {"access_token": 120},
            },
        ],
    }


@pytest.fixture(scope="session")
def local_cognito(
    tmp_path_factory: pytest.TempPathFactory,
    cognito_pool_description: dict[str, Any],
    leak_watcher: LeakWatcher,
) -> Iterator[RunningPool]:
    """The local Cognito emulator, running the test pool on a free loopback port."""
    import json

    folder = tmp_path_factory.mktemp("local-cognito")
    pool_file = folder / "pool.json"
    pool_file.write_text(json.dumps(cognito_pool_description), encoding="utf-8")
    emulator = LocalCognito(
        port=free_port(), pool_file=str(pool_file), state_dir=str(folder / "state")
    )
    running = emulator.start()
    leak_watcher.watch_file(running.log_file)
    try:
        yield running
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def token_factory(canaries: CanaryRegistry) -> TokenFactory:
    """Mints Cognito-shaped tokens with keys generated for this test session."""
    return TokenFactory(canary=canaries.canary)


@pytest.fixture(scope="session")
def _issuer_server_session() -> Iterator[IssuerServer]:
    server = IssuerServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def issuer_server(_issuer_server_session: IssuerServer, canaries: CanaryRegistry) -> IssuerServer:
    """A loopback issuer serving a fresh token factory's keys; counters reset for each test."""
    server = _issuer_server_session
    server.reset()
    server.factory = TokenFactory(issuer=server.issuer, canary=canaries.canary)
    server.jwks = server.factory.jwks()
    return server


@pytest.fixture
def fake_hub_tokens(
    issuer_server: IssuerServer, canaries: CanaryRegistry, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeHubTokens]:
    """A stand-in for the Hub's token endpoint for alice, tokens from ``issuer_server``."""
    hub = FakeHubTokens(
        issuer_server.factory, user="alice", api_token=canaries.secret("server-api-token")
    )
    # Like JupyterHub: the server's API token arrives in the environment, never in config
    # (jupyter_server logs its whole config at DEBUG).
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", hub.api_token)
    yield hub
    hub.stop()
