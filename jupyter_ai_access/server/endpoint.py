"""The loopback endpoint kernels call for a fresh token: ``GET /token`` on 127.0.0.1.

It listens on its own 127.0.0.1 port (not the Jupyter server's, which a proxy or a container may
expose) and answers only requests that carry a live kernel's secret
(``Authorization: Bearer <secret>``, or the raw secret as botocore sends it), come with the exact
loopback ``Host`` (DNS rebinding), carry no ``Origin`` (a browser) and no ``X-Forwarded-*`` /
``Forwarded`` header (a proxy).

``GET /token?kind=access|id&min_valid=<s>&force=0|1`` →
200 ``{"token", "expires_at", "kind"}``; 401 ``login_required`` (with ``login_url``) when the
session has ended; 503 ``unavailable`` when the Hub or Cognito cannot be reached and no valid
token is held; 403 for everything refused above.

``GET /token?kind=access&audience=<aud>&scope=<s1 s2>&min_valid=<s>&force=0|1`` → a per-resource
token (``{"token", "expires_at", "kind", "audience", "scope"}``, from the broker's
:meth:`~.broker.TokenBroker.get_exchanged`); 403 ``audience_refused`` (the Hub's
``CognitoOAuthenticator.exchange_policy``), 502 ``exchange_refused`` (Cognito refused). With
``KernelTokenStore.broad_token = False``, ``kind=access`` without ``audience`` is 403
``audience_required``.

``GET /aws-credentials`` (when AWS credentials are configured, :mod:`.aws.endpoint`): the same
refusals, then botocore's container-credentials answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tornado import web
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from ..errors import (
    AudienceRefusedError,
    ExchangeRefusedError,
    SessionEndedError,
    TokenDeliveryError,
)
from ..protocol import (
    AWS_CREDENTIALS_PATH,
    ERROR_LOGIN_REQUIRED,
    ERROR_UNAVAILABLE,
    ErrorCode,
    KernelToken,
    scope_key,
)

if TYPE_CHECKING:
    from .aws.broker import AWSCredentialBroker
    from .broker import TokenBroker
    from .events import ServerEvents
    from .store import KernelTokenStore

__all__ = ["KernelRequestHandler", "KernelTokenEndpoint"]


class KernelRequestHandler(web.RequestHandler):
    """Base of the endpoint's handlers: answers only a live kernel's loopback requests."""

    def initialize(self, endpoint: KernelTokenEndpoint) -> None:
        self.endpoint = endpoint

    def set_default_headers(self) -> None:
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "application/json")

    def _refuse(
        self,
        status: int,
        error: str,
        message: str,
        reason: str = "refused",
        kernel_id: str | None = None,
        **extra: Any,
    ) -> None:
        if self.endpoint.events is not None:
            self.endpoint.events.refused(reason, status, kernel_id)
        self.set_status(status)
        self.finish({"error": error, "message": message, **extra})

    def _request_summary(self) -> str:
        return f"{self.request.method} {self.request.path}"

    def kernel_id(self) -> str | None:
        """The calling kernel, or None after refusing (foreign Host, Origin, proxy, secret).

        The secret comes as ``Bearer <secret>`` (our client) or raw, without a scheme (botocore's
        container provider sends ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``'s content as is).
        """
        headers = self.request.headers
        allowed_hosts = {f"127.0.0.1:{self.endpoint.port}", f"localhost:{self.endpoint.port}"}
        if headers.get("Host") not in allowed_hosts:
            self._refuse(
                403, "forbidden", "wrong Host: this endpoint answers 127.0.0.1 only", "wrong_host"
            )
            return None
        if "Origin" in headers:
            self._refuse(403, "forbidden", "browsers may not call this endpoint", "browser_origin")
            return None
        if any(
            name.lower().startswith("x-forwarded") or name.lower() == "forwarded"
            for name in headers
        ):
            self._refuse(403, "forbidden", "proxied requests are refused", "proxied")
            return None
        value = headers.get("Authorization", "").strip()
        scheme, _, secret = value.partition(" ")
        if not secret:
            scheme, secret = "bearer", scheme  # the raw secret
        secret = secret.strip()
        kernel_id = (
            self.endpoint.store.kernel_for_secret(secret)
            if scheme.lower() == "bearer" and secret
            else None
        )
        if kernel_id is None:
            self._refuse(403, "forbidden", "not a live kernel's secret", "bad_secret")
        return kernel_id


class _TokenHandler(KernelRequestHandler):
    async def get(self) -> None:
        kernel_id = self.kernel_id()
        if kernel_id is None:
            return
        kind = self.get_query_argument("kind", "access")
        if kind not in ("access", "id"):
            self._refuse(
                400,
                "invalid_request",
                "kind must be 'access' or 'id'",
                "invalid_request",
                kernel_id,
            )
            return
        try:
            min_valid = float(self.get_query_argument("min_valid", "0"))
        except ValueError:
            self._refuse(
                400,
                "invalid_request",
                "min_valid must be a number of seconds",
                "invalid_request",
                kernel_id,
            )
            return
        force = self.get_query_argument("force", "0") == "1"
        audience = self.get_query_argument("audience", "").strip()
        if audience or self.get_query_argument("scope", ""):
            await self._exchanged(kernel_id, kind, audience, min_valid, force)
            return
        if kind == "access" and not self.endpoint.store.broad_token:
            self._refuse(
                403,
                ErrorCode.AUDIENCE_REQUIRED,
                "This deployment hands out per-resource tokens only "
                "(KernelTokenStore.broad_token is False): ask for the resource's audience, e.g. "
                "get_token(audience='model-registry'), RequestsAuth(audience=...), or "
                "`jupyter-ai-access token --audience ...`.",
                ErrorCode.AUDIENCE_REQUIRED,
                kernel_id,
            )
            return
        try:
            tokens = await self.endpoint.broker.get(min_valid=min_valid, force=force)
        except SessionEndedError as e:
            self._refuse(
                401, ERROR_LOGIN_REQUIRED, str(e), "session_ended", kernel_id, login_url=e.login_url
            )
            return
        except TokenDeliveryError as e:
            self._refuse(503, ERROR_UNAVAILABLE, str(e), "unavailable", kernel_id)
            return
        token = tokens.access_token if kind == "access" else tokens.id_token
        expires = tokens.access_expires_at if kind == "access" else tokens.id_expires_at
        answer: KernelToken = {"token": token, "expires_at": expires, "kind": kind}
        self.finish(dict(answer))
        if self.endpoint.events is not None:
            self.endpoint.events.delivered(kernel_id, tokens, via="endpoint", kind=kind)

    async def _exchanged(
        self, kernel_id: str, kind: str, audience: str, min_valid: float, force: bool
    ) -> None:
        scopes = scope_key(self.get_query_argument("scope", ""))
        problem = ""
        if kind != "access":
            problem = "audience goes with kind=access only"
        elif not audience:
            problem = "scope goes with an audience"
        elif len(audience) > 256 or not audience.isprintable() or " " in audience:
            problem = "audience must be one resource server identifier (no spaces, <= 256)"
        elif len(scopes) > 2048 or not scopes.isprintable():
            problem = "scope must be space-separated scope names"
        if problem:
            self._refuse(400, "invalid_request", problem, "invalid_request", kernel_id)
            return
        broker = self.endpoint.broker
        try:
            token = await broker.get_exchanged(
                audience, tuple(scopes.split()), min_valid, force=force
            )
        except SessionEndedError as e:
            self._refuse(
                401, ERROR_LOGIN_REQUIRED, str(e), "session_ended", kernel_id, login_url=e.login_url
            )
            return
        except AudienceRefusedError as e:
            self._refuse(
                403, ErrorCode.AUDIENCE_REFUSED, str(e), ErrorCode.AUDIENCE_REFUSED, kernel_id
            )
            return
        except ExchangeRefusedError as e:
            self._refuse(
                502,
                ErrorCode.EXCHANGE_REFUSED,
                str(e),
                ErrorCode.EXCHANGE_REFUSED,
                kernel_id,
                code=e.code,
            )
            return
        except TokenDeliveryError as e:
            self._refuse(503, ERROR_UNAVAILABLE, str(e), "unavailable", kernel_id)
            return
        answer: KernelToken = {
            "token": token.access_token,
            "expires_at": token.expires_at,
            "kind": kind,
            "audience": token.audience,
            "scope": list(token.scope),
        }
        self.finish(dict(answer))


class KernelTokenEndpoint:
    """A tiny tornado server on 127.0.0.1 that serves tokens to kernels holding a secret."""

    def __init__(
        self,
        broker: TokenBroker,
        store: KernelTokenStore,
        aws: AWSCredentialBroker | None = None,
        events: ServerEvents | None = None,
    ) -> None:
        self.broker = broker
        self.store = store
        self.aws = aws  # the AWSCredentialBroker, when kernels get AWS credentials
        self.events = events  # a ServerEvents: refusals and deliveries are audited
        self.routes: list[tuple[str, type[KernelRequestHandler]]] = [("/token", _TokenHandler)]
        self.port = 0
        self._server: HTTPServer | None = None

    @property
    def url(self) -> str:
        """The URL kernels call."""
        return f"http://127.0.0.1:{self.port}/token"

    def add_handler(self, path: str, handler: type[KernelRequestHandler]) -> None:
        """Serve ``path`` with ``handler`` too (before :meth:`start`)."""
        self.routes.append((path, handler))

    @property
    def aws_url(self) -> str:
        """The URL botocore in kernels calls (AWS_CONTAINER_CREDENTIALS_FULL_URI)."""
        return f"http://127.0.0.1:{self.port}{AWS_CREDENTIALS_PATH}"

    def start(self) -> None:
        """Listen on a free 127.0.0.1 port."""
        routes = [(path, handler, {"endpoint": self}) for path, handler in self.routes]
        app = web.Application(routes, log_function=lambda handler: None)
        sockets = bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self._server = HTTPServer(app, xheaders=False)
        self._server.add_sockets(sockets)

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.stop()
            self._server = None
