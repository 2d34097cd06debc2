"""Token delivery costs, measured in one run.

1. Kernel start-to-ready: our provisioner vs jupyter_client's LocalProvisioner (alternating).
2. ``get_token()`` inside a real kernel: the file path and the endpoint path (force=True), against
   a plain read of the same file as the baseline.
3. 20 kernels renewing at once after expiry: Hub fetches per renewal.

The Hub's token endpoint is the loopback stand-in (jupyter_ai_access_testing.fake_hub).
Run: .venv/bin/python benchmarks/bench_delivery.py [--starts N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from jupyter_ai_access_testing.fake_hub import FakeHubTokens
from jupyter_ai_access_testing.tokens import TokenFactory
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import KernelProvisionerFactory
from tornado.httpclient import AsyncHTTPClient

from jupyter_ai_access.protocol import KernelEnv
from jupyter_ai_access.server.broker import TokenBroker
from jupyter_ai_access.server.endpoint import KernelTokenEndpoint
from jupyter_ai_access.server.provisioner import AIAccessProvisioner, Delivery
from jupyter_ai_access.server.store import KernelTokenStore

KERNEL_TIMING = r"""
import time, statistics, os
from jupyter_ai_access.client import get_token
path = os.environ["JUPYTER_AI_ACCESS_TOKEN_FILE"]
def med(fn, n):
    out = []
    for _ in range(n):
        t0 = time.perf_counter(); fn(); out.append(time.perf_counter() - t0)
    return statistics.median(out)
def plain():
    with open(path) as f:
        f.read()
get_token()
from jupyter_ai_access.client import _from_endpoint
print(med(plain, 3000), med(get_token, 3000), med(lambda: _from_endpoint("access", 0, False), 500),
      med(lambda: get_token(force=True), 200))
"""


async def start_ready(provisioner: str) -> tuple[float, AsyncKernelManager]:
    KernelProvisionerFactory.instance().default_provisioner_name = provisioner
    km = AsyncKernelManager(kernel_name="python3")
    t0 = time.perf_counter()
    await km.start_kernel()
    client = km.client()
    client.start_channels()
    await client.wait_for_ready(timeout=60)
    took = time.perf_counter() - t0
    client.stop_channels()
    return took, km


async def run_code(km: AsyncKernelManager, code: str) -> str:
    client = km.client()
    client.start_channels()
    await client.wait_for_ready(timeout=60)
    msg_id = client.execute(code)
    out = []
    while True:
        msg = await client.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        if msg["msg_type"] == "error":
            raise RuntimeError("\n".join(msg["content"]["traceback"]))
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    client.stop_channels()
    return "".join(out)


async def main(starts: int) -> None:
    tmp = Path(tempfile.mkdtemp())
    factory = TokenFactory(issuer="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Bench0001")
    hub = FakeHubTokens(factory, user="alice", api_token="bench-api-token")
    broker = TokenBroker(hub_api_url=hub.url, api_token=hub.api_token, user="alice")
    store = KernelTokenStore(token_dir=str(tmp / "tokens"))
    endpoint = KernelTokenEndpoint(broker, store)
    endpoint.start()
    store.endpoint_url = endpoint.url
    broker.listeners.append(store.update)
    AIAccessProvisioner.delivery = Delivery(broker, store)  # what the extension hands it

    # 1. start-to-ready, alternating
    times: dict[str, list[float]] = {"local-provisioner": [], "ai-access-provisioner": []}
    for i in range(starts):
        order = list(times) if i % 2 == 0 else list(reversed(times))
        for name in order:
            took, km = await start_ready(name)
            times[name].append(took)
            await km.shutdown_kernel(now=True)
    base = statistics.median(times["local-provisioner"])
    ours = statistics.median(times["ai-access-provisioner"])
    print(
        f"kernel start-to-ready (median of {starts}): LocalProvisioner {base * 1000:.0f} ms, "
        f"ours {ours * 1000:.0f} ms, ratio {ours / base:.3f}x"
    )

    # 2. get_token() inside a kernel
    _, km = await start_ready("ai-access-provisioner")
    result = (await run_code(km, KERNEL_TIMING)).split()
    plain, file_path, endpoint_path, forced = map(float, result)
    await km.shutdown_kernel(now=True)
    print(
        f"get_token() in a kernel: file path {file_path * 1e6:.1f} us "
        f"({file_path / plain:.2f}x a plain read of the file, {plain * 1e6:.1f} us); "
        f"endpoint path {endpoint_path * 1e3:.2f} ms; "
        f"force=True (endpoint + a Hub fetch) {forced * 1e3:.2f} ms"
    )

    # 3. 20 kernels renewing at once, 5 renewals
    envs = [store.add_kernel(f"k{i}", broker.tokens) for i in range(20)]
    client = AsyncHTTPClient(force_instance=True, max_clients=40)
    per_renewal = []
    for _ in range(5):
        broker.tokens = None  # expired
        before = hub.fetches

        async def ask(env: dict[str, str]) -> None:
            secret = Path(env[KernelEnv.SECRET_FILE]).read_text()
            response = await client.fetch(
                endpoint.url + "?min_valid=10", headers={"Authorization": f"Bearer {secret}"}
            )
            json.loads(response.body)

        await asyncio.gather(*(ask(env) for env in envs))
        per_renewal.append(hub.fetches - before)
    print(
        f"20 kernels renewing at once: Hub fetches per renewal {per_renewal} "
        f"(mean {statistics.mean(per_renewal):.1f})"
    )
    client.close()
    endpoint.stop()
    store.remove_all()
    hub.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=10)
    asyncio.run(main(parser.parse_args().starts))
