"""The AWS part of token delivery, assembled in one process for the AWS benchmarks.

The local AWS (moto on loopback, IAM enforced), a stand-in Hub answering alice's tokens, the
server's broker, kernel token store, AWS credential broker and per-kernel endpoint, wired as the
extension wires them, and the provisioner's delivery set so that kernels started with
``ai-access-provisioner`` get the container-credentials environment. Used by bench_aws.py,
bench_aws_end.py and bench_engines.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from jupyter_ai_access_testing.fake_hub import FakeHubTokens
from jupyter_ai_access_testing.harness.local_aws import LocalAWS
from jupyter_ai_access_testing.tokens import TokenFactory

from jupyter_ai_access.demo.settings import DEMO_POOL_FILE
from jupyter_ai_access.protocol import AWS_CREDENTIALS_PATH
from jupyter_ai_access.server.aws.broker import AWSCredentialBroker
from jupyter_ai_access.server.aws.endpoint import AWSCredentialsHandler
from jupyter_ai_access.server.broker import TokenBroker
from jupyter_ai_access.server.endpoint import KernelTokenEndpoint
from jupyter_ai_access.server.provisioner import AIAccessProvisioner, Delivery
from jupyter_ai_access.server.store import KernelTokenStore

ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_LocalDemo"


@dataclass
class AWSDelivery:
    """What :func:`start` made; :meth:`stop` ends it (the credentials broker first)."""

    aws: LocalAWS
    hub: FakeHubTokens
    broker: TokenBroker
    store: KernelTokenStore
    credentials: AWSCredentialBroker
    endpoint: KernelTokenEndpoint

    async def stop(self) -> None:
        await self.credentials.stop()
        self.endpoint.stop()
        self.store.remove_all()
        self.hub.stop()
        self.aws.stop()


def start(tmp: Path, login_url: str = "") -> AWSDelivery:
    """Start everything above in ``tmp``; kernels' AWS SDKs go to the local AWS."""
    aws = LocalAWS(DEMO_POOL_FILE, "bench", tmp / "aws.log").start()
    os.environ["AWS_ENDPOINT_URL"] = aws.endpoint
    hub = FakeHubTokens(TokenFactory(issuer=ISSUER), user="alice", api_token="bench-api-token")
    extra = {"login_url": login_url} if login_url else {}
    broker = TokenBroker(hub_api_url=hub.url, api_token=hub.api_token, user="alice", **extra)
    store = KernelTokenStore(token_dir=str(tmp / "tokens"))
    credentials = AWSCredentialBroker(
        broker,
        kernel_alive=lambda k: k in store.kernels,
        exchange="web_identity",
        region="us-east-1",
        group_roles={"ml-training": aws.role("ml-training")},
        sts_endpoint_url=aws.endpoint,
    )
    endpoint = KernelTokenEndpoint(broker, store, credentials)
    endpoint.add_handler(AWS_CREDENTIALS_PATH, AWSCredentialsHandler)
    endpoint.start()
    store.endpoint_url = endpoint.url
    broker.listeners.extend([store.update, credentials.on_tokens])
    AIAccessProvisioner.delivery = Delivery(broker, store, credentials, endpoint.aws_url)
    return AWSDelivery(aws, hub, broker, store, credentials, endpoint)
