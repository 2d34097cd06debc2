"""Cognito's HTTP endpoints as the Hub calls them, and the mapping of their answers.

Discovery (the document's issuer must equal the configured one), the token endpoint (HTTP Basic
client auth, no redirects) and revocation. Cognito's answers map onto the exception tree
(``invalid_grant`` → :class:`LoginRequiredError`, other refusals → :class:`TokenEndpointError`,
outages → :class:`IdPUnavailableError`); during a browser login they become clear error pages
that never contain token text.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tornado.httpclient import HTTPClientError, HTTPRequest

from ..errors import (
    IdentityProviderError,
    IdPUnavailableError,
    LoginRequiredError,
    TokenEndpointError,
    TokenError,
)
from ..cognito.oidc import JWKSCache, fetch_discovery
from ..cognito.verify import CognitoTokenVerifier
from ._compat import deserialize_state
from .audit import RefusedLogin
from .settings import CognitoSettings

__all__ = ["CognitoClient", "TokenResponse", "VerifiedClaims"]


@dataclass(frozen=True)
class VerifiedClaims:
    """The claims of a token response's ID and access tokens, after verification."""

    id: dict[str, Any]
    access: dict[str, Any]


class TokenResponse(dict[str, Any]):
    """Cognito's token response (a dict, as oauthenticator expects) plus its verified claims.

    ``verified`` is set once the tokens passed :meth:`CognitoClient._verify_tokens` (at login,
    with the nonce); the user-model hooks verify themselves when it is None (refresh).
    """

    verified: VerifiedClaims | None = None


