"""The jupyter_ai_access server extension: token delivery to kernels.

Auto-enabled by ``jupyter-config/jupyter_server_config.d/jupyter_ai_access.json``, which also
makes :class:`~.provisioner.AIAccessProvisioner` the default kernel provisioner. At start it
creates the :class:`~.broker.TokenBroker`, the kernels' token store and the loopback endpoint;
handlers: ``/ai-access/api/info``, ``/ai-access/api/status``, ``/ai-access/status``.
"""

from __future__ import annotations

from typing import ClassVar

from jupyter_client.provisioning.factory import KernelProvisionerFactory
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float

from .broker import TokenBroker
from .endpoint import KernelTokenEndpoint
from .events import ServerEvents
from .provisioner import AIAccessProvisioner, Delivery
from .state import StatusChanges
from .status import InfoHandler, StatusHandler, StatusPageHandler
from .store import KernelTokenStore

__all__ = ["AIAccessApp"]


class AIAccessApp(ExtensionApp):
    """Server extension that delivers the logged-in user's Cognito tokens to kernels."""

    name = "jupyter_ai_access"
    load_other_extensions = True
    classes = [TokenBroker, KernelTokenStore]
    active: ClassVar[AIAccessApp | None] = None

    use_provisioner = Bool(
        True,
        config=True,
        help="""Make AIAccessProvisioner the default kernel provisioner of this server, so every
        kernel (also on restart) gets its token folder. Kernel specs that name a provisioner of
        their own keep it. Default: True.""",
    )

    status_wait_max = Float(
        120.0,
        config=True,
        help="""Longest time (s) a request to /ai-access/api/status?wait= is held open waiting for
        a change of the token state (the JupyterLab status-bar item holds one per open tab).
        Default: 120.""",
    )

    broker: TokenBroker
    store: KernelTokenStore
    endpoint: KernelTokenEndpoint
    events: ServerEvents
    status_changes: StatusChanges

    def initialize_settings(self) -> None:
        """Create the broker, the token store and the loopback endpoint."""
        self.broker = TokenBroker(parent=self)
        self.store = KernelTokenStore(parent=self)
        assert self.serverapp is not None
        self.store.prepare(contents_root=self.serverapp.root_dir)
        self.broker.listeners.append(self.store.update)
        self.events = ServerEvents(self.serverapp.event_logger, self.broker, self.store, self.log)
        self.status_changes = StatusChanges(self.broker)
        self.endpoint = KernelTokenEndpoint(self.broker, self.store, self.events)
        self.endpoint.start()
        self.store.endpoint_url = self.endpoint.url
        self.store.login_url = self.broker.login_url
        self.settings["jupyter_ai_access"] = self
        AIAccessApp.active = self
        AIAccessProvisioner.delivery = Delivery(self.broker, self.store, self.events)
        if self.use_provisioner:
            # The factory is a singleton that may exist before this server's config reaches it
            # (another extension can create it first), so set the default here.
            KernelProvisionerFactory.instance().default_provisioner_name = "ai-access-provisioner"
        self.log.info(
            "jupyter_ai_access: token endpoint on %s; tokens from %s",
            self.endpoint.url,
            self.broker.hub_api_url or "(no Hub: token delivery off)",
        )

    def initialize_handlers(self) -> None:
        """Register the REST handlers and the status page under ``/ai-access``."""
        self.handlers.extend(
            [
                (r"/ai-access/api/info", InfoHandler),
                (r"/ai-access/api/status", StatusHandler),
                (r"/ai-access/status", StatusPageHandler),
            ]
        )

    async def stop_extension(self) -> None:
        """Stop renewing, close the endpoint, remove every kernel folder."""
        await self.broker.stop()
        self.endpoint.stop()
        self.status_changes.close()
        self.events.close()
        self.store.remove_all()
        if AIAccessApp.active is self:
            AIAccessApp.active = None
            AIAccessProvisioner.delivery = None
