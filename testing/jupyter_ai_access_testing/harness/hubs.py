"""The real Hubs the test modules share: their configuration, the scripted IdP, server tokens.

- :data:`HUB_CLIENT`: the test pool's Hub app client (``cognito_pool_description``);
- :data:`TOKEN_DELIVERY_CONFIG`: the shipped helper, as ``jupyterhub_config.py`` uses it;
- :data:`SCOPED_CALLERS`: for Hubs that spawn no servers (tests ask the token endpoint with
  tokens made through the API);
- :class:`Idp`: scripted answers of the crafted-answers issuer for one test (``idp`` fixture);
- :func:`server_token`: a token with the token endpoint's scope for one user, as a server has.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from jupyter_ai_access.protocol import TOKENS_SCOPE

from ..canary import CanaryRegistry
from ..jwks_server import IssuerServer
from ..tokens import SigningKey, TokenFactory
from .hub import HubProcess

__all__ = [
    "HUB_CLIENT",
    "SCOPED_CALLERS",
    "TOKEN_DELIVERY_CONFIG",
    "Idp",
    "scripted_issuer_config",
    "server_token",
]

HUB_CLIENT = "hubclient00000000000000000"
TOKEN_DELIVERY_CONFIG = """
from jupyter_ai_access.hub.tokens_api import configure_token_delivery
configure_token_delivery(c, revocation_readers=["test-admin"])
"""
# The README's deployment keeps the default, "servers" (tests/test_attacks.py checks it).
SCOPED_CALLERS = """
c.CognitoOAuthenticator.token_endpoint_callers = "scoped"
"""


def scripted_issuer_config(
    server: IssuerServer, client_id: str, allowed_groups: str = '{"ml-training"}'
) -> str:
    """jupyterhub_config.py lines: the Cognito authenticator against the crafted issuer."""
    return f"""
c.JupyterHub.authenticator_class = "cognito"
c.CognitoOAuthenticator.issuer = {server.issuer!r}
c.CognitoOAuthenticator.domain = "http://127.0.0.1:{server.port}"
c.CognitoOAuthenticator.client_id = {client_id!r}
c.CognitoOAuthenticator.allowed_groups = {allowed_groups}
"""


Handler = Callable[[dict[str, str], dict[str, str]], tuple[int, Any]]


class Idp:
    """Scripted answers of the crafted issuer for one test."""

    def __init__(
        self, server: IssuerServer, factory: TokenFactory, canaries: CanaryRegistry
    ) -> None:
        self.server, self.factory, self.canaries = server, factory, canaries
        self.subs: dict[str, str] = {}
        self.refresh_tokens: list[str] = []

    def sub(self, user: str) -> str:
        """``user``'s ``sub`` claim (new per test)."""
        return self.subs.setdefault(user, f"sub-{user}-{time.monotonic_ns()}")

    def tokens(
        self,
        user: str = "alice",
        *,
        nonce: Any = None,
        groups: Any = None,
        id_claims: dict[str, Any] | None = None,
        access_claims: dict[str, Any] | None = None,
        id_key: SigningKey | None = None,
        refresh: Any = "new",
        lifetime: int = 3600,
        **extra: Any,
    ) -> dict[str, Any]:
        """A token answer for ``user``: claims, key, refresh token and lifetime as told."""
        now = int(time.time())
        groups = ["ml-training"] if groups is None else groups
        common = {
            "sub": self.sub(user),
            "iat": now,
            "exp": now + lifetime,
            "auth_time": now,
            "cognito__groups": groups,
        }
        id_over = {"cognito__username": user, **common, "nonce": nonce, **(id_claims or {})}
        access_over = {"username": user, **common, **(access_claims or {})}
        answer: dict[str, Any] = {
            "id_token": self.factory.mint("id", key=id_key, **id_over),
            "access_token": self.factory.mint("access", **access_over),
            "expires_in": lifetime,
            "token_type": "Bearer",
            **extra,
        }
        if refresh == "new":
            refresh = self.canaries.secret("refresh")
        if refresh:
            answer["refresh_token"] = refresh
            self.refresh_tokens.append(refresh)
        for key in ("id_token", "access_token"):
            self.canaries.register(answer[key], key)
        return answer

    def answer_with(self, make: Handler) -> None:
        """The token endpoint answers ``make(form, authorize request)`` from now on."""

        def handler(form: dict[str, str], authorize: dict[str, str]) -> tuple[int, Any]:
            return make(form, authorize)

        self.server.token_handler = handler

    def login_ok(self, user: str = "alice", **kw: Any) -> None:
        """The next code exchanges succeed for ``user`` (``kw`` as for :meth:`tokens`)."""
        self.answer_with(lambda form, auth: (200, self.tokens(user, nonce=auth.get("nonce"), **kw)))


def server_token(hub: HubProcess, name: str, canaries: CanaryRegistry) -> str:
    """A new API token of ``name`` with the token endpoint's scope (registered as a secret)."""
    response = hub.api(
        "POST", f"/users/{name}/tokens", json={"scopes": [f"{TOKENS_SCOPE}!user={name}"]}
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    canaries.register(token, f"{name}'s server token")
    return token
