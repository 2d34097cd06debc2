"""One-line protection for resource servers: tornado (real server on loopback) and ASGI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from tornado import web
from tornado.httpclient import AsyncHTTPClient
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from jupyter_ai_access.errors import (
    ClaimError,
    ConfigurationError,
    InsufficientScopeError,
    KeySetUnavailableError,
    MissingTokenError,
)
from jupyter_ai_access.resource import (
    CognitoTokenVerifier,
    bearer_error_response,
    extract_bearer,
)
from jupyter_ai_access.resource.asgi import CognitoAuthMiddleware
from jupyter_ai_access.resource.tornado_auth import BearerAuthMixin, bearer_required

SCOPE = "ai-access/datasets.read"


@pytest.fixture
def verifier(issuer_server) -> CognitoTokenVerifier:
    return CognitoTokenVerifier(
        issuer=issuer_server.issuer, client_ids=[issuer_server.factory.client_id]
    )


@pytest.fixture
def resource(verifier, jp_asyncio_loop) -> Iterator[str]:
    """A real tornado resource server on loopback, on the test's event loop."""

    class Dataset(web.RequestHandler):
        @bearer_required(verifier, scopes=[SCOPE], groups=["ml-training"])
        async def get(self) -> None:
            self.finish({"user": self.cognito_claims["username"], "rows": 3})

    class Models(BearerAuthMixin, web.RequestHandler):
        required_groups = ("ml-admins",)

        def post(self) -> None:
            self.finish({"stored_by": self.cognito_claims["username"]})

    app = web.Application([("/datasets", Dataset), ("/models", Models)], cognito_verifier=verifier)
    sockets = bind_sockets(0, "127.0.0.1")
    server = HTTPServer(app)
    server.add_sockets(sockets)
    try:
        yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    finally:
        server.stop()


async def call(url: str, token: str | None = None, method: str = "GET") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await AsyncHTTPClient().fetch(
        url,
        method=method,
        headers=headers,
        raise_error=False,
        body=b"{}" if method == "POST" else None,
    )


async def test_tornado_decorator_grants_with_scope_and_group(resource, issuer_server):
    response = await call(f"{resource}/datasets", issuer_server.factory.mint("access"))
    assert response.code == 200
    assert json.loads(response.body) == {"user": "alice", "rows": 3}


async def test_tornado_refusals_follow_rfc6750_and_never_echo_the_token(
    resource, issuer_server, canaries
):
    factory = issuer_server.factory
    cases = [
        (None, 401, 'Bearer realm="jupyter_ai_access"'),
        (factory.mint("access", iss="https://elsewhere.example"), 401, 'error="invalid_token"'),
        (factory.mint("access", scope="openid"), 403, 'error="insufficient_scope"'),
        (factory.mint("access", cognito__groups=["other"]), 403, 'error="insufficient_scope"'),
    ]
    for token, status, challenge in cases:
        response = await call(f"{resource}/datasets", token)
        assert response.code == status
        assert challenge in response.headers["WWW-Authenticate"]
        text = response.body.decode() + str(response.headers)
        assert canaries.find(text) == []
    response = await call(f"{resource}/datasets", factory.mint("access", scope="openid"))
    assert f'scope="{SCOPE}"' in response.headers["WWW-Authenticate"]


async def test_tornado_mixin_checks_every_method(resource, issuer_server):
    factory = issuer_server.factory
    denied = await call(f"{resource}/models", factory.mint("access"), "POST")
    assert denied.code == 403
    assert "ml-admins" in json.loads(denied.body)["error_description"]
    token = factory.mint("access", cognito__groups=["ml-admins"])
    allowed = await call(f"{resource}/models", token, "POST")
    assert allowed.code == 200
    assert json.loads(allowed.body) == {"stored_by": "alice"}


async def test_tornado_idp_down_is_503_not_401(resource, issuer_server):
    issuer_server.status = 503
    response = await call(f"{resource}/datasets", issuer_server.factory.mint("access"))
    assert response.code == 503
    assert json.loads(response.body)["error"] == "temporarily_unavailable"


