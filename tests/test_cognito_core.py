"""One Cognito core: the Hub and the standalone server refuse a hostile IdP through the same code.

A real HTTP server on loopback plays a user pool that misbehaves at its token endpoint (an answer
far past the size cap, a redirect elsewhere) or in its discovery document (another issuer). The
Hub's authenticator (its login's code exchange) and the standalone server (its sign-in) must
refuse each one the same way, because both go through :class:`~jupyter_ai_access.cognito.client.
CognitoClient`; and settings errors name the class in use, a subclass included.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from tornado import web

from jupyter_ai_access.cognito.settings import COGNITO_ENV
from jupyter_ai_access.errors import (
    ConfigurationError,
    DiscoveryError,
    IdentityProviderError,
    IdPUnavailableError,
    TokenEndpointError,
    TokenError,
)
from jupyter_ai_access.hub._compat import serialize_state
from jupyter_ai_access.hub.authenticator import CognitoOAuthenticator
from jupyter_ai_access.server.standalone import PendingLogin, StandaloneSource

POOL = "us-east-1_Hostile01"
BIG = 1024 * 1024  # bytes: four times the core's cap (256 KiB)


class HostilePool:
    """Discovery, JWKS and a token endpoint whose answers follow ``mode``."""

    def __init__(self) -> None:
        self.mode = "oversized"
        self.hits: Counter[str] = Counter()
        pool = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                pool.hits[self.path] += 1
                if self.path.endswith("/.well-known/openid-configuration"):
                    issuer = pool.issuer + ("-other" if pool.mode == "wrong-issuer" else "")
                    self._send(200, json.dumps(pool.discovery(issuer)).encode())
                elif self.path.endswith("/.well-known/jwks.json"):
                    self._send(200, b'{"keys": []}')
                else:  # where a redirect points: a client that follows it lands here
                    self._send(200, pool.valid_looking_answer())

            def do_POST(self) -> None:
                pool.hits[self.path] += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if pool.mode == "redirect":
                    self._send(307, b"", location=f"{pool.base}/elsewhere")
                elif pool.mode.startswith("oversized"):
                    body = pool.valid_looking_answer()
                    declared = pool.mode == "oversized"  # else delimited by closing
                    self._send(200, body + b" " * (BIG - len(body)), declared=declared)
                else:
                    self._send(200, pool.valid_looking_answer())

            def _send(
                self, status: int, body: bytes, location: str = "", declared: bool = True
            ) -> None:
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "application/json")
                if declared:
                    self.send_header("Content-Length", str(len(body)))
                else:
                    self.close_connection = True
                self.end_headers()
                with contextlib.suppress(OSError):  # the client stopped reading: the cap works
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.issuer = f"{self.base}/{POOL}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def discovery(self, issuer: str) -> dict[str, Any]:
        return {
            "issuer": issuer,
            "jwks_uri": f"{self.issuer}/.well-known/jwks.json",
            "authorization_endpoint": f"{self.base}/oauth2/authorize",
            "token_endpoint": f"{self.base}/oauth2/token",
            "revocation_endpoint": f"{self.base}/oauth2/revoke",
        }

    @staticmethod
    def valid_looking_answer() -> bytes:
        return json.dumps(
            {"access_token": "a.b.c", "id_token": "a.b.c", "token_type": "Bearer"}
        ).encode()

    def settings(self) -> dict[str, str]:
        return {
            "issuer": self.issuer,
            "domain": self.base,
            "client_id": "hostile-client",
            "client_secret": "s" * 32,
        }

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hostile(monkeypatch) -> Iterator[HostilePool]:
    for name in COGNITO_ENV:
        monkeypatch.delenv(name, raising=False)
    pool = HostilePool()
    yield pool
    pool.close()


class LoginHandler:
    """What oauthenticator's callback handler gives ``get_token_info``: the state cookie."""

    verified_claims: Any = None

    def get_state_cookie(self) -> str:
        return serialize_state({"state_id": "s", "nonce": "n" * 16})


