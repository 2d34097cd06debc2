"""The jupyter_ai_access server extension: token delivery to kernels.

Auto-enabled by ``jupyter-config/jupyter_server_config.d/jupyter_ai_access.json``, which also
makes :class:`~.provisioner.AIAccessProvisioner` the default kernel provisioner. At start it
creates the :class:`~.broker.TokenBroker`, the kernels' token store, the loopback endpoint and,
when configured, the :class:`~.aws.broker.AWSCredentialBroker` (AWS credentials for botocore in
kernels);
handlers: ``/ai-access/api/info``, ``/ai-access/api/status``, ``/ai-access/status``.

Tokens come from a :class:`~.tokenset.TokenSource` behind the broker: the Hub
(:mod:`.hub_source`), or — with no Hub (``token_source``) — the standalone sign-in
(:mod:`.standalone`), which adds ``/ai-access/login``, ``/ai-access/callback``,
``/ai-access/logout`` (and ``/ai-access/cognito/`` with ``StandaloneSource.serve_domain``).
"""

from __future__ import annotations

import atexit
import os
import signal
from typing import TYPE_CHECKING, Any, ClassVar

from jupyter_client.provisioning.factory import KernelProvisionerFactory
from traitlets import Bool, CaselessStrEnum, Float, Type

from ..protocol import AWS_CREDENTIALS_PATH
from ._compat import LinkingExtensionApp, stop_on_signal
from .aws.broker import AWSCredentialBroker
from .aws.endpoint import AWSCredentialsHandler
from .broker import TokenBroker
from .domain_proxy import DomainProxyHandler
from .endpoint import KernelTokenEndpoint
from .events import ServerEvents
from .hub_source import HubSource
from .provisioner import AIAccessProvisioner, Delivery
from .standalone import StandaloneSource
from .standalone.handlers import CallbackHandler, LoginHandler, LogoutHandler
from .standalone.settings import COGNITO_ENV, PROXY_PATH
from .state import StatusChanges
from .status import InfoHandler, StatusHandler
from .status_page import StatusPageHandler
from .store import KernelTokenStore
from .tokenset import TokenSource

if TYPE_CHECKING:
    from jupyter_server.serverapp import ServerApp

__all__ = ["AIAccessApp"]


