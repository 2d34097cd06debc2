"""The Hub's settings of :class:`~jupyter_ai_access.hub.authenticator.CognitoOAuthenticator`.

The pool and app client settings (``region``, ``user_pool_id``, ``issuer``, ``domain``,
``client_id``, ``client_secret``, ``client_secret_file``, ``scope``, ``leeway``,
``http_timeout``, ``max_response_bytes``) and their ``$COGNITO_*`` defaults are the core's
:class:`~jupyter_ai_access.cognito.settings.CognitoSettings`, shared with the standalone server;
this mixin adds what only the Hub has (sessions, logout, the revocation feed) and oauthenticator's
defaults for Cognito. :meth:`HubSettings.check_settings_at_start` stops the Hub at start with a
message that names the missing or contradictory setting. Configure them as
``c.CognitoOAuthenticator.<name>``.
"""

from __future__ import annotations

from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlsplit

from traitlets import Bool, Float, Integer, Unicode, default, validate

from ..cognito.oidc import fetch_discovery_sync
from ..cognito.settings import CognitoSettings
from ..errors import ConfigurationError, DiscoveryError
from ..net import is_loopback
from ..protocol import HubEnv, getenv

__all__ = ["HubSettings"]


class HubSettings(CognitoSettings):
    """The Hub's own settings, mixed in before oauthenticator's ``GenericOAuthenticator``."""

    secret_required = True  # the Hub is a confidential client

    # ---------------------------------------------------------------- the pool
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
    recheck_interval = Float(
        300.0,
        config=True,
        help="""How often (s) the Hub re-checks a user's session with Cognito while the tokens
        are still fresh: once this long has passed since the last refresh, the next one is due
        (POST /oauth2/token, grant refresh_token), which shows a removal from the allowed or
        admin groups, a disabled user or a revoked session (invalid_grant). It runs on the
        user's next request to the Hub (their browser, or their server's session watch, which
        reconnects every TokenBroker.watch_wait s while kernels exist), at most once per
        auth_refresh_age. Each re-check counts in Cognito's UserAuthentication quota (120
        requests per second per account and region by default): 10,000 active users cost
        10,000 / recheck_interval requests per second (33 at 300 s). 0 re-checks only when the
        tokens near expiry (refresh_margin), e.g. every 55 min with 1 h tokens. Default: 300.""",
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
        sign-out URLs. Default: <JupyterHub.public_url>hub/logout-complete; without a public_url,
        built from the request.""",
    )
    refresh_token_key = Unicode(
        config=True,
        help="""Key material that seals the refresh token inside auth_state, so that readers of
        the Hub API (admins with admin:auth_state) cannot use it: 32+ random characters, kept out
        of the config file ($JUPYTER_AI_ACCESS_REFRESH_TOKEN_KEY; deprecated, read with a warning:
        $JAIA_REFRESH_TOKEN_KEY). Default: derived from the keys encrypting auth_state
        (CryptKeeper.keys, from $JUPYTERHUB_CRYPT_KEY or the configuration), so sessions survive a
        restart; without either the Hub refuses to start. Changing it ends sessions at refresh.""",
    )
    revocations_file = Unicode(
        config=True,
        help="""File (JSON, 0600, replaced atomically) keeping the revocation feed: ended
        sessions' origin_jti with their last access token's expiry, dropped once expired. Written
        at every session end and read at start, so resources following the feed still refuse
        ended sessions after a Hub restart. Its folder must be writable by the Hub's account
        only. Default: jupyter_ai_access_revocations.json beside JupyterHub.db_url's SQLite
        file, else beside JupyterHub.cookie_secret_file.""",
    )
    check_pool_at_start = Bool(
        True,
        config=True,
        help="""At start, read the pool's discovery document: a wrong issuer or user-pool domain
        stops the Hub with a message naming the setting; an unreachable pool is a warning.
        Loopback issuers (the local emulator) are skipped. Default: True.""",
    )
    session_wait_max = Float(
        3600.0,
        config=True,
        help="""Longest time (s) the Hub holds a user server's session watch open (the
        stream, or long-poll, through which a logout reaches the kernels within seconds). Each
        user server reconnects after this long, which costs one token authentication (its
        measured cost: docs/scaling.md): 10,000 servers make 10,000 / session_wait_max
        reconnections per second. An idle streamed watch costs no SQL in between (keep-alives
        come from memory; session_watch_keepalive). Default: 3600.""",
    )
    audit_to_hub_log = Bool(
        True,
        config=True,
        help="""Also write the audit records (logger "jupyter_ai_access.audit", one JSON object
        per line) to the Hub's own log. Turn off when a handler of that logger ships them
        elsewhere and the Hub's log should not repeat them. Default: True.""",
    )

    # ---------------------------------------------------------------- inherited settings' defaults
    @default("auto_login")
    def _auto_login_default(self) -> bool:
        return True  # straight to Cognito's sign-in page; no "Sign in with ..." page first

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

    @default("refresh_token_key")
    def _refresh_token_key_default(self) -> str:
        return getenv(HubEnv.REFRESH_TOKEN_KEY, log=self.log)

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

    @validate("recheck_interval")
    def _validate_recheck_interval(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not 0 <= value < float("inf"):
            raise ConfigurationError(
                f"{self._trait('recheck_interval')} must be a number of seconds >= 0 "
                f"(0: re-check only near expiry), not {value!r}"
            )
        return value

    def explicit_endpoints(self) -> set[str]:
        """The endpoint URLs set by configuration (discovery does not replace them)."""
        return {
            t for t in ("authorize_url", "token_url", "userdata_url") if self.trait_has_value(t)
        }

    # ---------------------------------------------------------------- start-up checks
    def check_settings_at_start(self) -> None:
        """Refuse to start with missing or contradictory settings: one line naming the setting
        (the traceback goes to the debug log only; the Hub exits with status 1)."""
        try:
            self.validate_settings()
            if self.check_pool_at_start:
                self.check_pool()
        except ConfigurationError as e:
            self.log.debug("Configuration refused", exc_info=True)
            self.log.error("%s", e)
            raise SystemExit(1) from None

    def check_pool(self) -> None:
        """Read the pool's discovery document now: wrong settings stop the Hub at start.

        The issuer must be the document's exactly, and the user-pool domain must be the host of
        its OAuth endpoints; an unreachable pool is a warning naming the settings (the Hub can
        start before the network is up). Loopback issuers (the local emulator, which the Hub
        starts itself as a service) are not checked here.
        """
        if is_loopback(urlsplit(self.issuer).hostname):
            return
        cls = type(self).__name__
        try:
            doc = fetch_discovery_sync(self.issuer, timeout=min(self.http_timeout, 10.0))
        except DiscoveryError as e:
            cause = e.__cause__
            if isinstance(cause, HTTPError) or not isinstance(cause, OSError):
                # an answer, but not this pool's document: a wrong issuer, region or pool id
                raise ConfigurationError(f"{cls}.issuer {self.issuer!r}: {e}") from None
            self.log.warning(
                "The user pool cannot be reached at start (%s): check %s.issuer and the network; "
                "logins will fail until it can be reached",
                e,
                cls,
            )
            return
        endpoint = str(doc.get("authorization_endpoint", ""))
        if urlsplit(endpoint).netloc != urlsplit(self.domain).netloc:
            raise ConfigurationError(
                f"{cls}.domain {self.domain!r} is not this pool's domain: its discovery document "
                f"names {endpoint!r}. Set $COGNITO_DOMAIN to the pool's user-pool domain."
            )

    def validate_settings(self) -> None:
        """Raise :class:`ConfigurationError` naming every missing setting (all at once), or
        the first contradictory one."""
        super().validate_settings()
        if self.refresh_margin < 0:
            raise ConfigurationError(
                f"{self._trait('refresh_margin')} must be >= 0 seconds, not {self.refresh_margin!r}"
            )