async def hub_login(pool: HostilePool) -> web.HTTPError:
    """The Hub's code exchange at the callback: the error page it raises."""
    auth = CognitoOAuthenticator(**pool.settings())
    params = {
        "grant_type": "authorization_code",
        "code": "code",
        "redirect_uri": "http://127.0.0.1/hub/oauth_callback",
        "code_verifier": "v" * 43,
    }
    with pytest.raises(web.HTTPError) as info:
        await auth.get_token_info(LoginHandler(), params)
    return info.value


async def standalone_sign_in(pool: HostilePool) -> Exception:
    """The standalone server's code exchange at its callback: the exception it raises."""
    source = StandaloneSource(protect_process=False, **pool.settings())
    pending = PendingLogin("n" * 16, "v" * 43, "http://127.0.0.1/cb", "/", time.time() + 60)
    with pytest.raises((IdentityProviderError, TokenEndpointError, TokenError)) as info:
        await source.complete_login(pending, "code")
    await source.close()
    return info.value


@pytest.mark.parametrize(
    ("mode", "refused_as"),
    [
        pytest.param("oversized", IdPUnavailableError, id="oversized-token-answer"),
        pytest.param("oversized-undeclared", IdPUnavailableError, id="oversized-no-length"),
        pytest.param("redirect", IdPUnavailableError, id="token-endpoint-redirects"),
        pytest.param("wrong-issuer", DiscoveryError, id="discovery-names-another-issuer"),
    ],
)
async def test_a_hostile_idp_is_refused_alike_by_the_hub_and_the_standalone_server(
    hostile, mode, refused_as
):
    hostile.mode = mode
    page = await hub_login(hostile)
    error = await standalone_sign_in(hostile)
    assert isinstance(error, refused_as), repr(error)
    # the Hub shows the same refusal as a page: Cognito unusable now, try again (503)
    assert page.status_code == 503
    assert getattr(page, "audit_reason", None) == "idp_unavailable"
    assert hostile.hits["/elsewhere"] == 0  # a redirect is never followed
    if mode.startswith("oversized"):
        assert "more than 262144 bytes" in str(error)


async def test_the_hub_and_the_standalone_server_hold_the_same_core_client(hostile):
    from jupyter_ai_access.cognito.client import CognitoClient

    hostile.mode = "oversized"
    auth = CognitoOAuthenticator(**hostile.settings())
    source = StandaloneSource(protect_process=False, **hostile.settings())
    errors = []
    for client in (auth.cognito, source.cognito):
        assert type(client) is CognitoClient
        with pytest.raises(IdPUnavailableError) as info:
            await client.refresh("refresh-token")
        errors.append(str(info.value))
    assert errors[0] == errors[1]
    await source.close()


class TeamAuthenticator(CognitoOAuthenticator):
    """A deployment's subclass (configured as c.TeamAuthenticator)."""


class TeamSource(StandaloneSource):
    """A deployment's subclass of the standalone source."""


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        pytest.param(TeamAuthenticator, {}, id="hub"),
        pytest.param(TeamSource, {"protect_process": False}, id="standalone"),
    ],
)
def test_setting_errors_name_the_subclass_in_use(monkeypatch, cls, kwargs):
    for name in COGNITO_ENV:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError) as info:
        cls(**kwargs).validate_settings()
    assert f"{cls.__name__}.issuer is not set" in str(info.value)
    with pytest.raises(ConfigurationError, match=rf"^{cls.__name__}\.scope must include"):
        cls(scope=["email"], **kwargs)
    with pytest.raises(ConfigurationError, match=rf"^{cls.__name__}\.client_secret_file "):
        _ = cls(client_secret_file="/nonexistent/secret", **kwargs).client_secret


def test_the_hubs_session_settings_name_the_subclass_in_use(tmp_path, caplog):
    """The sealing key and the revocation file are checked by the authenticator's HubSessions:
    their messages name the class configured, not CognitoOAuthenticator."""
    auth = TeamAuthenticator(
        refresh_token_key="k" * 32, revocations_file=str(tmp_path / "missing" / "feed.json")
    )
    with pytest.raises(SystemExit):
        auth.sessions.check_at_start()
    assert "TeamAuthenticator.revocations_file: cannot open the folder" in caplog.text
    assert "CognitoOAuthenticator" not in caplog.text
