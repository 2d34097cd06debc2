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

from ..engines.profile import has_own_config, write_config
from ..errors import TokenDeliveryError
from ..protocol import AWSEnv, KernelEnv
from .aws.broker import AWSCredentialBroker
from .broker import TokenBroker
from .events import ServerEvents
from .standalone.process import SECRET_ENV
from .store import KernelTokenStore

__all__ = ["AIAccessProvisioner", "Delivery"]

#: AWS variables a kernel must not inherit from the server: they would take precedence over (or
#: replace) the user's own credentials in botocore's chain.
_AWS_INHERITED = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    AWSEnv.CONTAINER_CREDENTIALS_FULL_URI,
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    AWSEnv.CONTAINER_AUTHORIZATION_TOKEN_FILE,
)


@dataclass(frozen=True)
class Delivery:
    """What the provisioner needs from the running server extension."""

    broker: TokenBroker
    store: KernelTokenStore
    aws: AWSCredentialBroker | None = None
    aws_url: str = ""
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
        for name in _AWS_INHERITED:  # the server's own AWS identity never reaches a kernel
            env.pop(name, None)
        for name in SECRET_ENV:  # nor the app client's secret, nor where it is kept
            env.pop(name, None)
        if delivery.aws is not None and delivery.aws.enabled:
            env.update(delivery.aws.kernel_env(delivery.aws_url, env[KernelEnv.SECRET_FILE]))
            if not has_own_config(env):  # a profile for SDKs without the container provider
                env.update(write_config(store.kernels[self.kernel_id], delivery.aws.region))
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
