"""Every data-engine row in kernels of the README's deployment (its Hub, identity pool, roles, bucket).

tests/test_engines.py runs the rows against a local AWS that cuts STS sessions to 20 s, which
proves renewal across lifetimes and the end of what an engine already holds. The deployment's
identity pool issues 1-hour credentials, as Cognito's does, so here, with everything as
``./run-demo`` starts it: alice (``ml-publishers``) publishes each engine's data set from her
kernel, reads it back with every engine and writes under ``models/``; bob (``ml-training``) reads
it with every engine and IAM refuses each of his writes; after alice's logout, every engine made
anew in her running kernel reads nothing — except Polars, whose own credential cache keeps the
credentials until the expiry the endpoint advertised (checked, and documented). No kernel is
given a key.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from jupyter_ai_access_testing.harness.deployment import watched_deployment
from jupyter_ai_access_testing.harness.engine_probes import ENGINES, PRELUDE, attempts_code
from jupyter_ai_access_testing.harness.notebooks import ServerKernel
from jupyter_ai_access_testing.harness.users import kernel, login, probe, run, spawn, until

pytestmark = pytest.mark.kernel

ROWS = 200
#: how long the kernel's Polars provider lets Polars keep credentials here (60 s by default)
POLARS_SECONDS = 15

#: alice publishes the data sets from her kernel, with her own credentials (boto3, delta-rs).
SEED = f"""
import pyarrow as pa, pyarrow.parquet as pq
from deltalake import write_deltalake
table = pa.table({{"x": list(range({ROWS}))}})
buffer = io.BytesIO()
pq.write_table(table, buffer)
s3 = __import__("boto3").client("s3")
for engine in {list(ENGINES)!r}:
    if engine != "deltalake":
        s3.put_object(Bucket=BUCKET, Key=f"models/engines/{{engine}}/train.parquet",
                      Body=buffer.getvalue())
write_deltalake(f"s3://{{DATA}}/deltalake/table", table, mode="overwrite", storage_options=DELTA)
"""


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, canaries, leak_watcher) -> Iterator[dict[str, Any]]:
    with watched_deployment(tmp_path_factory, canaries, leak_watcher) as hub:
        yield hub


async def each(k: ServerKernel, kind: str) -> dict[str, Any]:
    """Every engine's read (rows) or write ("ok"), or the kind of its error, in kernel ``k``."""
    code = attempts_code(kind)
    out = await k.execute(code, timeout=300)
    assert out["error"] is None, out
    return dict(json.loads(str(out["stdout"]).strip().splitlines()[-1]))


async def test_every_engine_reads_as_the_person_iam_refuses_bob_and_logout_stops_new_readers(
    deployment,
):
    alice_browser = login(deployment, "alice")
    login(deployment, "bob").close()
    spawn(deployment, "alice")
    spawn(deployment, "bob")
    alice = await kernel(deployment, "alice")
    bob = await kernel(deployment, "bob")
    minded = await kernel(deployment, "alice")  # alice's second kernel: Polars with our provider
    try:
        bucket = await run(alice, "import os; print(os.environ['AI_ACCESS_BUCKET'])")
        prelude = PRELUDE.format(bucket=bucket)
        for k in (alice, bob, minded):
            await run(k, prelude)
            keys = "print([v for v in ('AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY') if v in os.environ])"
            assert await run(k, keys) == "[]"  # no key in the kernel: the endpoint's credentials
        out = await alice.execute(SEED, timeout=180)
        assert out["error"] is None, out

        assert await each(alice, "read") == dict.fromkeys(ENGINES, ROWS)
        assert await each(alice, "write") == dict.fromkeys(ENGINES, "ok")
        assert await each(bob, "read") == dict.fromkeys(ENGINES, ROWS)
        refused = await each(bob, "write")
        assert all(str(w).startswith("refused:") for w in refused.values()), refused

        use = "from jupyter_ai_access.engines.polars_credentials import use_for_polars"
        await run(minded, f"{use}; provider = use_for_polars(seconds={POLARS_SECONDS})")
        assert await run(minded, "print(attempt('polars', 'read'))") == str(ROWS)
        assert await run(minded, "print(provider.fetches)") == "1"

        alice_browser.go("/hub/logout")
        logged_out = time.monotonic()
        state, _ = await until(alice, lambda s: "ended" in s)
        assert "ended" in state, state
        # every engine object made anew, as a new kernel would make them (boto3's default
        # session keeps what it fetched for up to AWSCredentialBroker.recheck_seconds: what a
        # running client keeps is tests/test_aws_session_end.py's)
        await run(alice, "_made.clear(); import boto3; boto3.DEFAULT_SESSION = None")
        after = await each(alice, "read")
        # Polars keeps what it fetched in a process-wide cache until the expiry the endpoint
        # advertised (900 s + recheck_seconds ahead; polars' CachingCredentialProvider): a new
        # scan reads on until then. docs/how-to/data-engines.md says so; this tells us if
        # Polars changes.
        assert after.pop("polars") == ROWS
        assert all(r != ROWS for r in after.values()), json.dumps(after, indent=1)
        assert "ended" in await probe(alice)
        # ... unless the kernel gave Polars our provider: its next query after the minute it was
        # given (here POLARS_SECONDS) is refused with the endpoint's "log in again" message
        code = "_made.clear(); print(attempt('polars', 'read'))"
        read = await run(minded, code)
        while read == str(ROWS) and time.monotonic() - logged_out < POLARS_SECONDS + 30:
            await asyncio.sleep(2)
            read = await run(minded, code)
        stopped = time.monotonic() - logged_out
        # within the loop's bound: long before the 950 s Polars' own provider keeps them
        assert "AWS access ended with your JupyterHub session" in read, read
        print(f"Polars with the kernel's provider refused {stopped:.1f} s after the logout")
    finally:
        alice_browser.close()
        await alice.shutdown()
        await bob.shutdown()
        await minded.shutdown()
