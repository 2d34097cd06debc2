"""JupyterHub authenticator for Amazon Cognito user pools (entry point name ``cognito``).

A subclass of oauthenticator's ``GenericOAuthenticator`` that overrides documented hooks only:

- configuration from a few settings (region + user pool id or issuer, the user-pool domain, client
  id and secret); endpoints from OIDC discovery (the issuer must match exactly);
- login: code flow, PKCE S256, a per-login nonce; the ID token (and the access token) verified
  with :class:`~jupyter_ai_access.verify.CognitoTokenVerifier`: signature by ``kid``, exact
  issuer, ``aud`` / ``client_id``, ``exp``, ``iat``, ``token_use``, nonce. userinfo is never called;
- identity: username from a configurable claim (``email`` only when ``email_verified``), bound to
  ``sub`` so that another identity cannot take an existing name;
- groups: ``cognito:groups`` from the verified ID token drive ``allowed_groups``, ``admin_groups``
  and JupyterHub group membership, at login and at every refresh;
- auth_state (encrypted by JupyterHub): tokens and their expiry times, ``sub``, username, groups;
- refresh before expiry, once per user at a time; ``invalid_grant`` → log in again; an IdP outage
  keeps the session while the tokens are valid and retries with backoff;
- logout: revoke the refresh token, drop the tokens, end the hosted-UI session.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jupyterhub.utils import url_path_join
from oauthenticator.generic import GenericOAuthenticator
from oauthenticator.oauth2 import _deserialize_state
from tornado import web
from tornado.httpclient import HTTPClientError, HTTPRequest
from traitlets import Bool, Float, Integer, List, Unicode, default, validate

from . import auth_handlers
from .errors import (
    ConfigurationError,
    IdentityProviderError,
    IdPUnavailableError,
    LoginRequiredError,
    TokenEndpointError,
    TokenError,
)
from .oidc import JWKSCache, check_endpoint_url, fetch_discovery
from .verify import CognitoTokenVerifier, cognito_issuer

__all__ = ["CognitoOAuthenticator"]

TOKEN_KEYS = ("access_token", "id_token", "refresh_token")


class CognitoOAuthenticator(GenericOAuthenticator):
    """Log in to JupyterHub with an Amazon Cognito user pool (OpenID Connect, verified)."""

    login_handler = auth_handlers.CognitoLoginHandler
    callback_handler = auth_handlers.CognitoCallbackHandler
    logout_handler = auth_handlers.CognitoLogoutHandler
    client_id_env = "COGNITO_CLIENT_ID"
    client_secret_env = "COGNITO_CLIENT_SECRET"
    user_auth_state_key = "cognito_user"

    # ---------------------------------------------------------------- the pool
    region = Unicode(
        config=True,
        help="""AWS region of the user pool, e.g. "eu-west-1". With user_pool_id it gives the
        issuer. Default: $COGNITO_REGION.""",
    )
    user_pool_id = Unicode(
        config=True,
        help="""Id of the user pool, e.g. "eu-west-1_AbC123xyz". Default: $COGNITO_USER_POOL_ID.""",
    )
    issuer = Unicode(
        config=True,
        help="""Issuer URL of the pool. Default: $COGNITO_ISSUER, else derived from region and
        user_pool_id (https://cognito-idp.<region>.amazonaws.com/<pool id>). http:// is accepted
        only for loopback (the local emulator).""",
    )
    domain = Unicode(
        config=True,
        help="""The user-pool domain (hosted UI and OAuth endpoints), e.g.
        "https://my-hub.auth.eu-west-1.amazoncognito.com" or a custom domain.
        Default: $COGNITO_DOMAIN.""",
    )
    client_secret_file = Unicode(
        config=True,
        help="""File holding the app client's secret (used when client_secret and
        $COGNITO_CLIENT_SECRET are empty). Default: $COGNITO_CLIENT_SECRET_FILE.""",
    )
    identity_provider = Unicode(
        config=True,
        help="""Send users straight to this federated identity provider (Cognito's
        identity_provider parameter), skipping the hosted sign-in page. Default: empty.""",
    )
    idp_identifier = Unicode(
        config=True,
        help="""Like identity_provider, by one of the provider's identifiers (Cognito's
        idp_identifier parameter). Default: empty.""",
    )

    # ---------------------------------------------------------------- tokens and sessions
    refresh_margin = Integer(
        300,
        config=True,
        help="""Refresh the tokens when the access or ID token expires within this many seconds.
        Must be shorter than the token lifetime. Default: 300.""",
    )
    leeway = Float(
        30.0,
        config=True,
        help="Seconds of clock skew tolerated when checking exp and iat. Default: 30.",
    )
    http_timeout = Float(
        10.0,
        config=True,
        help="Timeout in seconds of every request to Cognito. Default: 10.",
    )
    refresh_retry_max = Float(
        300.0,
        config=True,
        help="""After a failed refresh (Cognito unreachable), wait 5 s, doubling up to this many
        seconds, before trying again. Default: 300.""",
    )
    revoke_on_logout = Bool(
        True,
        config=True,
        help="Revoke the refresh token at Cognito's /oauth2/revoke on logout. Default: True.",
    )
    end_cognito_session = Bool(
        True,
        config=True,
        help="""On logout, send the browser to Cognito's /logout so the hosted-UI session ends
        too (the next login asks for the password again). Default: True.""",
    )
    logout_uri = Unicode(
        config=True,
        help="""Where Cognito's /logout returns the browser; must be one of the app client's
        sign-out URLs. Default: <hub>/hub/logout-complete, from the request.""",
    )
    scope = List(
        Unicode(),
        ["openid", "email", "profile"],
        config=True,
        help="""Scopes requested at login. Must include openid; add the resource servers' custom
        scopes (e.g. "ai-access/datasets.read") that kernels' access tokens should carry.""",
    )

    # ---------------------------------------------------------------- inherited settings' defaults
    @default("login_service")
    def _login_service_default(self) -> str:
        return "Amazon Cognito"

    @default("username_claim")
    def _username_claim_default(self) -> str:
        return "cognito:username"

    @default("enable_auth_state")
    def _enable_auth_state_default(self) -> bool:
        return True

    @default("manage_groups")
    def _manage_groups_default(self) -> bool:
        return True

    @default("auth_state_groups_key")
    def _auth_state_groups_key_default(self) -> str:
        return "cognito_groups"

    @default("auth_refresh_age")
    def _auth_refresh_age_default(self) -> int:
        return 60

    @default("basic_auth")
    def _basic_auth_default(self) -> bool:
        return True

    @default("region")
    def _region_default(self) -> str:
        return self._env("COGNITO_REGION")

    @default("user_pool_id")
    def _user_pool_id_default(self) -> str:
        return self._env("COGNITO_USER_POOL_ID")

    @default("issuer")
    def _issuer_default(self) -> str:
        env = self._env("COGNITO_ISSUER")
        if env:
            return env
        if self.region and self.user_pool_id:
            return cognito_issuer(self.region, self.user_pool_id)
        return ""

    @default("domain")
    def _domain_default(self) -> str:
        return self._env("COGNITO_DOMAIN").rstrip("/")

    @default("client_secret_file")
    def _client_secret_file_default(self) -> str:
        return self._env("COGNITO_CLIENT_SECRET_FILE")

    @default("client_secret")
    def _client_secret_default(self) -> str:
        secret = self._env("COGNITO_CLIENT_SECRET")
        if not secret and self.client_secret_file:
            try:
                secret = Path(self.client_secret_file).read_text(encoding="utf-8").strip()
            except OSError as e:
                raise ConfigurationError(
                    f"CognitoOAuthenticator.client_secret_file {self.client_secret_file!r} "
                    f"cannot be read: {e.strerror}"
                ) from None
        return secret

    @default("authorize_url")
    def _authorize_url_default(self) -> str:
        return f"{self.domain}/oauth2/authorize" if self.domain else ""

    @default("token_url")
    def _token_url_default(self) -> str:
        return f"{self.domain}/oauth2/token" if self.domain else ""

    @default("userdata_url")
    def _userdata_url_default(self) -> str:
        return f"{self.domain}/oauth2/userInfo" if self.domain else ""

    @default("extra_authorize_params")
    def _extra_authorize_params_default(self) -> dict[str, str]:
        params = {}
        if self.identity_provider:
            params["identity_provider"] = self.identity_provider
        if self.idp_identifier:
            params["idp_identifier"] = self.idp_identifier
        return params

    @validate("scope")
    def _validate_scope(self, proposal: Any) -> list[str]:
        scopes = list(proposal["value"])
        if "openid" not in scopes:
            raise ConfigurationError(
                f"CognitoOAuthenticator.scope must include 'openid' (got {scopes})"
            )
        return scopes

    @staticmethod
    def _env(name: str) -> str:
        return os.environ.get(name, "").strip()

    # ---------------------------------------------------------------- start-up checks
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._discovered: dict[str, Any] | None = None
        self._discovery_lock = asyncio.Lock()
        self._id_verifier: CognitoTokenVerifier | None = None
        self._access_verifier: CognitoTokenVerifier | None = None
        self._refresh_locks: dict[str, asyncio.Lock] = {}
        self._retry_at: dict[str, tuple[float, float]] = {}  # user -> (when, last wait)
        self._explicit_endpoints = {
            t for t in ("authorize_url", "token_url", "userdata_url") if self.trait_has_value(t)
        }

    def check_allow_config(self) -> None:
        """Refuse to start with missing or contradictory settings, naming the setting."""
        super().check_allow_config()
        self.validate_settings()

    def validate_settings(self) -> None:
        """Raise :class:`ConfigurationError` naming the first missing or contradictory setting."""
        cls = "CognitoOAuthenticator"
        if not self.issuer:
            raise ConfigurationError(
                f"{cls}.issuer is not set: give {cls}.region and {cls}.user_pool_id "
                "($COGNITO_REGION, $COGNITO_USER_POOL_ID) or the issuer URL ($COGNITO_ISSUER)"
            )
        if self.region and self.user_pool_id:
            derived = cognito_issuer(self.region, self.user_pool_id)
            if self.issuer != derived:
                raise ConfigurationError(
                    f"{cls}.issuer {self.issuer!r} contradicts {cls}.region/user_pool_id "
                    f"({derived!r}): set one or the other"
                )
        try:
            check_endpoint_url(self.issuer, f"{cls}.issuer")
        except IdentityProviderError as e:
            raise ConfigurationError(str(e)) from None
        if not self.domain:
            raise ConfigurationError(
                f"{cls}.domain is not set: give the user-pool domain URL ($COGNITO_DOMAIN), "
                "e.g. https://<prefix>.auth.<region>.amazoncognito.com"
            )
        try:
            check_endpoint_url(self.domain, f"{cls}.domain")
        except IdentityProviderError as e:
            raise ConfigurationError(str(e)) from None
        if not self.client_id:
            raise ConfigurationError(
                f"{cls}.client_id is not set ($COGNITO_CLIENT_ID): the Hub's app client id"
            )
        if not self.client_secret:
            raise ConfigurationError(
                f"{cls}.client_secret is not set: use $COGNITO_CLIENT_SECRET or "
                f"{cls}.client_secret_file (keep it out of the config file)"
            )
        if self.refresh_margin < 0:
            raise ConfigurationError(f"{cls}.refresh_margin must be >= 0 seconds")

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
    async def get_token_info(self, handler: Any, params: dict[str, Any]) -> dict[str, Any]:
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
            nonce = _deserialize_state(state).get("nonce") if state else None
            if not nonce:
                raise web.HTTPError(400, "The login's nonce is missing: start the login again.")
            token_info["_verified"] = await self._verify_tokens(token_info, nonce=nonce)
            return token_info
        except LoginRequiredError:
            raise web.HTTPError(
                400,
                "Amazon Cognito refused the sign-in code (invalid_grant): it was used "
                "already or has expired. Start the login again.",
            ) from None
        except TokenEndpointError as e:
            raise web.HTTPError(403, f"Amazon Cognito refused the login ({e.error}).") from None
        except IdPUnavailableError as e:
            self.log.error("Cognito token endpoint unavailable during login: %s", e)
            raise web.HTTPError(
                503, "Amazon Cognito cannot be reached right now. Try again in a minute."
            ) from None
        except TokenError as e:
            self.log.warning("Refused a login: the ID or access token failed verification: %s", e)
            raise web.HTTPError(403, f"The sign-in could not be verified ({e}).") from None
        except IdentityProviderError as e:
            self.log.error("Cognito keys unavailable during login: %s", e)
            raise web.HTTPError(
                503,
                "Amazon Cognito's signing keys cannot be fetched right now. Try again in a minute.",
            ) from None

    async def _post_token(self, params: dict[str, Any]) -> dict[str, Any]:
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
        return data

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

    async def _verify_tokens(self, token_info: dict[str, Any], nonce: str | None) -> dict[str, Any]:
        assert self._id_verifier is not None and self._access_verifier is not None
        id_claims = await self._id_verifier.verify_async(token_info["id_token"], nonce=nonce)
        access_claims = await self._access_verifier.verify_async(token_info["access_token"])
        if access_claims["sub"] != id_claims["sub"]:
            raise TokenEndpointError("invalid_response", "the ID and access tokens disagree")
        return {"id": id_claims, "access": access_claims}

    # ---------------------------------------------------------------- user model hooks
    async def token_to_user(self, token_info: dict[str, Any]) -> dict[str, Any]:
        """The verified ID token's claims (userinfo is never called: it has no groups)."""
        verified = token_info.get("_verified")
        if verified is None:
            verified = await self._verify_tokens(token_info, nonce=None)
            token_info["_verified"] = verified
        return dict(verified["id"])

    def user_info_to_username(self, user_info: dict[str, Any]) -> str:
        """Username from ``username_claim``; ``email`` only when ``email_verified`` is true."""
        if self.username_claim == "email" and user_info.get("email_verified") is not True:
            raise web.HTTPError(
                403,
                "Your email address is not verified in Amazon Cognito, so "
                "it cannot be your username here. Verify it and log in again.",
            )
        if callable(self.username_claim):
            username = self.username_claim(user_info)
        else:
            username = user_info.get(self.username_claim)
        if not isinstance(username, str) or not username:
            raise web.HTTPError(
                403,
                f"The ID token has no {self.username_claim!s} to use as a "
                "username; ask an administrator to check username_claim.",
            )
        return username

    def build_auth_state_dict(
        self, token_info: dict[str, Any], user_info: dict[str, Any]
    ) -> dict[str, Any]:
        """Only what later steps need: tokens, their expiry, sub, username, groups, scopes."""
        verified = token_info["_verified"]
        access = verified["access"]
        return {
            "access_token": token_info["access_token"],
            "id_token": token_info["id_token"],
            "refresh_token": token_info.get("refresh_token"),
            "access_token_expires_at": access["exp"],
            "id_token_expires_at": verified["id"]["exp"],
            "scope": access.get("scope", "").split(),
            "sub": user_info["sub"],
            "cognito_username": user_info.get("cognito:username"),
            "cognito_groups": list(user_info.get("cognito:groups", [])),
            "origin_jti": access.get("origin_jti"),
            "refreshed_at": time.time(),
        }

    async def update_auth_model(self, auth_model: dict[str, Any]) -> dict[str, Any]:
        """Bind the username to ``sub``: another identity cannot take an existing name."""
        name = auth_model["name"]
        sub = auth_model["auth_state"]["sub"]
        bound = await self._bound_sub(name)
        if bound is not None and bound != sub:
            self.log.warning(
                "Refused login as %s: the name is bound to another Cognito identity", name
            )
            raise web.HTTPError(
                403,
                f"The name {name!r} belongs to another account. Ask an "
                "administrator if you think this is wrong.",
            )
        return auth_model

    async def _bound_sub(self, name: str) -> str | None:
        users = getattr(self.parent, "users", None)
        if users is None:
            return None
        try:
            user = users[name]
        except KeyError:
            return None
        state = await user.get_auth_state()
        return state.get("sub") if state else None

    # ---------------------------------------------------------------- refresh
    def needs_refresh(self, auth_state: dict[str, Any], now: float | None = None) -> bool:
        """True when the access or ID token expires within ``refresh_margin`` seconds."""
        now = time.time() if now is None else now
        soonest = min(
            auth_state.get("access_token_expires_at") or 0,
            auth_state.get("id_token_expires_at") or 0,
        )
        return soonest - now <= self.refresh_margin

    async def refresh_user(self, user: Any, handler: Any = None, **kwargs: Any) -> Any:
        """Refresh the tokens ahead of expiry, once per user at a time.

        Returns True (nothing to do, or Cognito unreachable while tokens are still usable),
        False (the user must log in again) or a new auth model (new tokens, groups, admin).
        """
        auth_state = await user.get_auth_state()
        if not auth_state or not auth_state.get("refresh_token"):
            return False
        if not self.needs_refresh(auth_state):
            return True
        lock = self._refresh_locks.setdefault(user.name, asyncio.Lock())
        async with lock:
            auth_state = await user.get_auth_state()  # someone may have refreshed meanwhile
            if not auth_state or not auth_state.get("refresh_token"):
                return False
            if not self.needs_refresh(auth_state):
                return True
            return await self._refresh_locked(user, auth_state)

    async def _refresh_locked(self, user: Any, auth_state: dict[str, Any]) -> Any:
        now = time.time()
        retry_at, last_wait = self._retry_at.get(user.name, (0.0, 0.0))
        if now < retry_at:
            return True
        refresh_token = auth_state["refresh_token"]
        try:
            await self.discover()
            token_info = await self._post_token(
                self.build_refresh_token_request_params(refresh_token)
            )
            if not token_info.get("refresh_token"):
                token_info["refresh_token"] = refresh_token  # Cognito returns none: keep ours
            auth_model = await self._token_to_auth_model(token_info)
        except LoginRequiredError:
            self.log.info("Refresh token of %s refused (invalid_grant): login required", user.name)
            await user.save_auth_state(self._without_tokens(auth_state))
            return False
        except (IdentityProviderError, TokenEndpointError) as e:
            wait = min(self.refresh_retry_max, max(5.0, last_wait * 2))
            self._retry_at[user.name] = (now + wait, wait)
            usable = (auth_state.get("access_token_expires_at") or 0) > now
            self.log.warning(
                "Refreshing tokens of %s failed (%s); %s; retrying in %.0f s",
                user.name,
                e,
                "keeping the current ones" if usable else "the current ones have expired",
                wait,
            )
            return True
        except (TokenError, web.HTTPError) as e:
            self.log.warning("Refreshed tokens of %s failed verification: %s", user.name, e)
            return False
        self._retry_at.pop(user.name, None)
        if auth_model["auth_state"]["sub"] != auth_state.get("sub"):
            self.log.warning("Refresh for %s returned another identity: login required", user.name)
            return False
        name = auth_model["name"]
        if not self.check_blocked_users(name, auth_model) or not await self.check_allowed(
            name, auth_model
        ):
            self.log.info("%s is no longer in an allowed group: access removed", user.name)
            await self._demote(user, auth_model, auth_state)
            return False
        # Persist before the per-user lock is released: JupyterHub saves the model only after
        # refresh_user returns, and a waiter must not read the old (maybe rotated) tokens.
        await user.save_auth_state(auth_model["auth_state"])
        self.log.info("Refreshed Cognito tokens of %s", user.name)
        return auth_model

    async def _demote(
        self, user: Any, auth_model: dict[str, Any], auth_state: dict[str, Any]
    ) -> None:
        """A user refused at refresh loses admin and managed groups and their tokens."""
        if auth_model.get("admin") is False and user.admin:
            user.admin = False
            user.db.commit()
        if self.manage_groups and auth_model.get("groups") is not None:
            user.sync_groups(auth_model["groups"])
        await self.revoke(auth_state.get("refresh_token"))
        await user.save_auth_state(self._without_tokens(auth_state))

    # ---------------------------------------------------------------- logout
    @staticmethod
    def _without_tokens(auth_state: dict[str, Any]) -> dict[str, Any]:
        """auth_state with every token removed; the sub binding stays."""
        keep = ("sub", "cognito_username", "cognito_groups")
        return {k: v for k, v in auth_state.items() if k in keep}

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

    async def logout_user(self, user: Any) -> None:
        """Revoke the refresh token and drop the tokens from auth_state (keeps the sub binding)."""
        auth_state = await user.get_auth_state()
        if not auth_state:
            return
        if self.revoke_on_logout and await self.revoke(auth_state.get("refresh_token")):
            self.log.info("Revoked the Cognito refresh token of %s", user.name)
        await user.save_auth_state(self._without_tokens(auth_state))

    def cognito_logout_url(self, handler: Any) -> str | None:
        """Cognito's /logout URL for this client, or None when not ending the Cognito session."""
        if not self.end_cognito_session or not self.domain:
            return None
        logout_uri = self.logout_uri
        if not logout_uri:
            request = handler.request
            logout_uri = f"{request.protocol}://{request.host}" + url_path_join(
                handler.hub.base_url, "logout-complete"
            )
        return f"{self.domain}/logout?" + auth_handlers.logout_query(self.client_id, logout_uri)

    def get_handlers(self, app: Any) -> list[tuple[str, Any]]:
        """oauthenticator's handlers, /logout-complete and the token endpoint for servers."""
        from .hub_api import TokensAPIHandler

        return [
            *super().get_handlers(app),
            (r"/logout-complete", auth_handlers.CognitoLogoutCompleteHandler),
            (r"/api/ai-access/users/([^/]+)/tokens", TokensAPIHandler),
        ]
