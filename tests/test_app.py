"""The server extension: auto-enabled by jupyter-config/, answers on a real Jupyter server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from tornado.httpclient import HTTPClientError

from jupyter_ai_access import __version__


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"jupyter_ai_access": True}}}


async def test_info_endpoint_reports_version_and_no_hub(jp_fetch):
    response = await jp_fetch("ai-access", "api", "info")
    body = json.loads(response.body)
    assert body == {
        "version": __version__,
        "under_jupyterhub": False,
        "token_source": "hub",
        "hub_api_url": None,
    }


async def test_info_endpoint_requires_authentication(jp_fetch):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("ai-access", "api", "info", headers={"Authorization": ""})
    assert info.value.code == 403


def test_extension_is_auto_enabled_by_the_installed_jupyter_config():
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_")}
    result = subprocess.run(
        [sys.executable, "-m", "jupyter_server", "extension", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=True,
    )
    plain = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # no colours
    lines = [ln.strip() for ln in plain.splitlines()]
    assert "jupyter_ai_access enabled" in lines
    assert f"jupyter_ai_access {__version__} OK" in lines  # it imported and validated


def test_entry_point_reserves_the_cognito_authenticator_name():
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="jupyterhub.authenticators") if e.name == "cognito"]
    assert ep.value == "jupyter_ai_access.hub.authenticator:CognitoOAuthenticator"
