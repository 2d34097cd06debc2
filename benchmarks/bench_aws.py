"""AWS credentials in kernels, measured in one run against the local AWS emulator (moto).

1. The first boto3 call in a kernel (a new botocore session: credential resolution included)
   with the container credentials our endpoint serves, against the same call with static
   credentials in the environment (botocore's first provider) as the baseline.
2. 20 kernels asking at once after expiry: exchanges with AWS per renewal (goal: 1).
3. The endpoint's answer time for /aws-credentials (held credentials), against /token on the
   same endpoint as the baseline (goal: median < 2 ms).

The Hub's token endpoint is the loopback stand-in (jupyter_ai_access_testing.fake_hub).
``--write`` stores the figures in ``benchmarks/results/aws.json`` (the docs render them).
Run: .venv/bin/python benchmarks/bench_aws.py [--calls N] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import aws_delivery
from bench_delivery import run_code, start_ready
from results_file import Run
from tornado.httpclient import AsyncHTTPClient

from jupyter_ai_access.protocol import KernelEnv

ROOT = Path(__file__).resolve().parent.parent
FIRST_CALL = r"""
import os, statistics, time, boto3
static = {static!r}
def first_call():
    t0 = time.perf_counter()
    boto3.Session().client("sts").get_caller_identity()
    return time.perf_counter() - t0
def resolve():
    t0 = time.perf_counter()
    boto3.Session().get_credentials().get_frozen_credentials()
    return time.perf_counter() - t0
container, plain, c_resolve, p_resolve = [], [], [], []
for i in range({calls}):
    container.append(first_call())
    c_resolve.append(resolve())
    os.environ.update(static)           # botocore's environment provider comes first
    plain.append(first_call())
    p_resolve.append(resolve())
    for name in static:
        del os.environ[name]
print(*map(statistics.median, (container, plain, c_resolve, p_resolve)))
"""

COLD = """
import time, boto3
t0 = time.perf_counter()
boto3.Session().client("sts").get_caller_identity()
print(time.perf_counter() - t0)
"""


async def median_answer(client: AsyncHTTPClient, url: str, headers: dict, n: int) -> float:
    took = []
    for _ in range(n):
        t0 = time.perf_counter()
        await client.fetch(url, headers=headers)
        took.append(time.perf_counter() - t0)
    return statistics.median(took)


async def main(calls: int, write: bool) -> None:
    run = Run("aws", {"calls": calls})
    tmp = Path(tempfile.mkdtemp())
    delivery = aws_delivery.start(tmp)
    broker = delivery.broker
    store = delivery.store
    credentials = delivery.credentials
    endpoint = delivery.endpoint

    # 1. the first boto3 call in a kernel: container credentials vs static ones in the environment
    _, km = await start_ready("ai-access-provisioner")
    held = await credentials.get()
    static = {
        "AWS_ACCESS_KEY_ID": held.access_key_id,
        "AWS_SECRET_ACCESS_KEY": held.secret_access_key,
        "AWS_SESSION_TOKEN": held.session_token,
    }
    await run_code(km, "import boto3")  # imports are the same for both: not measured
    credentials.drop()  # cold: the server exchanges the ID token with STS first
    cold = float(await run_code(km, COLD))
    out = await run_code(km, FIRST_CALL.format(static=static, calls=calls))
    container, plain, c_resolve, p_resolve = map(float, out.split())
    await km.shutdown_kernel(now=True)
    print(
        f"first boto3 call in a kernel (new session, median of {calls}): container credentials "
        f"{container * 1e3:.2f} ms, static environment credentials {plain * 1e3:.2f} ms, "
        f"ratio {container / plain:.2f}x; the first call of a fresh server, exchange with STS "
        f"included: {cold * 1e3:.2f} ms ({cold / plain:.2f}x)"
    )
    print(
        f"credential resolution alone (new session): container {c_resolve * 1e3:.2f} ms, "
        f"environment {p_resolve * 1e3:.2f} ms, ratio {c_resolve / p_resolve:.2f}x"
    )

    # 2. 20 kernels asking at once after expiry, 5 renewals
    envs = [store.add_kernel(f"k{i}", broker.tokens) for i in range(20)]
    secrets = [Path(env[KernelEnv.SECRET_FILE]).read_text() for env in envs]
    client = AsyncHTTPClient(force_instance=True, max_clients=40)
    per_renewal = []
    for _ in range(5):
        credentials.credentials = None  # expired: everyone must wait for a new exchange
        before = credentials.exchanges

        async def ask(secret: str) -> None:
            response = await client.fetch(endpoint.aws_url, headers={"Authorization": secret})
            json.loads(response.body)

        await asyncio.gather(*(ask(s) for s in secrets))
        per_renewal.append(credentials.exchanges - before)
    print(
        f"20 kernels asking at once after expiry: exchanges with AWS per renewal {per_renewal} "
        f"(mean {statistics.mean(per_renewal):.1f})"
    )

    # 3. the endpoint's answer time
    n = calls * 20
    token_path = await median_answer(
        client, endpoint.url, {"Authorization": f"Bearer {secrets[0]}"}, n
    )
    aws_path = await median_answer(client, endpoint.aws_url, {"Authorization": secrets[0]}, n)
    print(
        f"endpoint answer (median of {n}, held credentials): /aws-credentials "
        f"{aws_path * 1e3:.2f} ms, /token {token_path * 1e3:.2f} ms, "
        f"ratio {aws_path / token_path:.2f}x"
    )
    client.close()
    await delivery.stop()
    if write:
        run.write(
            f"loopback moto; boto3 calls inside a real kernel, medians of {calls} new sessions; "
            f"20 kernels asking at once after expiry, 5 renewals; endpoint answers, medians of "
            f"{n} requests; each against a baseline measured in the same run",
            {
                "first_call_ms": {"container": container * 1e3, "static": plain * 1e3},
                "first_call_ratio": container / plain,
                "resolve_ms": {"container": c_resolve * 1e3, "static": p_resolve * 1e3},
                "resolve_ratio": c_resolve / p_resolve,
                "cold_first_call_ms": cold * 1e3,
                "kernels": 20,
                "exchanges_per_renewal": per_renewal,
                "answer_ms": {"aws_credentials": aws_path * 1e3, "token": token_path * 1e3},
                "answer_ratio": aws_path / token_path,
                "answer_goal_ms": 2,
            },
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=25)
    parser.add_argument("--write", action="store_true", help="write results/aws.json")
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.write))
