"""Audit events of the user's server, captured through a jupyter_events listener.

A real Jupyter server (pytest-jupyter) with the extension, real ipykernel kernels and the
loopback stand-in for the Hub's token endpoint (the fixtures of test_delivery.py). Every event
is checked against the canaries and the issued tokens: no field may hold a secret.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema.exceptions import ValidationError
from jupyter_ai_access_testing.harness.inprocess import run, server_config, start_kernel
from tornado.httpclient import AsyncHTTPClient

from jupyter_ai_access.server.events import SCHEMA_IDS, origin_jti_sha256

pytestmark = pytest.mark.kernel


@pytest.fixture
def jp_server_config(fake_hub_tokens, tmp_path):
    return server_config(fake_hub_tokens, tmp_path)


class Captured:
    """Every event of ours the server's EventLogger emits, as (short name, data)."""

    def __init__(self, event_logger: Any) -> None:
        self.event_logger = event_logger
        self.events: list[tuple[str, dict[str, Any]]] = []

    async def listener(self, logger: Any, schema_id: str, data: dict[str, Any]) -> None:
        self.events.append((schema_id.rsplit("/", 2)[-2], dict(data)))

    async def settle(self) -> list[tuple[str, dict[str, Any]]]:
        await self.event_logger.gather_listeners()
        return self.events

    async def named(self, name: str) -> list[dict[str, Any]]:
        return [data for kind, data in await self.settle() if kind == name]


@pytest.fixture
def captured(jp_serverapp, ext, canaries, fake_hub_tokens):
    capture = Captured(jp_serverapp.event_logger)
    for schema_id in SCHEMA_IDS.values():
        jp_serverapp.event_logger.add_listener(schema_id=schema_id, listener=capture.listener)
    yield capture
    for schema_id in SCHEMA_IDS.values():
        jp_serverapp.event_logger.remove_listener(schema_id=schema_id, listener=capture.listener)
    # The canary check over every field of every event of the test.
    text = json.dumps(capture.events)
    assert canaries.find(text) == []
    assert not [t for t in fake_hub_tokens.issued if t in text]


def _origin_jti(token: str) -> str:
    import base64

    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["origin_jti"]


async def test_kernel_launch_renewal_and_endpoint_deliveries_are_events(
    jp_serverapp,
    ext,
    fake_hub_tokens,
    captured,
):
    kernel_id = await start_kernel(jp_serverapp)
    (renewal,) = await captured.named("renewal")
    assert renewal["result"] == "ok" and renewal["via"] == "fetch" and renewal["user"] == "alice"
    assert renewal["duration_seconds"] >= 0
    (launch,) = await captured.named("tokens_delivered")
    first = fake_hub_tokens.issued[-1]
    assert launch == {
        "user": "alice",
        "kernel_id": kernel_id,
        "via": "launch",
        "kind": "both",
        "expires_at": ext.broker.tokens.expires_at,
        "origin_jti_sha256": hashlib.sha256(_origin_jti(first).encode()).hexdigest(),
    }

    await ext.broker.get(force=True)  # a renewal rewrites the kernel's files
    renewed = [e for e in await captured.named("tokens_delivered") if e["via"] == "renewal"]
    assert [e["kernel_id"] for e in renewed] == [kernel_id]
    assert renewed[0]["origin_jti_sha256"] == origin_jti_sha256(fake_hub_tokens.issued[-1])

    out = await run(
        jp_serverapp,
        kernel_id,
        "from jupyter_ai_access.client import get_token\nprint(len(get_token(force=True)) > 0)",
    )
    assert out.strip() == "True"
    served = [e for e in await captured.named("tokens_delivered") if e["via"] == "endpoint"]
    assert [(e["kernel_id"], e["kind"]) for e in served] == [(kernel_id, "access")]
    assert [e["result"] for e in await captured.named("renewal")] == ["ok", "ok", "ok"]


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        pytest.param({"Authorization": "Bearer not-a-secret"}, "bad_secret", id="bad-secret"),
        pytest.param({"Origin": "http://evil.example"}, "browser_origin", id="browser"),
        pytest.param({"X-Forwarded-For": "10.0.0.1"}, "proxied", id="proxied"),
        pytest.param({"Host": "evil.example"}, "wrong_host", id="rebinding"),
    ],
)
async def test_refusals_at_the_kernel_endpoint_are_events_without_the_secret(
    jp_serverapp,
    ext,
    captured,
    canaries,
    headers,
    reason,
):
    await start_kernel(jp_serverapp)
    headers = {k: v.replace("not-a-secret", canaries.secret("kernel")) for k, v in headers.items()}
    response = await AsyncHTTPClient().fetch(ext.endpoint.url, headers=headers, raise_error=False)
    assert response.code == 403
    (refusal,) = await captured.named("kernel_refusal")
    assert refusal == {"user": "alice", "reason": reason, "status": 403, "kernel_id": None}


