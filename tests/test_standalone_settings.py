"""The standalone sign-in's settings: $COGNITO_* defaults, refusals that name the setting, and the
Location rewriting of the served user-pool domain."""

from __future__ import annotations

import os

import pytest
from traitlets.config import Config

from jupyter_ai_access.errors import ConfigurationError
from jupyter_ai_access.server.domain_proxy import browser_location
from jupyter_ai_access.server.standalone import StandaloneSource

ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123xyz"
DOMAIN = "https://team.auth.eu-west-1.amazoncognito.com"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("COGNITO_"):
            monkeypatch.delenv(name)


def source(**settings) -> StandaloneSource:
    return StandaloneSource(config=Config({"StandaloneSource": settings}), base_url="/u/")


def test_defaults_come_from_cognito_variables_and_the_secret_leaves_the_environment(monkeypatch):
    monkeypatch.setenv("COGNITO_REGION", "eu-west-1")
    monkeypatch.setenv("COGNITO_USER_POOL_ID", "eu-west-1_AbC123xyz")
    monkeypatch.setenv("COGNITO_DOMAIN", DOMAIN + "/")
    monkeypatch.setenv("COGNITO_CLIENT_ID", "abc")
    monkeypatch.setenv("COGNITO_CLIENT_SECRET", "s3cret")
    monkeypatch.setenv("COGNITO_SCOPES", "openid ai-access/datasets.read")
    s = StandaloneSource(connection_url="http://localhost:8888/")
    assert (s.issuer, s.domain, s.client_id) == (ISSUER, DOMAIN, "abc")
    assert s.scope == ["openid", "ai-access/datasets.read"]
    assert "COGNITO_CLIENT_SECRET" not in os.environ  # kernels and terminals cannot inherit it
    assert s.login_url == "http://localhost:8888/ai-access/login"
    s.validate_settings("/")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        pytest.param(
            {"domain": DOMAIN, "client_id": "a"}, "StandaloneSource.issuer is not set", id="issuer"
        ),
        pytest.param(
            {"issuer": ISSUER, "client_id": "a"}, "StandaloneSource.domain is not set", id="domain"
        ),
        pytest.param(
            {"issuer": ISSUER, "domain": DOMAIN},
            "StandaloneSource.client_id is not set",
            id="client",
        ),
        pytest.param(
            {"issuer": ISSUER, "domain": "http://team.example.org", "client_id": "a"},
            "StandaloneSource.domain 'http://team.example.org' must be an https:// URL",
            id="plain-http",
        ),
        pytest.param(
            {
                "issuer": ISSUER,
                "domain": "http://127.0.0.1:9/x",
                "client_id": "a",
                "serve_domain": True,
            },
            "StandaloneSource.serve_domain needs StandaloneSource.domain on loopback with the path "
            "/u/ai-access/cognito",
            id="served-domain-elsewhere",
        ),
        pytest.param(
            {
                "issuer": ISSUER,
                "region": "eu-west-1",
                "user_pool_id": "eu-west-1_Other1",
                "domain": DOMAIN,
                "client_id": "a",
            },
            "contradicts StandaloneSource.region/user_pool_id",
            id="contradiction",
        ),
    ],
)
def test_a_wrong_setting_is_named(settings, message):
    with pytest.raises(ConfigurationError, match="StandaloneSource") as refused:
        source(**settings).validate_settings("/u/")
    assert message in str(refused.value)


def test_scope_must_include_openid():
    with pytest.raises(ConfigurationError, match=r"StandaloneSource.scope must include 'openid'"):
        source(scope=["email"])


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        pytest.param(
            "http://127.0.0.1:9229/u/ai-access/cognito/login?interaction=x",
            "/u/ai-access/cognito/login?interaction=x",
            id="emulator",
        ),
        pytest.param(
            "http://127.0.0.1:8888/u/ai-access/callback?code=c&state=s",
            "/u/ai-access/callback?code=c&state=s",
            id="callback",
        ),
        pytest.param("/u/ai-access/cognito/login", "/u/ai-access/cognito/login", id="path"),
        pytest.param(
            "http://127.0.0.1:8888/other/", "http://127.0.0.1:8888/other/", id="outside-base-url"
        ),
        pytest.param("https://evil.example/u/x", "https://evil.example/u/x", id="not-loopback"),
    ],
)
def test_the_served_domain_keeps_the_browser_on_its_origin(location, expected):
    assert browser_location(location, "/u/") == expected
