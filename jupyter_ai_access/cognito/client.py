"""A user pool and one app client, as every process signs in to it.

:class:`CognitoClient` is what the Hub's authenticator and the standalone login hold (one object
each): it reads the pool's discovery document once (its issuer must equal the configured one,
every endpoint https:// or loopback), builds the JWKS cache and the two verifiers, gives the
:class:`~.endpoint.TokenEndpoint` of the app client, and verifies a token answer: the ID token
(with the login's ``nonce``) and the access token, both from this pool for this client, naming the
same ``sub``. A fix to any of these steps lands once for the Hub and the standalone server.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from ..errors import IdentityProviderError, TokenEndpointError
from .endpoint import TokenEndpoint
from .http import MAX_RESPONSE_BYTES
from .oidc import JWKSCache, fetch_discovery
from .verify import CognitoTokenVerifier

__all__ = ["CognitoClient", "VerifiedClaims"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifiedClaims:
    """The claims of a token answer's ID and access tokens, after verification."""

    id: dict[str, Any]
    access: dict[str, Any]

    @property
    def sub(self) -> str:
        """The identity both tokens name."""
        return str(self.access["sub"])


class CognitoClient:
    """One user pool (``issuer``, ``domain``) and one app client, for any process.

    ``token_url`` overrides the discovery document's token endpoint (the Hub's explicit
    ``token_url`` setting). Nothing is fetched before :meth:`discover`.
    """

    def __init__(
        self,
        *,
        issuer: str,
        domain: str,
        client_id: str,
        client_secret: str = "",
        timeout: float = 10.0,
        leeway: float = 30.0,
        max_bytes: int = MAX_RESPONSE_BYTES,
        validate_cert: bool = True,
        token_url: str = "",
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        self.issuer = issuer
        self.domain = domain.rstrip("/")
        self.client_id = client_id
        self._client_secret = client_secret
        self.timeout = timeout
        self.leeway = leeway
        self.max_bytes = max_bytes
        self.validate_cert = validate_cert
        self._token_url = token_url
        self.log = logger or log
        self.document: dict[str, Any] | None = None
        self._lock = asyncio.Lock()
        self._endpoint: TokenEndpoint | None = None
        self._verifiers: tuple[CognitoTokenVerifier, CognitoTokenVerifier] | None = None

    async def discover(self) -> dict[str, Any]:
        """The pool's discovery document, fetched and checked once; sets up the verifiers.

        Raises :class:`~jupyter_ai_access.errors.DiscoveryError` (and tries again next call).
        """
        if self.document is not None:
            return self.document
        async with self._lock:
            if self.document is None:
                doc = await fetch_discovery(self.issuer, timeout=self.timeout)
                keys = JWKSCache(doc["jwks_uri"], timeout=self.timeout)
                common: dict[str, Any] = {
                    "issuer": self.issuer,
                    "client_ids": [self.client_id],
                    "jwks": keys,
                    "leeway": self.leeway,
                }
                self._verifiers = (
                    CognitoTokenVerifier(token_use="id", **common),
                    CognitoTokenVerifier(token_use="access", **common),
                )
                self._endpoint = TokenEndpoint(
                    token_url=self._token_url
                    or str(doc.get("token_endpoint") or f"{self.domain}/oauth2/token"),
                    revoke_url=str(
                        doc.get("revocation_endpoint") or f"{self.domain}/oauth2/revoke"
                    ),
                    client_id=self.client_id,
                    client_secret=self._client_secret,
                    timeout=self.timeout,
                    max_bytes=self.max_bytes,
                    validate_cert=self.validate_cert,
                )
                self.document = doc
                self.log.info("Cognito user pool %s discovered", self.issuer)
        return self.document

    async def endpoint(self) -> TokenEndpoint:
        """The app client's token endpoint (after discovery)."""
        await self.discover()
        assert self._endpoint is not None
        return self._endpoint

    def authorize_endpoint(self) -> str:
        """The discovered authorization endpoint (``<domain>/oauth2/authorize`` before)."""
        doc = self.document or {}
        return str(doc.get("authorization_endpoint") or f"{self.domain}/oauth2/authorize")

    async def verify_answer(
        self, answer: dict[str, Any], nonce: str | None = None
    ) -> VerifiedClaims:
        """Verify a token answer's ID token (with ``nonce`` at sign-in) and access token.

        Both must verify against this pool's keys for this client and name the same ``sub``;
        an answer without an ID token is :class:`TokenEndpointError` ``invalid_response``.
        """
        await self.discover()
        assert self._verifiers is not None
        id_verifier, access_verifier = self._verifiers
        id_token, access_token = answer.get("id_token"), answer.get("access_token")
        if not isinstance(id_token, str) or not isinstance(access_token, str):
            raise TokenEndpointError("invalid_response", "the token answer lacks an ID token")
        id_claims = await id_verifier.verify_async(id_token, nonce=nonce)
        access_claims = await access_verifier.verify_async(access_token)
        if access_claims["sub"] != id_claims["sub"]:
            raise TokenEndpointError("invalid_response", "the ID and access tokens disagree")
        return VerifiedClaims(id=id_claims, access=access_claims)

    async def sign_in(
        self, code: str, redirect_uri: str, code_verifier: str | None, nonce: str
    ) -> tuple[dict[str, Any], VerifiedClaims]:
        """Exchange a sign-in code and verify its answer (with the login's ``nonce``)."""
        answer = await (await self.endpoint()).authorization_code(code, redirect_uri, code_verifier)
        return answer, await self.verify_answer(answer, nonce=nonce)

    async def refresh(self, refresh_token: str) -> tuple[dict[str, Any], VerifiedClaims]:
        """Renew with a refresh token and verify the answer; Cognito's answer without a refresh
        token keeps ``refresh_token`` in it (no rotation)."""
        answer = await (await self.endpoint()).refresh(refresh_token)
        if not answer.get("refresh_token"):
            answer["refresh_token"] = refresh_token
        return answer, await self.verify_answer(answer)

    async def revoke(self, refresh_token: str | None) -> bool:
        """Revoke a refresh token; logs (without token text) and returns False on failure."""
        if not refresh_token:
            return False
        try:
            status = await (await self.endpoint()).revoke(refresh_token)
        except IdentityProviderError as e:
            self.log.warning("Could not revoke the refresh token: %s", e)
            return False
        if status != 200:
            self.log.warning("Revoking the refresh token answered HTTP %s", status)
        return status == 200

    def logout_url(self, logout_uri: str) -> str:
        """Cognito's ``/logout`` for this client, returning the browser to ``logout_uri``."""
        query = urlencode({"client_id": self.client_id, "logout_uri": logout_uri})
        return f"{self.domain}/logout?{query}"
