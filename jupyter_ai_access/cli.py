"""The ``jupyter-ai-access`` command line.

Subcommands:

- ``local-cognito``: run the local Cognito user pool emulator in the foreground and print its
  issuer, login URL, app clients and demo users.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

from traitlets import Bool, Float, List, Unicode
from traitlets.config import Application, catch_config_error

from ._version import __version__
from .errors import (
    ConfigurationError,
    JupyterAIAccessError,
    TokenDeliveryError,
    TokenEndpointError,
)
from .local_cognito.process import LocalCognito, RunningPool

__all__ = ["JupyterAIAccessApp", "LocalCognitoApp", "main"]


def describe(running: RunningPool, *, show_passwords: bool = True) -> str:
    """A newcomer-friendly summary of a running emulator (no client secret)."""
    pool = running.pool
    lines = [
        f"Local Cognito user pool {pool.user_pool_id} is running (Ctrl-C stops it).",
        f"  issuer (ID/access tokens 'iss'): {running.issuer}",
        f"  discovery:  {running.discovery_url}",
        f"  user-pool domain (hosted UI):    {running.domain}",
        f"  state folder (keys, tokens):     {running.state_dir}",
        "  app clients:",
    ]
    for client in pool.app_clients:
        flows = ",".join(client.allowed_oauth_flows)
        secret = (
            "secret in client_secrets.json"
            if client.client_id in running.client_secrets
            else "public"
        )
        lines.append(f"    {client.name}: client_id={client.client_id} flows={flows} ({secret})")
    code_client = next((c for c in pool.app_clients if "code" in c.allowed_oauth_flows), None)
    if code_client is not None and code_client.callback_urls:
        lines.append(
            f"  try a login: {running.endpoint('authorize')}?response_type=code"
            f"&client_id={code_client.client_id}&scope=openid&redirect_uri={code_client.callback_urls[0]}"
        )
    lines.append("  demo users (username / password / groups):")
    for user in pool.users:
        password = running.passwords[user.username] if show_passwords else "****"
        lines.append(f"    {user.username} / {password} / {', '.join(user.groups) or '(no group)'}")
    return "\n".join(lines)


class LocalCognitoApp(Application):
    """Run the local Cognito user pool emulator."""

    name = "jupyter-ai-access-local-cognito"
    description = "Run the local Amazon Cognito user pool emulator in the foreground."
    version = __version__
    aliases = {
        "pool": "LocalCognito.pool_file",
        "host": "LocalCognito.host",
        "port": "LocalCognito.port",
        "state-dir": "LocalCognito.state_dir",
        "node": "LocalCognito.node",
        "node-modules": "LocalCognito.node_modules",
        "log-level": "Application.log_level",
    }
    flags = {
        "allow-non-loopback": (
            {"LocalCognito": {"allow_non_loopback": True}},
            "Listen on a non-loopback address (development only).",
        ),
        "show-passwords": (
            {"LocalCognitoApp": {"show_passwords": True}},
            "Print the demo users' passwords even when the output is not a terminal.",
        ),
    }
    show_passwords = Bool(
        False,
        config=True,
        help="""Print the demo users' passwords. They are printed anyway when the output is a
        terminal; as a JupyterHub service the output goes to the Hub's log, where passwords
        must not be. Default: False.""",
    )
    classes = [LocalCognito]

    def start(self) -> None:
        """Start the emulator, print how to use it, and wait until interrupted.

        SIGTERM is handled like Ctrl-C from before the emulator's process exists, and the
        emulator is stopped however this ends: interrupted while starting or running, or failed.
        """

        def _interrupt(*_: Any) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, _interrupt)
        emulator = LocalCognito(parent=self, log_to_stderr=True)
        try:
            running = emulator.start()
            show = self.show_passwords or sys.stdout.isatty()
            print(describe(running, show_passwords=show), flush=True)
            status = emulator.wait()
        except JupyterAIAccessError as e:
            print(f"error: {e}", file=sys.stderr)
            status = 2
        except KeyboardInterrupt:
            status = 0
        finally:
            emulator.stop()
        self.exit(0 if status <= 0 else status)


class TokenApp(Application):
    """Print the logged-in user's current Cognito access token (for shell tools)."""

    name = "jupyter-ai-access-token"
    description = (
        "Print the current access token, valid for at least --min-valid seconds, for shell tools "
        "in a kernel's terminal or a job: curl -H \"Authorization: Bearer $(jupyter-ai-access "
        'token)" ... With --audience A [--scope S ...]: a token bound to that resource only. '
        "Exits with status 1 and says what to do when there is none."
    )
    version = __version__
    aliases = {
        "min-valid": "TokenApp.min_valid",
        "audience": "TokenApp.audience",
        "scope": "TokenApp.scopes",
    }
    flags = {"id": ({"TokenApp": {"id_token": True}}, "Print the ID token instead.")}
    min_valid = Float(60.0, config=True, help="Seconds the token must stay valid. Default: 60.")
    id_token = Bool(False, config=True, help="Print the ID token instead. Default: False.")
    audience = Unicode(
        "",
        config=True,
        help="""Print a per-resource token bound to this audience (a resource server identifier,
        e.g. model-registry) instead of the broad one. Default: "" (the broad token).""",
    )
    scopes = List(
        Unicode(),
        config=True,
        help="""With --audience: the scopes to narrow the token to (repeat --scope for
        each). Default: [] (every scope the user's groups may have there).""",
    )

    def start(self) -> None:
        """Print the token, or the reason there is none."""
        from .client import get_id_token, get_token

        try:
            if self.scopes and not self.audience:
                raise ConfigurationError("--scope goes with --audience (TokenApp.audience)")
            if self.audience and self.id_token:
                raise ConfigurationError("--id and --audience exclude each other")
            if self.audience:
                print(get_token(self.min_valid, audience=self.audience, scopes=self.scopes))
            else:
                fetch = get_id_token if self.id_token else get_token
                print(fetch(self.min_valid))
        except (TokenDeliveryError, TokenEndpointError, ConfigurationError) as e:
            print(f"error: {e}", file=sys.stderr)
            self.exit(1)


