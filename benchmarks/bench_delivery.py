"""Token delivery costs, measured in one run.

1. Kernel start-to-ready: our provisioner vs jupyter_client's LocalProvisioner (alternating).
2. ``get_token()`` inside a real kernel: the file path and the endpoint path (force=True), against
   a plain read of the same file as the baseline.
3. Fan-in: N real kernel processes (default 10), released together by a file barrier, each call
   ``get_token()`` for more validity than the held tokens have (as after expiry): Hub fetches per
   renewal (1 expected: one flight, or the fresh tokens it brought).

The Hub's token endpoint is the loopback stand-in (jupyter_ai_access_testing.fake_hub); the same
fan-in through a real Hub is tests/test_chain.py.
``--write`` stores the figures in ``benchmarks/results/delivery.json`` (the docs render them).
Run: .venv/bin/python benchmarks/bench_delivery.py [--starts N] [--kernels N] [--renewals N]
[--write]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from jupyter_ai_access_testing.fake_hub import FakeHubTokens
from jupyter_ai_access_testing.tokens import TokenFactory
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import KernelProvisionerFactory
from results_file import Run

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


BARRIER = r"""
import hashlib, os, pathlib, time
from jupyter_ai_access.client import get_token
folder = pathlib.Path({folder!r})
(folder / str(os.getpid())).touch()
deadline = time.monotonic() + 120
while len(list(folder.iterdir())) < {n}:
    if time.monotonic() > deadline:
        raise TimeoutError("barrier")
    time.sleep(0.002)
print(hashlib.sha256(get_token(min_valid=1000).encode()).hexdigest())
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


async def main(starts: int, kernels: int, renewals: int, write: bool) -> None:
    run = Run("delivery", {"starts": starts, "kernels": kernels, "renewals": renewals})
    fan_in: list[dict[str, object]] = []
    tmp = Path(tempfile.mkdtemp())
    factory = TokenFactory(issuer="https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Bench0001")
    hub = FakeHubTokens(factory, user="alice", api_token="bench-api-token")
    broker = TokenBroker(
        hub_api_url=hub.url, api_token=hub.api_token, user="alice", renew_before=10
    )
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

    # 3. fan-in: N real kernels asking at once after expiry
    kms = []
    for _ in range(kernels):
        _, km = await start_ready("ai-access-provisioner")
        kms.append(km)
    for delay in (0.0, 0.3):  # the Hub answering at once, and a slow Hub (all wait on one flight)
        hub.delay = delay
        per_renewal = []
        for i in range(renewals):
            hub.lifetime = 100  # what the kernels hold: less than they will ask for
            await broker.get(force=True)
            hub.lifetime = 3600  # what the Hub hands out next
            barrier = tmp / f"barrier-{delay}-{i}"
            barrier.mkdir()
            before = hub.fetches
            code = BARRIER.format(folder=str(barrier), n=kernels)
            outs = await asyncio.gather(*(run_code(km, code) for km in kms))
            per_renewal.append(hub.fetches - before)
            assert len(set(outs)) == 1, "the kernels got different tokens"
        print(
            f"{kernels} real kernels asking at once after expiry, Hub answering in "
            f"+{delay * 1000:.0f} ms: Hub fetches per renewal {per_renewal} "
            f"(mean {statistics.mean(per_renewal):.1f}, 1 expected)"
        )
        fan_in.append({"hub_delay_ms": delay * 1000, "fetches_per_renewal": per_renewal})
    await asyncio.gather(*(km.shutdown_kernel(now=True) for km in kms))
    await broker.stop()
    endpoint.stop()
    store.remove_all()
    hub.stop()
    if write:
        run.write(
            f"real ipykernel kernels, the Hub's token endpoint a loopback stand-in; kernel "
            f"starts alternating, {starts} each; get_token() timed inside one kernel (medians of "
            f"3,000 file reads, 500 endpoint calls, 200 forced); the fan-in {renewals} rounds "
            f"of {kernels} kernels released together",
            {
                "start_ms": {"ours": ours * 1000, "local_provisioner": base * 1000},
                "start_ratio": ours / base,
                "get_token_file_us": file_path * 1e6,
                "plain_read_us": plain * 1e6,
                "get_token_endpoint_ms": endpoint_path * 1e3,
                "get_token_forced_ms": forced * 1e3,
                "kernels": kernels,
                "fan_in": fan_in,
            },
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--kernels", type=int, default=10, help="kernels in the fan-in")
    parser.add_argument("--renewals", type=int, default=3, help="fan-in rounds")
    parser.add_argument("--write", action="store_true", help="write results/delivery.json")
    args = parser.parse_args()
    asyncio.run(main(args.starts, args.kernels, args.renewals, args.write))
