"""The kernel provisioner that gives each kernel its token folder, endpoint URL and secret.

``AIAccessProvisioner`` (a ``LocalProvisioner``) is made the default provisioner by the
extension's configuration (``jupyter-config/``), so it also runs on kernel restart. The server
extension hands it the broker and the store at start (:attr:`AIAccessProvisioner.delivery`);
without a running extension it behaves as a plain ``LocalProvisioner``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar

from jupyter_client.provisioning.local_provisioner import LocalProvisioner

from ..errors import TokenDeliveryError
from .broker import TokenBroker
from .events import ServerEvents
from .store import KernelTokenStore

__all__ = ["AIAccessProvisioner", "Delivery"]


@dataclass(frozen=True)
class Delivery:
    """What the provisioner needs from the running server extension."""

    broker: TokenBroker
    store: KernelTokenStore
    events: ServerEvents | None = None


class AIAccessProvisioner(LocalProvisioner):
    """A LocalProvisioner that gives each kernel its token folder, endpoint URL and secret."""

    #: Set by the server extension when it starts, cleared when it stops.
    delivery: ClassVar[Delivery | None] = None

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """Prepare the kernel's token folder and environment (also on restart)."""
        kwargs = await super().pre_launch(**kwargs)
        delivery = AIAccessProvisioner.delivery
        if delivery is None:
            return kwargs
        broker, store = delivery.broker, delivery.store
        tokens = None
        if broker.enabled:
            try:
                tokens = await broker.get(min_valid=0)
            except TokenDeliveryError as e:
                self.log.warning("Kernel %s starts without tokens: %s", self.kernel_id, e)
        env = dict(kwargs.get("env") or os.environ)
        env.update(store.add_kernel(self.kernel_id, tokens))
        if tokens is not None and delivery.events is not None:
            delivery.events.delivered(self.kernel_id, tokens, via="launch")
        if store.remove_hub_token:
            env.pop("JUPYTERHUB_API_TOKEN", None)
            env.pop("JPY_API_TOKEN", None)
        kwargs["env"] = env
        if broker.enabled:
            broker.start()
        return kwargs

    async def cleanup(self, restart: bool = False) -> None:
        """Remove the kernel's folder and secret, unless it is restarting."""
        await super().cleanup(restart=restart)
        delivery = AIAccessProvisioner.delivery
        if delivery is not None:
            if restart:
                delivery.store.forget_secrets(self.kernel_id)
            else:
                delivery.store.remove_kernel(self.kernel_id)