async def test_a_kernel_asking_after_the_session_ended_is_an_event_with_its_kernel(
    jp_serverapp,
    ext,
    fake_hub_tokens,
    captured,
):
    kernel_id = await start_kernel(jp_serverapp)
    secret = Path(ext.store.kernels[kernel_id], "secret").read_text()
    fake_hub_tokens.status = 401
    for _ in range(2):  # the second time the session was already over: one session_ended
        response = await AsyncHTTPClient().fetch(
            ext.endpoint.url + "?force=1",
            headers={"Authorization": f"Bearer {secret}"},
            raise_error=False,
        )
        assert response.code == 401
    (ended,) = await captured.named("session_ended")  # the session watch may say it first
    assert ended == {
        "user": "alice",
        "via": ended["via"],
        "kernels": 1,
        "login_url": "https://hub.example.org/hub/login",
    }
    assert ended["via"] in ("watch", "fetch")
    refusals = await captured.named("kernel_refusal")
    assert [(r["reason"], r["status"], r["kernel_id"]) for r in refusals] == [
        ("session_ended", 401, kernel_id)
    ] * 2
    results = [e["result"] for e in await captured.named("renewal")]
    assert results[0] == "ok" and results[1:] and set(results[1:]) == {"session_ended"}


async def test_an_unreachable_cognito_is_a_renewal_event(
    jp_serverapp,
    ext,
    fake_hub_tokens,
    captured,
):
    await ext.broker.get()
    fake_hub_tokens.status = 503
    ext.broker.tokens = None  # expired: the next demand asks the Hub
    with pytest.raises(Exception, match="Cognito"):
        await ext.broker.get()
    failed = (await captured.named("renewal"))[-1]
    assert failed["result"] == "cognito_unreachable" and failed["expires_at"] is None


async def test_aws_credentials_helper_emits_role_and_expiry_and_the_schema_refuses_more(
    jp_serverapp,
    ext,
    captured,
):
    ext.events.aws_credentials_issued(
        role_arn="arn:aws:iam::123456789012:role/ml-training",
        expires_at=1_900_000_000,
        method="assume_role_with_web_identity",
        kernel_id="k1",
    )
    (issued,) = await captured.named("aws_credentials_issued")
    assert issued == {
        "user": "alice",
        "role_arn": "arn:aws:iam::123456789012:role/ml-training",
        "expires_at": 1_900_000_000.0,
        "method": "assume_role_with_web_identity",
        "kernel_id": "k1",
    }
    # No field outside the schema can carry a secret: the schemas forbid extra properties.
    with pytest.raises(ValidationError):
        jp_serverapp.event_logger.emit(
            schema_id=SCHEMA_IDS["aws_credentials_issued"],
            data={**issued, "secret_access_key": "x"},
        )


def test_every_schema_is_versioned_closed_and_names_no_secret_field():
    import yaml

    from jupyter_ai_access.server.events import SCHEMAS_DIR

    for name, schema_id in SCHEMA_IDS.items():
        schema = yaml.safe_load((SCHEMAS_DIR / name / "v1.yaml").read_text())
        assert schema["$id"] == schema_id and schema["version"] == "1"
        assert schema["additionalProperties"] is False
        fields = set(schema["properties"])
        assert not {f for f in fields if "token" in f or "secret" in f or "key" in f}, fields
