"""AWS access at session end, measured in one run against the local AWS emulator (moto).

A real kernel runs a boto3 loop (STS GetCallerIdentity at ``--rate`` calls per second, a new
boto3 session per trial, the same client all along) while the server's session ends at a random
moment; measured:

1. session end → the first failing boto3 call in that running kernel, per
   ``AWSCredentialBroker.recheck_seconds`` (50: the default, 5: the stretch goal, 0: the real
   STS expiry advertised, the behaviour before: the baseline, whose calls keep working);
2. the endpoint requests per kernel per hour that re-asking costs (the kernel counts botocore's
   container-credential fetches), against the AWS calls made (ratio);
3. the STS calls behind them: the server's exchanges and moto's own count of the role sessions
   it issued (read through its management API with the operator's secret).

"Session end" is the moment the Hub's answer changes (the stand-in Hub,
``jupyter_ai_access_testing.fake_hub``): the server's session watch brings it to the server, the
kernel's botocore finds out at its next re-ask; both are inside the figure.
With ``--write`` the figures go to ``benchmarks/results/aws_end.json`` (the standard frame of
``benchmarks/results_file.py``), which docs/explanation/aws-session-end.md and
docs/explanation/security.md render (``scripts/figures``: ``render_aws_end`` and its phrases).
Run: .venv/bin/python benchmarks/bench_aws_end.py [--trials N] [--rate R] [--hour-window S]
[--rechecks 50,5] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import aws_delivery
from bench_delivery import run_code, start_ready
from jupyter_ai_access_testing.harness.local_aws import LocalAWS
from results_file import Run

SETUP = """
import json, time, boto3, botocore.utils
asked = []
_fetch = botocore.utils.ContainerMetadataFetcher.retrieve_full_uri
def _counted(self, *args, **kwargs):
    asked.append(time.time())
    return _fetch(self, *args, **kwargs)
botocore.utils.ContainerMetadataFetcher.retrieve_full_uri = _counted
"""
LOOP = """
del asked[:]
sts = boto3.Session().client("sts")
period, calls, failed_at, error = 1.0 / {rate}, [], None, ""
deadline, beat = time.time() + {seconds}, time.time()
while time.time() < deadline:
    t = time.time()
    if t - beat > 30:  # something on iopub: the bench's reader waits 120 s at most
        print(".", flush=True)
        beat = t
    try:
        sts.get_caller_identity()
        calls.append(t)
    except Exception as e:
        failed_at, error = t, f"{{type(e).__name__}}: {{e}}"
        break
    time.sleep(max(0.0, period - (time.time() - t)))
print(json.dumps({{"calls": calls, "asked": list(asked), "failed_at": failed_at,
                  "error": error, "last_ok": calls[-1] if calls else None}}))
"""


def sts_sessions(aws: LocalAWS) -> int:
    """How many role sessions moto's STS has issued (its own state)."""
    status, body = aws.operator_get("/moto-api/data.json")
    assert status == 200, status
    sts = json.loads(body).get("sts", {})
    return sum(len(v) for k, v in sts.items() if k == "assumed_roles" or "assumed" in k.lower())