class CognitoClient(CognitoSettings):
    """The Cognito HTTP layer of the authenticator."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._discovered: dict[str, Any] | None = None
        self._discovery_lock = asyncio.Lock()
        self._id_verifier: CognitoTokenVerifier | None = None
        self._access_verifier: CognitoTokenVerifier | None = None

    # ---------------------------------------------------------------- discovery and verifiers
    async def discover(self) -> dict[str, Any]:
        """Fetch and check the discovery document once; set up the token verifiers."""
        if self._discovered is not None:
            return self._discovered
        async with self._discovery_lock:
            if self._discovered is None:
                self.validate_settings()
                doc = await fetch_discovery(self.issuer, timeout=self.http_timeout)
                for trait, key in (
                    ("authorize_url", "authorization_endpoint"),
                    ("token_url", "token_endpoint"),
                    ("userdata_url", "userinfo_endpoint"),
                ):
                    if trait not in self._explicit_endpoints and doc.get(key):
                        setattr(self, trait, doc[key])
                keys = JWKSCache(doc["jwks_uri"], timeout=self.http_timeout)
                common: dict[str, Any] = {
                    "issuer": self.issuer,
                    "client_ids": [self.client_id],
                    "jwks": keys,
                    "leeway": self.leeway,
                }
                self._id_verifier = CognitoTokenVerifier(token_use="id", **common)
                self._access_verifier = CognitoTokenVerifier(token_use="access", **common)
                self._discovered = doc
                self.log.info("Cognito user pool %s discovered", self.issuer)
        return self._discovered

    # ---------------------------------------------------------------- token endpoint
    async def get_token_info(self, handler: Any, params: dict[str, Any]) -> TokenResponse:
        """POST to the token endpoint; at login, verify the ID and access tokens (with nonce).

        Errors never contain token text: ``invalid_grant`` raises :class:`LoginRequiredError`,
        other refusals :class:`TokenEndpointError`, outages :class:`IdPUnavailableError`. During a
        browser login they become clear error pages.
        """
        await self.discover()
        try:
            token_info = await self._post_token(params)
            if handler is None:
                return token_info
            state = handler.get_state_cookie()
            nonce = deserialize_state(state).get("nonce") if state else None
            if not nonce:
                raise RefusedLogin(
                    400, "nonce_missing", "The login's nonce is missing: start the login again."
                )
            token_info.verified = await self._verify_tokens(token_info, nonce=nonce)
            handler.verified_claims = token_info.verified  # names a refused user in the audit
            return token_info
        except LoginRequiredError:
            raise RefusedLogin(
                400,
                "code_refused",
                "Amazon Cognito refused the sign-in code (invalid_grant): it was used "
                "already or has expired. Start the login again.",
            ) from None
        except TokenEndpointError as e:
            raise RefusedLogin(
                403, "token_endpoint_refused", f"Amazon Cognito refused the login ({e.error})."
            ) from None
        except IdPUnavailableError as e:
            self.log.error("Cognito token endpoint unavailable during login: %s", e)
            raise RefusedLogin(
                503,
                "idp_unavailable",
                "Amazon Cognito cannot be reached right now. Try again in a minute.",
            ) from None
        except TokenError as e:
            self.log.warning("Refused a login: the ID or access token failed verification: %s", e)
            raise RefusedLogin(
                403, "token_invalid", f"The sign-in could not be verified ({e})."
            ) from None
        except IdentityProviderError as e:
            self.log.error("Cognito keys unavailable during login: %s", e)
            raise RefusedLogin(
                503,
                "idp_unavailable",
                "Amazon Cognito's signing keys cannot be fetched right now. Try again in a minute.",
            ) from None

    async def _post_token(self, params: dict[str, Any]) -> TokenResponse:
        """One token request; maps Cognito's answers onto the exception tree."""
        form = {k: v for k, v in params.items() if v is not None and k != "data"}
        response = await self._post_form(self.token_url, form, "token endpoint")
        if response.code >= 500 or response.code == 599:
            raise IdPUnavailableError(f"token endpoint answered HTTP {response.code}")
        try:
            data = json.loads(response.body or b"null")
        except ValueError:
            raise IdPUnavailableError(
                f"token endpoint answered HTTP {response.code} with a non-JSON body"
            ) from None
        if not isinstance(data, dict):
            raise IdPUnavailableError(f"token endpoint answered HTTP {response.code} oddly")
        error = data.get("error")
        if error or response.code != 200:
            code = str(error or f"http_{response.code}")[:64]
            if code == "invalid_grant":
                raise LoginRequiredError(code, "the refresh token or code was refused")
            raise TokenEndpointError(code, f"the token endpoint refused the request ({code})")
        missing = [k for k in ("access_token", "id_token") if not isinstance(data.get(k), str)]
        if missing:
            raise TokenEndpointError("invalid_response", f"the token response lacks {missing}")
        return TokenResponse(data)

    async def _post_form(self, url: str, form: dict[str, Any], what: str) -> Any:
        """POST a form to a Cognito endpoint with HTTP Basic client auth (no redirects).

        Raises :class:`IdPUnavailableError` when the endpoint cannot be reached.
        """
        request = HTTPRequest(
            url,
            method="POST",
            headers=self.build_token_info_request_headers(),
            body=urlencode(form),
            request_timeout=self.http_timeout,
            connect_timeout=self.http_timeout,
            validate_cert=self.validate_server_cert,
            follow_redirects=False,
            **self.http_request_kwargs,
        )
        try:
            return await self.http_client.fetch(request, raise_error=False)
        except (OSError, HTTPClientError) as e:
            raise IdPUnavailableError(f"{what} unreachable ({type(e).__name__})") from None

    async def _verify_tokens(self, token_info: dict[str, Any], nonce: str | None) -> VerifiedClaims:
        """Verify the ID token (with ``nonce`` at login) and the access token; same ``sub``."""
        if self._id_verifier is None or self._access_verifier is None:
            await self.discover()
        assert self._id_verifier is not None and self._access_verifier is not None
        id_claims = await self._id_verifier.verify_async(token_info["id_token"], nonce=nonce)
        access_claims = await self._access_verifier.verify_async(token_info["access_token"])
        if access_claims["sub"] != id_claims["sub"]:
            raise TokenEndpointError("invalid_response", "the ID and access tokens disagree")
        return VerifiedClaims(id=id_claims, access=access_claims)

    # ---------------------------------------------------------------- revocation
    async def revoke(self, refresh_token: str | None) -> bool:
        """Revoke a refresh token at /oauth2/revoke; failures are logged without token text."""
        if not refresh_token:
            return False
        try:
            doc = await self.discover()
        except IdentityProviderError as e:
            self.log.warning("Could not revoke the refresh token: %s", e)
            return False
        url = doc.get("revocation_endpoint") or f"{self.domain}/oauth2/revoke"
        try:
            response = await self._post_form(url, {"token": refresh_token}, "revocation endpoint")
        except IdPUnavailableError as e:
            self.log.warning("Could not revoke the refresh token: %s", e)
            return False
        if response.code != 200:
            self.log.warning("Revoking the refresh token answered HTTP %s", response.code)
            return False
        return True
