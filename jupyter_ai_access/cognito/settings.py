"""The settings of a user pool and its app client, shared by the Hub and the standalone server.

:class:`CognitoSettings` is a traitlets mixin: the Hub's ``CognitoOAuthenticator`` and the
server's ``StandaloneSource`` both inherit it, so the same settings mean the same thing, read the
same ``$COGNITO_*`` variables (:data:`COGNITO_ENV`, the one list) and are checked by the same
:meth:`CognitoSettings.validate_settings`. Messages name ``<the class in use>.<trait>``
(``type(self).__name__``, so a subclass is named as configured) and the bad value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from traitlets import Float, Integer, List, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from ..errors import ConfigurationError, IdentityProviderError
from ..protocol import CognitoEnv
from .client import CognitoClient
from .http import MAX_RESPONSE_BYTES
from .oidc import check_endpoint_url
from .verify import cognito_issuer

__all__ = ["COGNITO_ENV", "DEFAULT_SCOPES", "CognitoSettings"]

#: The environment variables that configure a user pool and its app client, for every process.
#: Any one set means "a real pool" (the Hub then leaves the local emulator off; a server without
#: a Hub signs in by itself); the others are then required and missing ones are named.
COGNITO_ENV = (
    CognitoEnv.REGION,
    CognitoEnv.USER_POOL_ID,
    CognitoEnv.ISSUER,
    CognitoEnv.DOMAIN,
    CognitoEnv.CLIENT_ID,
    CognitoEnv.CLIENT_SECRET,
    CognitoEnv.CLIENT_SECRET_FILE,
    CognitoEnv.SCOPES,
)

#: Scopes asked for at sign-in when neither the setting nor $COGNITO_SCOPES gives them.
DEFAULT_SCOPES = ("openid", "email", "profile")


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()


class CognitoSettings(LoggingConfigurable):
    """A user pool and its app client as traitlets (mix in before the process's base class)."""

    #: Whether :meth:`validate_settings` requires a client secret (the Hub's confidential
    #: client does; the standalone server may be a public client with PKCE only).
    secret_required = False

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
        help="""Issuer URL of the pool (what tokens carry in iss). Default: $COGNITO_ISSUER,
        else derived from region and user_pool_id
        (https://cognito-idp.<region>.amazonaws.com/<pool id>). http:// only on loopback (the
        local emulator).""",
    )
    domain = Unicode(
        config=True,
        help="""The user-pool domain (hosted UI and OAuth endpoints), e.g.
        "https://my-hub.auth.eu-west-1.amazoncognito.com" or a custom domain.
        Default: $COGNITO_DOMAIN.""",
    )
    client_id = Unicode(
        config=True,
        help="The app client's id (authorization-code flow). Default: $COGNITO_CLIENT_ID.",
    )
    client_secret = Unicode(
        config=True,
        help="""The app client's secret. Keep it out of the config file: Default:
        $COGNITO_CLIENT_SECRET, else the content of client_secret_file. Never logged.""",
    )
    client_secret_file = Unicode(
        config=True,
        help="""File holding the app client's secret (used when client_secret and
        $COGNITO_CLIENT_SECRET are empty). Default: $COGNITO_CLIENT_SECRET_FILE.""",
    )
    scope = List(
        Unicode(),
        config=True,
        help="""Scopes asked for at sign-in; must include openid. Add the resource servers'
        custom scopes (e.g. "ai-access/datasets.read") that kernels' access tokens should carry.
        Default: $COGNITO_SCOPES (space separated), else ["openid", "email", "profile"].""",
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
    max_response_bytes = Integer(
        MAX_RESPONSE_BYTES,
        config=True,
        help=f"""Largest answer (bytes) read from Cognito (discovery, keys, token, revocation):
        a larger one is refused before it is parsed, as an outage. Default: {MAX_RESPONSE_BYTES}
        (Cognito's answers are a few kilobytes).""",
    )

    @default("region")
    def _region_default(self) -> str:
        return _env(CognitoEnv.REGION)

    @default("user_pool_id")
    def _user_pool_id_default(self) -> str:
        return _env(CognitoEnv.USER_POOL_ID)

    @default("issuer")
    def _issuer_default(self) -> str:
        env = _env(CognitoEnv.ISSUER)
        if env or not (self.region and self.user_pool_id):
            return env
        return cognito_issuer(self.region, self.user_pool_id)

    @default("domain")
    def _domain_default(self) -> str:
        return _env(CognitoEnv.DOMAIN).rstrip("/")

    @default("client_id")
    def _client_id_default(self) -> str:
        return _env(CognitoEnv.CLIENT_ID)

    @default("client_secret_file")
    def _client_secret_file_default(self) -> str:
        return _env(CognitoEnv.CLIENT_SECRET_FILE)

    @default("client_secret")
    def _client_secret_default(self) -> str:
        secret = _env(CognitoEnv.CLIENT_SECRET)
        if secret or not self.client_secret_file:
            return secret
        try:
            return Path(self.client_secret_file).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigurationError(
                f"{self._trait('client_secret_file')} {self.client_secret_file!r} cannot be "
                f"read: {e.strerror}"
            ) from None

    @default("scope")
    def _scope_default(self) -> list[str]:
        return _env(CognitoEnv.SCOPES).split() or list(DEFAULT_SCOPES)

    @validate("scope")
    def _validate_scope(self, proposal: Any) -> list[str]:
        scopes = [str(s) for s in proposal["value"]]
        if "openid" not in scopes:
            raise ConfigurationError(f"{self._trait('scope')} must include 'openid' (got {scopes})")
        return scopes

    @validate("max_response_bytes")
    def _validate_max_response_bytes(self, proposal: Any) -> int:
        value = int(proposal["value"])
        if value < 4096:
            raise ConfigurationError(
                f"{self._trait('max_response_bytes')} must be at least 4096 bytes, not {value!r}"
            )
        return value

    def _trait(self, name: str) -> str:
        """``<class in use>.<trait>``, as a message names a setting."""
        return f"{type(self).__name__}.{name}"

    @property
    def configured(self) -> bool:
        """Whether the pool and the app client are given."""
        return bool(self.issuer and self.domain and self.client_id)

    def validate_settings(self) -> None:
        """Raise :class:`ConfigurationError` naming every missing setting (all at once), or
        the first contradictory one."""
        t = self._trait
        needed = [
            (
                self.issuer,
                f"{t('issuer')} is not set: give {t('region')} and {t('user_pool_id')} "
                "($COGNITO_REGION, $COGNITO_USER_POOL_ID) or the issuer URL ($COGNITO_ISSUER)",
            ),
            (
                self.domain,
                f"{t('domain')} is not set: the user-pool domain URL ($COGNITO_DOMAIN), "
                "e.g. https://<prefix>.auth.<region>.amazoncognito.com",
            ),
            (
                self.client_id,
                f"{t('client_id')} is not set: the app client id ($COGNITO_CLIENT_ID)",
            ),
        ]
        if self.secret_required:
            needed.append(
                (
                    self.client_secret,
                    f"{t('client_secret')} is not set: use $COGNITO_CLIENT_SECRET or "
                    f"{t('client_secret_file')} ($COGNITO_CLIENT_SECRET_FILE; keep it out of "
                    "the config file)",
                )
            )
        missing = [why for value, why in needed if not value]
        if missing:
            raise ConfigurationError("; ".join(missing))
        if self.region and self.user_pool_id:
            derived = cognito_issuer(self.region, self.user_pool_id)
            if self.issuer != derived:
                raise ConfigurationError(
                    f"{t('issuer')} {self.issuer!r} contradicts {t('region')}/user_pool_id "
                    f"({derived!r}): set one or the other"
                )
        for name in ("issuer", "domain"):
            try:
                check_endpoint_url(getattr(self, name), t(name))
            except IdentityProviderError as e:
                raise ConfigurationError(str(e)) from None

    def make_cognito_client(self, client_secret: str | None = None, **kwargs: Any) -> CognitoClient:
        """The core client for these settings (``kwargs``: the process's own overrides)."""
        return CognitoClient(
            issuer=self.issuer,
            domain=self.domain,
            client_id=self.client_id,
            client_secret=self.client_secret if client_secret is None else client_secret,
            timeout=self.http_timeout,
            leeway=self.leeway,
            max_bytes=self.max_response_bytes,
            logger=self.log,
            **kwargs,
        )