async def main(
    trials: int, rate: float, hour_window: float, rechecks: list[float], write: bool
) -> None:
    run = Run(
        "aws_end",
        {"trials": trials, "rate": rate, "hour_window": hour_window, "rechecks": rechecks},
    )
    tmp = Path(tempfile.mkdtemp())
    delivery = aws_delivery.start(tmp, login_url="https://hub.example.org/hub/login")
    aws = delivery.aws
    hub = delivery.hub
    broker = delivery.broker
    credentials = delivery.credentials
    _, km = await start_ready("ai-access-provisioner")
    await run_code(km, SETUP)
    out: dict[str, Any] = {"botocore": _botocore_version(), "call_rate_per_s": rate}

    async def until(done: Any) -> None:
        for _ in range(1000):  # at most 10 s
            if done():
                return
            await asyncio.sleep(0.01)
        raise RuntimeError("the session watch did not bring the change within 10 s")

    async def loop(recheck: float, seconds: float, end_after: float | None) -> dict[str, Any]:
        hub.status = 200  # a (new) live session: the session watch brings it
        await until(lambda: broker.session_ended is None and broker.tokens is not None)
        credentials.recheck_seconds = recheck
        exchanges, sessions = credentials.exchanges, sts_sessions(aws)
        task = asyncio.ensure_future(run_code(km, LOOP.format(rate=rate, seconds=seconds)))
        ended = None
        if end_after is not None:
            await asyncio.sleep(end_after)
            ended = time.time()
            hub.status = 401  # the logout at the Hub: the session watch brings it to the server
            await until(lambda: broker.session_ended is not None)
        got: dict[str, Any] = json.loads((await task).strip().splitlines()[-1])
        got.update(
            ended=ended,
            exchanges=credentials.exchanges - exchanges,
            moto_sessions=sts_sessions(aws) - sessions,
        )
        return got

    # 1. session end -> first failing call, per recheck_seconds
    rows = []
    for recheck in rechecks:
        delays, asked_after, messages, sts = [], [], set(), []
        for _ in range(trials):
            end_after = random.uniform(2.0, 2.0 + recheck)  # any phase of the recheck period
            got = await loop(recheck, end_after + recheck + 30, end_after)
            assert got["failed_at"] is not None, f"recheck {recheck}: no failure {got['error']}"
            delays.append(got["failed_at"] - got["ended"])
            asked_after.append(sum(1 for t in got["asked"] if t >= got["ended"]))
            messages.add(got["error"])
            sts.append((got["exchanges"], got["moto_sessions"]))
        rows.append(
            {
                "recheck_seconds": recheck,
                "trials": trials,
                "end_to_first_failure_s": {
                    "median": statistics.median(delays),
                    "max": max(delays),
                    "all": delays,
                },
                "endpoint_requests_after_end": asked_after,
                "sts_calls_per_trial_server_and_moto": sts,
                "error_seen": sorted(messages),
            }
        )
        print(
            f"recheck_seconds={recheck:g}: session end -> first failing boto3 call: median "
            f"{statistics.median(delays):.2f} s, max {max(delays):.2f} s ({trials} trials); "
            f"STS calls per trial (server, moto) {sts}"
        )
    # the baseline: the real expiry advertised (before this change): calls keep working
    base_window = 30.0
    got = await loop(0.0, 2.0 + base_window, 2.0)
    worked = [t for t in got["calls"] if t >= got["ended"]]
    rows.append(
        {
            "recheck_seconds": 0.0,
            "baseline": "the real STS expiry advertised: botocore re-asks 15 min before it",
            "failed_within_window": got["failed_at"] is not None,
            "window_s": base_window,
            "calls_that_worked_after_end": len(worked),
        }
    )
    print(
        f"baseline (recheck_seconds=0): {len(worked)} calls still worked in the {base_window:g} s "
        f"after the end, first failure: {got['failed_at'] is not None}"
    )
    out["end_to_first_failure"] = rows

    # 2. + 3. endpoint requests per kernel per hour, and the STS calls behind them
    cost = []
    for recheck in rechecks:
        window = hour_window if recheck >= 30 else min(hour_window, 60.0)
        got = await loop(recheck, window, None)
        span = got["calls"][-1] - got["calls"][0]
        per_hour = (len(got["asked"]) - 1) / span * 3600  # the first fetch is the session's start
        cost.append(
            {
                "recheck_seconds": recheck,
                "window_s": round(span, 1),
                "aws_calls": len(got["calls"]),
                "endpoint_requests": len(got["asked"]),
                "endpoint_requests_per_kernel_hour": round(per_hour, 1),
                "requests_per_aws_call": round(len(got["asked"]) / len(got["calls"]), 4),
                "sts_calls_server": got["exchanges"],
                "sts_sessions_moto": got["moto_sessions"],
            }
        )
        print(
            f"recheck_seconds={recheck:g}: {len(got['asked'])} endpoint requests for "
            f"{len(got['calls'])} AWS calls in {span:.0f} s: {per_hour:.0f} per kernel-hour "
            f"({len(got['asked']) / len(got['calls']):.3f} per call); STS calls: server "
            f"{got['exchanges']}, moto {got['moto_sessions']}"
        )
    out["cost"] = cost
    await km.shutdown_kernel(now=True)
    await delivery.stop()
    if write:
        run.write(
            f"a real kernel makes one STS GetCallerIdentity call every {1 / rate:g} s with one "
            "boto3 client against loopback moto; the Hub's answer changes at a random moment of "
            f"the recheck period, {trials} times per `recheck_seconds`; endpoint requests counted "
            f"in the kernel over up to {hour_window:.0f} s of calls; the baseline (the real "
            "expiry advertised) in the same run",
            out,
        )


def _botocore_version() -> str:
    import botocore

    return str(botocore.__version__)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--rate", type=float, default=1.0, help="AWS calls per second")
    parser.add_argument("--hour-window", type=float, default=300.0, help="seconds measured")
    parser.add_argument("--rechecks", default="50,5", help="recheck_seconds values to measure")
    parser.add_argument("--write", action="store_true", help="write results/aws_end.json")
    args = parser.parse_args()
    rechecks = [float(v) for v in args.rechecks.split(",")]
    asyncio.run(main(args.trials, args.rate, args.hour_window, rechecks, args.write))
