"""The plugins the suite runs with, and this suite's overrides of two of their fixtures.

Shared fixtures and helpers live in the harness (``testing/jupyter_ai_access_testing/harness``:
``plugin.py`` for fixtures, the other modules for helpers), never in a test module: no test
module imports another (tests/test_suite_shape.py checks it).
"""

from __future__ import annotations

import logging
from typing import Any

import httpcore  # noqa: F401 - see below
import pytest
from jupyter_ai_access_testing.leaks import observe
from tornado.httpclient import HTTPClientError

pytest_plugins = [
    "jupyter_ai_access_testing.pytest_plugin",
    "jupyter_ai_access_testing.harness.plugin",
    "pytest_jupyter.jupyter_server",
    "pytester",
]

# The test clients' own request logs: httpcore's chatter drowns failure reports, and httpx logs
# the URLs the tests send (some tests put secrets into URLs on purpose to check the product's
# logs). The product's loggers stay at DEBUG for the leak check.
logging.getLogger("httpcore").setLevel(logging.WARNING)
logging.getLogger("httpx").setLevel(logging.WARNING)

# httpx imports httpcore at its first client and keeps httpcore's exception classes to map them;
# pytester's in-process runs (tests/test_canary.py) unload every module first imported inside
# them. Were httpcore first imported there, later clients would get a fresh httpcore whose errors
# escape unmapped (httpcore.ConnectError where httpx.ConnectError is caught): hence the import
# above, before any test runs.


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


@pytest.fixture(scope="session")
def cognito_pool_description(cognito_pool_description, chain_hub_port) -> dict[str, Any]:
    """The plugin's test pool, with the chain Hub's callback and logout URLs registered too."""
    hub = f"http://127.0.0.1:{chain_hub_port}/hub"
    client = next(c for c in cognito_pool_description["app_clients"] if c["name"] == "hub")
    client["callback_urls"].append(f"{hub}/oauth_callback")
    client["logout_urls"].append(f"{hub}/logout-complete")
    return cognito_pool_description