class AIAccessApp(LinkingExtensionApp):
    """Server extension that delivers the logged-in user's Cognito tokens to kernels."""

    name = "jupyter_ai_access"
    load_other_extensions = True
    classes = [TokenBroker, HubSource, KernelTokenStore, AWSCredentialBroker, StandaloneSource]
    active: ClassVar[AIAccessApp | None] = None

    use_provisioner = Bool(
        True,
        config=True,
        help="""Make AIAccessProvisioner the default kernel provisioner of this server, so every
        kernel (also on restart) gets its token folder. Kernel specs that name a provisioner of
        their own keep it. Default: True.""",
    )

    token_source = CaselessStrEnum(
        ["auto", "hub", "standalone"],
        "auto",
        config=True,
        help="""Where kernels' tokens come from. "hub": JupyterHub's token endpoint (the Cognito
        authenticator). "standalone": this server signs its user in to Cognito itself
        (/ai-access/login; settings: StandaloneSource, $COGNITO_*). "auto": the Hub when
        $JUPYTERHUB_API_URL is set, else standalone when a $COGNITO_* setting is. Default: auto.""",
    )
    standalone_class = Type(
        StandaloneSource,
        klass=StandaloneSource,
        config=True,
        help="The class of the standalone token source. Default: StandaloneSource.",
    )
    status_wait_max = Float(
        120.0,
        config=True,
        help="""Longest time (s) a request to /ai-access/api/status?wait= is held open waiting for
        a change of the token state (the JupyterLab status-bar item holds one per open tab).
        Default: 120.""",
    )

    broker: TokenBroker
    source: TokenSource  # the broker's
    store: KernelTokenStore
    endpoint: KernelTokenEndpoint
    aws: AWSCredentialBroker
    events: ServerEvents
    status_changes: StatusChanges

    def before_link(self, serverapp: ServerApp) -> None:
        """Before the other extensions link: terminals get our manager unless one is configured.

        jupyter_server reads only the on/off switch from ``jupyter_server_config.d/*.json``, so
        the terminal manager is set here, where linking passes config to the extensions that
        link after this one (``jupyter_server_terminals`` does).
        """
        if "terminal_manager_class" not in serverapp.config.get("TerminalsExtensionApp", {}):
            self.config.TerminalsExtensionApp.terminal_manager_class = (
                "jupyter_ai_access.server.terminals.AIAccessTerminalManager"
            )

    def initialize_settings(self) -> None:
        """Create the broker, the token store and the loopback endpoint."""
        assert self.serverapp is not None
        if self._standalone():
            standalone = self.standalone_class(parent=self, **self._server_info())
            standalone.validate_settings(self.serverapp.base_url)
            self.broker = TokenBroker(parent=self, source=standalone)
        else:
            self.broker = TokenBroker(parent=self)  # its source: HubSource
        self.source = self.broker.source
        self.store = KernelTokenStore(parent=self)
        self.store.prepare(contents_root=self.serverapp.root_dir)
        self.store.clear_stale()
        atexit.register(self.store.remove_all)  # also when the server ends without stopping
        self.broker.listeners.append(self.store.update)
        assert self.serverapp.event_logger is not None  # the server sets it up before extensions
        self.events = ServerEvents(self.serverapp.event_logger, self.broker, self.store, self.log)
        self.status_changes = StatusChanges(self.broker)
        self.aws = AWSCredentialBroker(
            self.broker, kernel_alive=lambda k: k in self.store.kernels, parent=self
        )
        self.aws.check()
        self.endpoint = KernelTokenEndpoint(self.broker, self.store, self.aws, self.events)
        if self.aws.enabled:
            self.endpoint.add_handler(AWS_CREDENTIALS_PATH, AWSCredentialsHandler)
            self.broker.listeners.append(self.aws.on_tokens)
        self.endpoint.start()
        self.store.endpoint_url = self.endpoint.url
        self.store.login_url = self.source.login_url
        self.settings["jupyter_ai_access"] = self
        AIAccessApp.active = self
        AIAccessProvisioner.delivery = Delivery(
            self.broker, self.store, self.aws, self.endpoint.aws_url, self.events
        )
        if self.use_provisioner:
            # The factory is a singleton that may exist before this server's config reaches it
            # (another extension can create it first), so set the default here.
            KernelProvisionerFactory.instance().default_provisioner_name = "ai-access-provisioner"
        self.log.info(
            "jupyter_ai_access: token endpoint on %s; tokens from the %s source%s",
            self.endpoint.url,
            self.source.kind,
            (f", login page {self.source.login_url}" if self.source.login_url else "")
            if self.source.enabled
            else ": not configured, token delivery off",
        )
        if self.aws.enabled:
            self.log.info(
                "jupyter_ai_access: AWS credentials for kernels by %s in %s",
                self.aws.exchange,
                self.aws.region,
            )

    def _standalone(self) -> bool:
        if self.token_source != "auto":
            return bool(self.token_source == "standalone")
        if os.environ.get("JUPYTERHUB_API_URL"):
            return False
        return any(os.environ.get(name) for name in COGNITO_ENV)

    def _server_info(self) -> dict[str, Any]:
        assert self.serverapp is not None
        return {
            "base_url": self.serverapp.base_url,
            "server_port": self.serverapp.port,
            "connection_url": self.serverapp.connection_url,
        }

    def initialize_handlers(self) -> None:
        """Register the REST handlers and the status page under ``/ai-access``."""
        self.handlers.extend(
            [
                (r"/ai-access/api/info", InfoHandler),
                (r"/ai-access/api/status", StatusHandler),
                (r"/ai-access/status", StatusPageHandler),
            ]
        )
        if isinstance(self.source, StandaloneSource):
            self.handlers.extend(
                [
                    (r"/ai-access/login", LoginHandler),
                    (r"/ai-access/callback", CallbackHandler),
                    (r"/ai-access/logout", LogoutHandler),
                    (rf"/{PROXY_PATH}/(.*)", DomainProxyHandler),
                ]
            )

    async def _start_jupyter_server_extension(self, serverapp: ServerApp) -> None:
        """Once the server runs: make SIGINT stop it cleanly, as SIGTERM does.

        jupyter_server handles SIGINT only on a terminal (it asks for confirmation); otherwise
        — under JupyterHub, which stops servers with SIGINT first, or in a script's background —
        SIGINT raised KeyboardInterrupt and the process ended without stopping its kernels or
        this extension, leaving valid tokens on disk. Not called for servers run in-process
        by tests (they never start the server's loop), whose SIGINT stays the test runner's.
        """
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            stop_on_signal(serverapp, signal.SIGINT)

    async def stop_extension(self) -> None:
        """Stop renewing, close the endpoint, remove every kernel folder."""
        self.store.remove_all()  # first: nothing below may keep the tokens on disk
        atexit.unregister(self.store.remove_all)
        await self.broker.stop()  # closes its source (a standalone sign-in is forgotten)
        await self.aws.stop()
        self.endpoint.stop()
        self.status_changes.close()
        self.events.close()
        if AIAccessApp.active is self:
            AIAccessApp.active = None
            AIAccessProvisioner.delivery = None
