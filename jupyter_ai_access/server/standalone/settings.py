"""Settings of the standalone login (:class:`~.source.StandaloneSource`).

With no JupyterHub around, the Jupyter server signs its one user in to Amazon Cognito itself.
The pool and app client settings (``region``, ``user_pool_id``, ``issuer``, ``domain``,
``client_id``, ``client_secret``, ``client_secret_file``, ``scope``, ``leeway``,
``http_timeout``, ``max_response_bytes``) are the Hub's: :class:`~jupyter_ai_access.cognito.
settings.CognitoSettings`, from the same ``$COGNITO_*`` variables. Configure them as
``c.StandaloneSource.<name>``. The client secret is read once at start; then
``$COGNITO_CLIENT_SECRET`` and ``$COGNITO_CLIENT_SECRET_FILE`` are removed from the server's
environment so that kernels and terminals never inherit the secret or its path. The app client
needs the authorization-code flow, the scopes asked for, the callback URL
``<server URL>ai-access/callback`` and the sign-out URL ``<server URL>ai-access/status`` (e.g. ``http://localhost:8888/ai-access/callback``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from traitlets import Bool, Unicode

from ...cognito.settings import COGNITO_ENV, CognitoSettings
from ...errors import ConfigurationError
from ...net import is_loopback

__all__ = ["COGNITO_ENV", "PROXY_PATH", "StandaloneSettings"]

#: Where ``serve_domain`` serves the user-pool domain, under the server's base URL.
PROXY_PATH = "ai-access/cognito"


class StandaloneSettings(CognitoSettings):
    """The standalone login's settings (no behaviour beyond checks)."""

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

    def validate_settings(self, base_url: str | None = None) -> None:
        """Raise :class:`ConfigurationError` naming the missing or contradictory settings;
        ``base_url`` (the server's) checks ``serve_domain``'s path."""
        super().validate_settings()
        if self.serve_domain and base_url is not None:
            t = self._trait
            parts = urlsplit(self.domain)
            wanted = base_url.rstrip("/") + "/" + PROXY_PATH
            if not is_loopback(parts.hostname) or parts.path.rstrip("/") != wanted:
                raise ConfigurationError(
                    f"{t('serve_domain')} needs {t('domain')} on loopback with the path "
                    f"{wanted} (got {self.domain!r}): start the emulator with "
                    f"--base-path={wanted}"
                )
