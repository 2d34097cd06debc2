"""The status answer's contract: jupyter_ai_access/schemas/status.schema.json (JSON Schema 2020-12).

A real Jupyter server with the extension (the stand-in for the Hub's token endpoint of
test_delivery.py) is brought into each state the JupyterLab item shows; every answer of
``GET /ai-access/api/status`` must validate against the schema, and every state of the schema's
closed set must be reached. The Lab extension's side of the same contract: its TypeScript types
are generated from the schema (``npm run schema:check`` in labextension/, run by ./run-tests) and
its unit tests validate their fixtures against it (src/__tests__/contract.spec.ts).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jupyter_ai_access_testing.harness.ci import skip_or_fail

from jupyter_ai_access.errors import JupyterAIAccessError
from jupyter_ai_access.server.state import STATES

ROOT = Path(__file__).resolve().parents[1]


def schema() -> dict[str, Any]:
    """The schema as the installed package ships it."""
    text = files("jupyter_ai_access").joinpath("schemas/status.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def validator() -> Draft202012Validator:
    Draft202012Validator.check_schema(schema())
    return Draft202012Validator(schema())


@pytest.fixture
def hub_config() -> str:
    """Which server: "hub" (a Hub's token endpoint), "off" (no Hub) or "standalone"."""
    return "hub"


@pytest.fixture
def jp_server_config(hub_config, fake_hub_tokens, tmp_path):
    config: dict[str, Any] = {
        "ServerApp": {"jpserver_extensions": {"jupyter_ai_access": True}},
        "KernelTokenStore": {"token_dir": str(tmp_path / "kernel-tokens")},
    }
    if hub_config == "hub":
        config["TokenBroker"] = {
            "hub_api_url": fake_hub_tokens.url,
            "user": "alice",
            "renew_before": 20,
            "login_url": "https://hub.example.org/hub/login",
        }
    elif hub_config == "standalone":  # configured, never signed in (no request to Cognito)
        config["AIAccessApp"] = {"token_source": "standalone"}
        config["StandaloneSource"] = {
            "issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example",
            "domain": "https://example.auth.eu-west-1.amazoncognito.com",
            "client_id": "example-client",
            "protect_process": False,  # this is the test process
        }
    else:
        config["AIAccessApp"] = {"token_source": "hub"}
    return config


async def answer(jp_fetch) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((await jp_fetch("ai-access", "api", "status")).body)
    return body


async def renew(broker: Any) -> None:
    """Ask the Hub for tokens as a kernel would; a failure shows in the status, not here (the
    broker keeps still-valid tokens, or raises)."""
    with contextlib.suppress(JupyterAIAccessError):
        await broker.get(force=True)


def assert_valid(body: dict[str, Any], state: str) -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator().iter_errors(body)]
    assert errors == [], errors
    assert body["state"] == state


def test_the_schema_is_valid_and_its_states_are_the_servers():
    states = schema()["$defs"]["TokenState"]["enum"]
    assert set(states) == {*STATES, "signed-out"}
    properties = schema()["properties"]
    assert set(schema()["required"]) == set(properties)  # every field, always present
    assert schema()["additionalProperties"] is False


async def test_answers_from_a_hub_server_in_each_state_match_the_schema(
    jp_fetch,
    ext,
    fake_hub_tokens,
):
    broker = ext.broker
    assert_valid(await answer(jp_fetch), "renewing")  # nothing fetched yet
    await broker.get(force=True)
    fresh = await answer(jp_fetch)
    assert_valid(fresh, "fresh")
    assert fresh["groups"] and fresh["scope"] and isinstance(fresh["seconds_left"], int)

    fake_hub_tokens.status = 502  # the Hub says Cognito cannot be reached
    await renew(broker)
    assert_valid(await answer(jp_fetch), "cognito_unreachable")

    fake_hub_tokens.status = 403  # the server's role lacks the scope
    await renew(broker)
    assert_valid(await answer(jp_fetch), "scope_missing")

    fake_hub_tokens.status = 401  # logged out
    await renew(broker)
    ended = await answer(jp_fetch)
    assert_valid(ended, "ended")
    assert ended["session_ended"] is True and ended["login_url"]


async def test_an_answer_with_renewal_due_matches_the_schema(
    jp_fetch,
    ext,
    fake_hub_tokens,
):
    fake_hub_tokens.lifetime = 10  # shorter than renew_before (20 s): renewal due at once
    await ext.broker.get(force=True)
    body = await answer(jp_fetch)
    assert_valid(body, "renewing")
    assert body["signed_in"] is True and body["renew_at"] < body["now"]


async def test_an_answer_with_the_hub_down_matches_the_schema(
    jp_fetch,
    ext,
    fake_hub_tokens,
):
    await ext.broker.get(force=True)
    fake_hub_tokens.stop()
    await renew(ext.broker)
    body = await answer(jp_fetch)
    assert_valid(body, "hub_unreachable")
    assert body["last_error"] and body["expires_at"]


@pytest.mark.parametrize(
    ("hub_config", "state"),
    [
        pytest.param("off", "off", id="off"),
        pytest.param("standalone", "signed-out", id="signed-out"),
    ],
)
async def test_answers_without_a_hub_match_the_schema(jp_fetch, ext, hub_config, state):
    body = await answer(jp_fetch)
    assert_valid(body, state)
    assert body["under_jupyterhub"] is False


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("state", "unavailable", id="unknown-state"),
        pytest.param("version", "3", id="wrong-type"),
        pytest.param("token", "x", id="extra-field"),
    ],
)
async def test_the_schema_refuses_an_answer_the_lab_would_misread(
    jp_fetch,
    ext,
    field,
    value,
):
    await ext.broker.get()
    body = {**await answer(jp_fetch), field: value}
    assert not validator().is_valid(body)
    body = await answer(jp_fetch)
    del body["expires_at"]
    assert not validator().is_valid(body)


def test_the_lab_extension_types_are_generated_from_this_schema():
    """labextension/src/status.d.ts is json-schema-to-typescript's output for the schema (the
    extension's unit tests fail to compile if they disagree with those types)."""
    if not (ROOT / "labextension" / "node_modules" / "json-schema-to-typescript").is_dir():
        skip_or_fail("labextension/node_modules is not installed (run scripts/bootstrap)")
    node = os.environ.get("JUPYTER_AI_ACCESS_NODE") or shutil.which("node") or "node"
    result = subprocess.run(
        [node, "scripts/schema-types.mjs", "--check"],
        cwd=ROOT / "labextension",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