# ---------------------------------------------------------------- ASGI
async def downstream(scope, receive, send) -> None:
    body = json.dumps(
        {"user": scope["state"]["cognito_claims"]["username"], "path": scope["path"]}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def run_asgi(app, path: str, token: str | None = None, kind: str = "http") -> list[dict]:
    sent: list[dict] = []
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app({"type": kind, "path": path, "headers": headers, "method": "GET"}, receive, send)
    return sent


async def test_asgi_middleware_passes_claims_to_the_app(verifier, issuer_server):
    app = CognitoAuthMiddleware(downstream, verifier, scopes=[SCOPE])
    sent = await run_asgi(app, "/datasets", issuer_server.factory.mint("access"))
    assert sent[0]["status"] == 200
    assert json.loads(sent[1]["body"]) == {"user": "alice", "path": "/datasets"}


async def test_asgi_middleware_refuses_with_rfc6750(verifier, issuer_server):
    app = CognitoAuthMiddleware(downstream, verifier, scopes=[SCOPE])
    sent = await run_asgi(app, "/datasets")
    assert sent[0]["status"] == 401
    headers = dict(sent[0]["headers"])
    assert headers[b"www-authenticate"] == b'Bearer realm="jupyter_ai_access"'
    sent = await run_asgi(app, "/datasets", issuer_server.factory.mint("access", scope="openid"))
    assert sent[0]["status"] == 403
    assert b'error="insufficient_scope"' in dict(sent[0]["headers"])[b"www-authenticate"]
    assert json.loads(sent[1]["body"])["error"] == "insufficient_scope"


async def test_asgi_excluded_paths_and_lifespan_pass_through(verifier):
    seen = []

    async def app(scope, receive, send) -> None:
        seen.append(scope["type"])

    middleware = CognitoAuthMiddleware(app, verifier, exclude_paths=["/health"])
    await run_asgi(middleware, "/health")
    await middleware({"type": "lifespan"}, None, None)
    assert seen == ["http", "lifespan"]


async def test_asgi_websocket_without_token_is_closed_1008(verifier):
    sent = await run_asgi(CognitoAuthMiddleware(downstream, verifier), "/ws", kind="websocket")
    assert sent == [{"type": "websocket.close", "code": 1008}]


def test_adapters_refuse_scopes_on_an_id_token_verifier_when_set_up(issuer_server):
    """Scopes asked of ID tokens (which carry none) fail at set-up, not silently per request."""
    ids = CognitoTokenVerifier(
        issuer=issuer_server.issuer, client_ids=[issuer_server.factory.client_id], token_use="id"
    )
    with pytest.raises(ConfigurationError, match=r"scopes=.*token_use='id'"):
        bearer_required(ids, scopes=[SCOPE])
    with pytest.raises(ConfigurationError, match=r"scopes=.*token_use='id'"):
        CognitoAuthMiddleware(downstream, ids, scopes=[SCOPE])
    assert bearer_required(ids, groups=["ml-training"])  # groups are in ID tokens: fine
    assert CognitoAuthMiddleware(downstream, ids, groups=["ml-training"])


# ---------------------------------------------------------------- helpers
@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer   "])
def test_extract_bearer_refuses_what_is_not_a_bearer_token(header):
    with pytest.raises(MissingTokenError):
        extract_bearer(header)


def test_extract_bearer():
    assert extract_bearer("Bearer abc.def.ghi") == "abc.def.ghi"
    assert extract_bearer("bearer abc") == "abc"


def test_bearer_error_response_shapes():
    status, headers, body = bearer_error_response(ClaimError("iss", 'is "bad"\n'))
    assert status == 401
    assert headers["WWW-Authenticate"] == (
        'Bearer realm="jupyter_ai_access", error="invalid_token", '
        "error_description=\"claim 'iss' is bad\""
    )
    assert body["error"] == "invalid_token"
    status, headers, _ = bearer_error_response(InsufficientScopeError(["a/b", "c/d"]))
    assert status == 403
    assert headers["WWW-Authenticate"].endswith('scope="a/b c/d"')
    status, headers, body = bearer_error_response(KeySetUnavailableError("down"))
    assert status == 503
    assert headers == {"Retry-After": "5"}
