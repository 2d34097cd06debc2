"""Settings of the standalone login (:class:`~.standalone.StandaloneSource`).

With no JupyterHub around, the Jupyter server signs its one user in to Amazon Cognito itself.
Every setting is a traitlet (``c.StandaloneSource.<name>``) whose default comes from the same
``$COGNITO_*`` variables the Hub reads; :meth:`StandaloneSettings.validate_settings` names the
first missing or contradictory one. The app client needs the authorization-code flow, the scopes
asked for, the callback URL ``<server URL>ai-access/callback`` and the sign-out URL
``<server URL>ai-access/status`` (e.g. ``http://localhost:8888/ai-access/callback``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from traitlets import Bool, Float, List, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from ..errors import ConfigurationError, IdentityProviderError
from ..net import is_loopback
from ..resource.oidc import check_endpoint_url
from ..resource.verify import cognito_issuer

__all__ = ["COGNITO_ENV", "PROXY_PATH", "StandaloneSettings"]

#: Any of these set (and no Hub) makes ``AIAccessApp.token_source = "auto"`` pick standalone.
COGNITO_ENV = (
    "COGNITO_ISSUER",
    "COGNITO_REGION",
    "COGNITO_USER_POOL_ID",
    "COGNITO_DOMAIN",
    "COGNITO_CLIENT_ID",
)

#: Where ``serve_domain`` serves the user-pool domain, under the server's base URL.
PROXY_PATH = "ai-access/cognito"

_CLS = "StandaloneSource"


class StandaloneSettings(LoggingConfigurable):
    """The standalone login's settings (no behaviour beyond checks)."""

    region = Unicode(
        config=True,
        help="AWS region of the user pool, e.g. eu-west-1. Default: $COGNITO_REGION.",
    )
    user_pool_id = Unicode(
        config=True,
        help="Id of the user pool, e.g. eu-west-1_AbC123xyz. Default: $COGNITO_USER_POOL_ID.",
    )
    issuer = Unicode(
        config=True,
        help="""Issuer URL of the pool (what tokens carry in iss). Default: $COGNITO_ISSUER, else
        https://cognito-idp.<region>.amazonaws.com/<user_pool_id>. http:// only on loopback.""",
    )
    domain = Unicode(
        config=True,
        help="""The user-pool domain (hosted UI and OAuth endpoints), e.g.
        https://my-team.auth.eu-west-1.amazoncognito.com. Default: $COGNITO_DOMAIN.""",
    )
    client_id = Unicode(
        config=True,
        help="The app client's id (authorization-code flow). Default: $COGNITO_CLIENT_ID.",
    )
    client_secret = Unicode(
        config=True,
        help="""The app client's secret; empty for a public client (PKCE only). Default:
        $COGNITO_CLIENT_SECRET, else the file client_secret_file. Read once at start; then
        $COGNITO_CLIENT_SECRET and $COGNITO_CLIENT_SECRET_FILE are removed from the server's
        environment so that kernels and terminals never inherit the secret or its path.""",
    )
    client_secret_file = Unicode(
        config=True,
        help="File holding the app client's secret. Default: $COGNITO_CLIENT_SECRET_FILE.",
    )
    scope = List(
        Unicode(),
        config=True,
        help="""Scopes asked for at sign-in; must include openid. Add the custom scopes kernels'
        access tokens need, e.g. ai-access/datasets.read. Default: $COGNITO_SCOPES (space
        separated), else ["openid", "email", "profile"].""",
    )
    callback_url = Unicode(
        config=True,
        help="""The redirect URI registered on the app client. Default: built from the browser's
        request, <scheme>://<host><base_url>ai-access/callback (e.g.
        http://localhost:8888/ai-access/callback); with serve_domain,
        http://127.0.0.1:<port><base_url>ai-access/callback.""",
    )
    logout_uri = Unicode(
        config=True,
        help="""Where Cognito's /logout returns the browser; one of the app client's sign-out
        URLs. Default: like callback_url, ending in ai-access/status.""",
    )
    public_url = Unicode(
        config=True,
        help="""This server's URL as the browser reaches it, for the sign-in link kernels are
        given (<public_url>ai-access/login). Default: the server's connection URL
        (http://localhost:8888/); with serve_domain, the base URL alone (a path).""",
    )
    end_cognito_session = Bool(
        True,
        config=True,
        help="""On sign-out, also send the browser to Cognito's /logout so the hosted-UI session
        ends (the next sign-in asks for the password again). Default: True.""",
    )
    serve_domain = Bool(
        False,
        config=True,
        help=f"""Serve the user-pool domain's browser pages through this server, at
        <base_url>{PROXY_PATH}/ — for a local Cognito emulator on loopback that the browser
        cannot reach (Binder). domain must then be a loopback URL whose path is
        <base_url>{PROXY_PATH} (the emulator's --base-path). Default: False.""",
    )
    protect_process = Bool(
        True,
        config=True,
        help="""Make the server process non-dumpable at start (Linux prctl PR_SET_DUMPABLE 0), so
        that its kernels, which run as the same OS account, cannot read the client secret or the
        refresh token through /proc/<server pid>/environ or /proc/<server pid>/mem, nor ptrace
        it. Turn off only to attach a debugger or profiler (py-spy) as the same account.
        Default: True.""",
    )
    leeway = Float(
        30.0, config=True, help="Seconds of clock skew tolerated on exp and iat. Default: 30."
    )
    http_timeout = Float(
        10.0, config=True, help="Timeout of each request to Cognito (s). Default: 10."
    )

    @staticmethod
    def _env(name: str) -> str:
        return os.environ.get(name, "").strip()

    @default("region")
    def _region_default(self) -> str:
        return self._env("COGNITO_REGION")

    @default("user_pool_id")
    def _user_pool_id_default(self) -> str:
        return self._env("COGNITO_USER_POOL_ID")

    @default("issuer")
    def _issuer_default(self) -> str:
        env = self._env("COGNITO_ISSUER")
        if env or not (self.region and self.user_pool_id):
            return env
        return cognito_issuer(self.region, self.user_pool_id)

    @default("domain")
    def _domain_default(self) -> str:
        return self._env("COGNITO_DOMAIN").rstrip("/")

    @default("client_id")
    def _client_id_default(self) -> str:
        return self._env("COGNITO_CLIENT_ID")

    @default("client_secret_file")
    def _client_secret_file_default(self) -> str:
        return self._env("COGNITO_CLIENT_SECRET_FILE")

    @default("client_secret")
    def _client_secret_default(self) -> str:
        secret = os.environ.pop("COGNITO_CLIENT_SECRET", "").strip()  # kernels inherit environ
        if secret or not self.client_secret_file:
            return secret
        try:
            return Path(self.client_secret_file).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigurationError(
                f"{_CLS}.client_secret_file {self.client_secret_file!r} cannot be read: "
                f"{e.strerror}"
            ) from None

    @default("scope")
    def _scope_default(self) -> list[str]:
        return self._env("COGNITO_SCOPES").split() or ["openid", "email", "profile"]

    @validate("scope")
    def _validate_scope(self, proposal: Any) -> list[str]:
        scopes = list(proposal["value"])
        if "openid" not in scopes:
            raise ConfigurationError(f"{_CLS}.scope must include 'openid' (got {scopes})")
        return scopes

    @property
    def configured(self) -> bool:
        """Whether the pool and the app client are given."""
        return bool(self.issuer and self.domain and self.client_id)

    def validate_settings(self, base_url: str) -> None:
        """Raise :class:`ConfigurationError` naming the first missing or contradictory setting."""
        if not self.issuer:
            raise ConfigurationError(
                f"{_CLS}.issuer is not set: give $COGNITO_REGION and $COGNITO_USER_POOL_ID, or "
                "$COGNITO_ISSUER"
            )
        if self.region and self.user_pool_id:
            derived = cognito_issuer(self.region, self.user_pool_id)
            if derived != self.issuer:
                raise ConfigurationError(
                    f"{_CLS}.issuer {self.issuer!r} contradicts {_CLS}.region/user_pool_id "
                    f"({derived!r}): set one or the other"
                )
        if not self.domain:
            raise ConfigurationError(
                f"{_CLS}.domain is not set: give the user-pool domain URL ($COGNITO_DOMAIN), "
                "e.g. https://<prefix>.auth.<region>.amazoncognito.com"
            )
        for name in ("issuer", "domain"):
            try:
                check_endpoint_url(getattr(self, name), f"{_CLS}.{name}")
            except IdentityProviderError as e:
                raise ConfigurationError(str(e)) from None
        if not self.client_id:
            raise ConfigurationError(
                f"{_CLS}.client_id is not set ($COGNITO_CLIENT_ID): the app client of this server"
            )
        if self.serve_domain:
            parts = urlsplit(self.domain)
            wanted = base_url.rstrip("/") + "/" + PROXY_PATH
            if not is_loopback(parts.hostname) or parts.path.rstrip("/") != wanted:
                raise ConfigurationError(
                    f"{_CLS}.serve_domain needs {_CLS}.domain on loopback with the path {wanted} "
                    f"(got {self.domain!r}): start the emulator with --base-path={wanted}"
                )