class CheckPoolApp(Application):
    """Check a real user pool and app client against what the Hub needs."""

    name = "jupyter-ai-access-check-pool"
    description = (
        "Check the user pool and the Hub's app client, from the Hub's settings ($COGNITO_* or "
        "--config jupyterhub_config.py): discovery, domain, callback URL, client secret, and "
        "with AWS credentials the app client's settings. Changes nothing; prints no secret."
    )
    version = __version__
    aliases = {
        "hub-url": "CheckPoolApp.hub_url",
        "config": "CheckPoolApp.config_file",
        "pool": "CheckPoolApp.pool_file",
        "actor-client-id": "CheckPoolApp.actor_client_id",
        "actor-secret-file": "CheckPoolApp.actor_secret_file",
        "subject-token-file": "CheckPoolApp.subject_token_file",
    }
    hub_url = Unicode(
        "http://localhost:8000",
        config=True,
        help="""The Hub's public URL; the callback checked is <hub-url>/hub/oauth_callback.
        Default: http://localhost:8000.""",
    )
    config_file = Unicode(
        config=True,
        help="A jupyterhub_config.py to read c.CognitoOAuthenticator from. Default: none.",
    )
    pool_file = Unicode(
        config=True,
        help="""The pool description infra/ provisioned from: turns on the token-exchange checks
        for each downstream resource server in it. Default: none (not checked).""",
    )
    actor_client_id = Unicode(
        config=True,
        help="The actor machine client's id (infra/'s JUPYTERHUB_ACTOR_CLIENT_ID). Default: none.",
    )
    actor_secret_file = Unicode(
        config=True,
        help="A file holding the actor client's secret (0600; never printed). Default: none.",
    )
    subject_token_file = Unicode(
        config=True,
        help="""A file holding a user's current access token from the Hub's app client: the
        exchange is then made for real per audience (only aud, scope and act are printed).
        Default: none (a made-up subject token, refused once the rest is accepted).""",
    )

    def start(self) -> None:
        """Run the checks; exit 1 when one fails."""
        try:
            from .hub.authenticator import CognitoOAuthenticator
            from .poolcheck import check_pool
        except ImportError as e:
            print(f"error: {e}: install jupyter_ai_access[hub]", file=sys.stderr)
            self.exit(2)
            return
        if self.config_file:
            self.load_config_file(self.config_file)
        auth = CognitoOAuthenticator(config=self.config)
        callback = self.hub_url.rstrip("/") + "/hub/oauth_callback"
        try:
            exchange = self._exchange_inputs()
        except JupyterAIAccessError as e:
            print(f"error: {e}", file=sys.stderr)
            self.exit(2)
            return
        failed = False
        for check in check_pool(auth, callback, exchange):
            print(check, flush=True)
            failed = failed or check.ok is False
        self.exit(1 if failed else 0)

    def _exchange_inputs(self) -> Any:
        from .poolcheck_exchange import ExchangeInputs, read_secret_file
        from .pooldesc import load_pool

        return ExchangeInputs(
            pool=load_pool(self.pool_file) if self.pool_file else None,
            source=self.pool_file or "the pool description",
            actor_client_id=self.actor_client_id,
            actor_secret=read_secret_file(self.actor_secret_file, "CheckPoolApp.actor_secret_file")
            if self.actor_secret_file
            else "",
            subject_token=read_secret_file(
                self.subject_token_file, "CheckPoolApp.subject_token_file"
            )
            if self.subject_token_file
            else "",
        )


class JupyterAIAccessApp(Application):
    """jupyter_ai_access command line."""

    name = "jupyter-ai-access"
    description = "jupyter_ai_access: Cognito tokens for JupyterHub users and their kernels."
    version = __version__
    subcommands = {
        "local-cognito": (LocalCognitoApp, LocalCognitoApp.description),
        "token": (TokenApp, TokenApp.description),
        "check-pool": (CheckPoolApp, CheckPoolApp.description),
        "aws-credentials": (
            "jupyter_ai_access.engines.process.AWSCredentialsApp",
            "Print the kernel's AWS credentials for an AWS profile's credential_process.",
        ),
    }

    @catch_config_error
    def initialize(self, argv: list[str] | None = None) -> None:
        """Parse the command line and dispatch to a subcommand."""
        super().initialize(argv)

    def start(self) -> None:
        """Run the chosen subcommand, or print help."""
        if self.subapp is None:
            self.print_subcommands()
            print("Run `jupyter-ai-access <subcommand> --help` for a subcommand's options.")
            self.exit(1)
            return
        self.subapp.start()


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``jupyter-ai-access`` script."""
    app = JupyterAIAccessApp()
    app.initialize(argv)
    app.start()


if __name__ == "__main__":
    main()
