"""The AWS exchange's settings and pure pieces: validation naming the setting, role choice,
session names, AWS's error answers (from a loopback stand-in for AWS)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from tornado import web
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from jupyter_ai_access.errors import AWSRefusedError, AWSUnavailableError, ConfigurationError
from jupyter_ai_access.server.aws.broker import AWSCredentialBroker
from jupyter_ai_access.server.aws.exchange import (
    assume_role_with_web_identity,
    identity_pool_credentials,
    role_session_name,
)
from jupyter_ai_access.server.broker import TokenBroker

ROLE = "arn:aws:iam::123456789012:role/ml-training"


@pytest.fixture(autouse=True)
def _no_aws_environment(monkeypatch):
    for name in (
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_STS",
        "COGNITO_ISSUER",
        "COGNITO_USER_POOL_ID",
        "JUPYTER_AI_ACCESS_AWS_EXCHANGE",
        "JUPYTER_AI_ACCESS_AWS_GROUP_ROLES",
        "AWS_COGNITO_IDENTITY_POOL_ID",
    ):
        monkeypatch.delenv(name, raising=False)


def broker(**settings) -> AWSCredentialBroker:
    return AWSCredentialBroker(TokenBroker(), **settings)


@pytest.mark.parametrize(
    ("trait", "value"),
    [
        ("region", "mars-north-1a"),
        ("user_pool_id", "not-a-pool"),
        ("identity_pool_id", "no colon"),
        ("custom_role_arn", "arn:aws:iam::123:user/x"),
        ("default_role_arn", "role/x"),
        ("group_roles", {"ml-training": "not-an-arn"}),
        ("duration_seconds", 10),
        ("sts_endpoint_url", "http://sts.example.org"),
        ("cognito_identity_endpoint_url", "ftp://127.0.0.1"),
    ],
)
def test_bad_settings_are_refused_naming_class_trait_and_value(trait, value):
    with pytest.raises(ConfigurationError) as e:
        broker(**{trait: value})
    assert str(e.value).startswith(f"AWSCredentialBroker.{trait} = ")
    shown = next(iter(value.values())) if isinstance(value, dict) else value
    assert repr(shown) in str(e.value) or str(shown) in str(e.value)


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"exchange": "identity_pool", "region": "eu-west-1"}, "identity_pool_id"),
        ({"exchange": "web_identity"}, "AWSCredentialBroker.region"),
        (
            {"exchange": "web_identity", "region": "eu-west-1", "duration_seconds": 600},
            "STS refuses below 900",
        ),
        ({"exchange": "web_identity", "region": "eu-west-1", "renew_before": 3600}, "renew_before"),
    ],
)
def test_configurations_that_cannot_work_are_refused_at_start(settings, words):
    with pytest.raises(ConfigurationError, match=words):
        broker(**settings).check()


def test_defaults_come_from_the_environment_and_the_issuer(monkeypatch):
    monkeypatch.setenv("COGNITO_ISSUER", "http://127.0.0.1:9229/us-east-1_LocalDemo")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9230")
    monkeypatch.setenv("JUPYTER_AI_ACCESS_AWS_EXCHANGE", "web_identity")
    monkeypatch.setenv("JUPYTER_AI_ACCESS_AWS_GROUP_ROLES", json.dumps({"ml-training": ROLE}))
    b = broker()
    assert (b.exchange, b.region, b.user_pool_id) == (
        "web_identity",
        "us-east-1",
        "us-east-1_LocalDemo",
    )
    assert b.login_provider == "cognito-idp.us-east-1.amazonaws.com/us-east-1_LocalDemo"
    assert b.sts_endpoint_url == b.cognito_identity_endpoint_url == "http://127.0.0.1:9230"
    assert b.group_roles == {"ml-training": ROLE}
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert broker(region="eu-west-1").sts_endpoint_url == "https://sts.eu-west-1.amazonaws.com"
    monkeypatch.setenv("JUPYTER_AI_ACCESS_AWS_GROUP_ROLES", "[1]")
    with pytest.raises(ConfigurationError, match=r"AWSCredentialBroker\.group_roles"):
        broker().check()


@pytest.mark.parametrize(
    ("username", "session"),
    [
        ("alice", "alice"),
        ("alice@example.org", "alice@example.org"),
        ("Ünïcode user/with:odd chars", "-n-code-user-with-odd-chars"),
        ("x", "x-"),
        ("a" * 80, "a" * 64),
        ("CorpOIDC_erin+ml=1,2", "CorpOIDC_erin+ml=1,2"),
    ],
)
def test_role_session_names_are_sanitised(username, session):
    assert role_session_name(username) == session


def test_role_choice_group_roles_first_then_the_tokens_role_claims():
    publishers = "arn:aws:iam::123456789012:role/pub"
    b = broker(group_roles={"ml-publishers": publishers, "ml-training": ROLE})
    assert b.choose_role({"cognito:groups": ["ml-training", "ml-publishers"]}) == publishers
    assert b.choose_role({"cognito:groups": ["ml-training"]}) == ROLE
    assert b.choose_role({"cognito:groups": ["hub-admins"]}) == ""
    claims = {"cognito:preferred_role": publishers, "cognito:roles": [ROLE, publishers]}
    assert broker().choose_role(claims) == publishers
    assert broker().choose_role({"cognito:roles": [ROLE]}) == ROLE
    assert broker().choose_role({"cognito:roles": [ROLE, publishers]}) == ""
    assert broker(default_role_arn=ROLE).choose_role({}) == ROLE


# ---------------------------------------------------------------- AWS's answers, from a stand-in
ANSWERS: dict[str, tuple[int, str, str]] = {}
SEEN: list[dict[str, str]] = []


class FakeAWS(web.RequestHandler):
    def post(self) -> None:
        SEEN.append(
            {
                "target": self.request.headers.get("X-Amz-Target", ""),
                "body": self.request.body.decode(),
            }
        )
        status, content_type, body = ANSWERS[self.request.headers.get("X-Amz-Target", "sts")]
        self.set_status(status)
        self.set_header("Content-Type", content_type)
        self.finish(body)


@pytest.fixture
def fake_aws(jp_asyncio_loop) -> Iterator[str]:
    ANSWERS.clear()
    SEEN.clear()
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(web.Application([("/", FakeAWS)]))
    server.add_sockets(sockets)
    yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    server.stop()


STS_ERROR = """<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>
<Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error></ErrorResponse>"""


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (
            403,
            STS_ERROR.format(code="AccessDenied", message="Not authorized"),
            AWSRefusedError,
            "AccessDenied: Not authorized",
        ),
        (
            400,
            STS_ERROR.format(code="InvalidIdentityToken", message="No OpenIDConnect provider"),
            AWSRefusedError,
            "InvalidIdentityToken",
        ),
        (
            400,
            STS_ERROR.format(code="Throttling", message="Rate exceeded"),
            AWSUnavailableError,
            "Throttling",
        ),
        (503, "<html>down</html>", AWSUnavailableError, "HTTP 503"),
        (200, '<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', AWSUnavailableError, "not XML"),
        (200, "<AssumeRoleWithWebIdentityResponse/>", AWSUnavailableError, "without usable"),
    ],
)
async def test_sts_answers_become_precise_errors(fake_aws, status, body, error, words):
    ANSWERS["sts"] = (status, "text/xml", body)
    http = AsyncHTTPClient(force_instance=True)
    with pytest.raises(error, match=words):
        await assume_role_with_web_identity(
            http,
            fake_aws,
            role_arn=ROLE,
            session_name="alice",
            id_token="tok.en.x",
            duration=900,
            timeout=5,
        )
    http.close()


async def test_identity_pool_requests_carry_the_login_and_the_custom_role(fake_aws):
    ANSWERS["AWSCognitoIdentityService.GetId"] = (
        200,
        "application/x-amz-json-1.1",
        json.dumps({"IdentityId": "us-east-1:abc"}),
    )
    ANSWERS["AWSCognitoIdentityService.GetCredentialsForIdentity"] = (
        200,
        "application/x-amz-json-1.1",
        json.dumps(
            {
                "IdentityId": "us-east-1:abc",
                "Credentials": {
                    "AccessKeyId": "ASIA1",
                    "SecretKey": "s",
                    "SessionToken": "t",
                    "Expiration": 1.9e9,
                },
            }
        ),
    )
    http = AsyncHTTPClient(force_instance=True)
    issued = await identity_pool_credentials(
        http,
        fake_aws,
        identity_pool_id="us-east-1:pool",
        id_token="id.tok.en",
        login_provider="cognito-idp.us-east-1.amazonaws.com/us-east-1_LocalDemo",
        custom_role_arn=ROLE,
        timeout=5,
    )
    http.close()
    assert (issued.principal, issued.expires_at) == ("us-east-1:abc", 1.9e9)
    assert issued.container_answer()["Expiration"] == "2030-03-17T17:46:40Z"
    get_id, get_credentials = (json.loads(s["body"]) for s in SEEN)
    logins = {"cognito-idp.us-east-1.amazonaws.com/us-east-1_LocalDemo": "id.tok.en"}
    assert get_id == {"IdentityPoolId": "us-east-1:pool", "Logins": logins}
    assert get_credentials == {
        "IdentityId": "us-east-1:abc",
        "Logins": logins,
        "CustomRoleArn": ROLE,
    }
    assert "SecretAccessKey" not in repr(issued) and "ASIA1" not in repr(issued)
