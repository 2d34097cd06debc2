"""Protect any ASGI application (FastAPI, Starlette, ...) with a token verifier.

No framework is imported::

    app = CognitoAuthMiddleware(app, verifier, scopes=["ai-access/datasets.read"],
                                exclude_paths=["/health"])

Verified claims are placed in ``scope["state"]["cognito_claims"]`` (``request.state.cognito_claims``
in Starlette; a :class:`~jupyter_ai_access.cognito.claims.TokenClaims`), the acting app client
(``act.client_id``, None without ``act``) in ``scope["state"]["cognito_actor"]``;
``require_actor`` / ``allowed_actors`` add an actor policy to the verifier's. Refusals follow
RFC 6750 and never echo the token; WebSocket connections that fail are closed with code 1008
(policy violation).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from ..cognito.verify import CognitoTokenVerifier
from ..errors import IdentityProviderError, TokenError
from .bearer import bearer_error_response, extract_bearer

__all__ = ["CognitoAuthMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class CognitoAuthMiddleware:
    """ASGI middleware: every HTTP and WebSocket request needs a valid bearer token.

    Raises :class:`~jupyter_ai_access.errors.ConfigurationError` when the verifier cannot
    enforce ``scopes`` (an ID-token verifier) or the actor policy contradicts its own.
    """

    def __init__(
        self,
        app: ASGIApp,
        verifier: CognitoTokenVerifier,
        *,
        scopes: Iterable[str] = (),
        groups: Iterable[str] = (),
        require_actor: bool | None = None,
        allowed_actors: Iterable[str] = (),
        exclude_paths: Iterable[str] = (),
        realm: str = "jupyter_ai_access",
    ) -> None:
        self.app = app
        self.verifier = verifier
        self.scopes = tuple(scopes)
        verifier.check_scopes(self.scopes)
        self.groups = tuple(groups)
        self.require_actor = require_actor
        self.allowed_actors = frozenset(allowed_actors)
        verifier.check_actor_options(require_actor, self.allowed_actors)
        self.exclude_paths = frozenset(exclude_paths)
        self.realm = realm

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Verify, then call the wrapped application with the claims in ``scope["state"]``."""
        if scope["type"] not in ("http", "websocket") or scope.get("path") in self.exclude_paths:
            await self.app(scope, receive, send)
            return
        authorization = None
        for name, value in scope.get("headers", ()):
            if name.lower() == b"authorization":
                authorization = value.decode("latin-1")
                break
        try:
            claims = await self.verifier.verify_async(
                extract_bearer(authorization),
                scopes=self.scopes,
                groups=self.groups,
                require_actor=self.require_actor,
                allowed_actors=self.allowed_actors,
            )
        except (TokenError, IdentityProviderError) as e:
            await self._refuse(scope, send, e)
            return
        state = dict(scope.get("state") or {})
        state["cognito_claims"] = claims
        state["cognito_actor"] = claims.actor
        await self.app({**scope, "state": state}, receive, send)

    async def _refuse(self, scope: Scope, send: Send, error: Exception) -> None:
        assert isinstance(error, (TokenError, IdentityProviderError))
        status, headers, body = bearer_error_response(error, self.realm)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        payload = json.dumps(body).encode()
        raw = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(payload)).encode()),
            (b"cache-control", b"no-store"),
        ]
        raw += [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": payload})
