"""The first read of a data engine in a kernel: through our credentials vs static keys, one run.

For Arrow (``pyarrow.fs.S3FileSystem``) and DuckDB (``read_csv`` with a ``credential_chain``
secret, extensions from PyPI), each measured call makes a NEW filesystem / connection and reads
the demo's data set from the local AWS (moto): credential resolution is part of the first read.
"ours" gets the credentials from the kernel's endpoint (the container provider, as in the README's
deployment); the baseline gets the same credentials as static keys passed to the engine. Both
alternate in one kernel; the figure is the ratio of the medians. The engine's import and DuckDB's
extension load are done before measuring (the same for both).

With ``--write`` the figures go to ``benchmarks/results/engines.json`` (the standard frame of
``benchmarks/results_file.py``), which docs/how-to/data-engines.md renders (``scripts/figures``:
``render_engines``).
Run: .venv/bin/python benchmarks/bench_engines.py [--reads N] [--write]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

import aws_delivery
from bench_delivery import run_code, start_ready
from results_file import Run

FIRST_READS = r"""
import io, os, statistics, time
import duckdb, duckdb_ext, pyarrow.csv as pacsv
from pyarrow import fs
key, secret, token = {static!r}
path, endpoint, region = {path!r}, os.environ["AWS_ENDPOINT_URL"], os.environ["AWS_REGION"]
hostport = endpoint.split("://", 1)[1]
def arrow(static):
    extra = dict(access_key=key, secret_key=secret, session_token=token) if static else {{}}
    t0 = time.perf_counter()
    s3 = fs.S3FileSystem(region=region, endpoint_override=endpoint, **extra)
    with s3.open_input_stream(path) as f:
        rows = pacsv.read_csv(f).num_rows
    return time.perf_counter() - t0, rows
def duck(static):
    t0 = time.perf_counter()
    con = duckdb_ext.init(duckdb.connect())
    con.execute("LOAD httpfs; LOAD aws;")
    how = (f"KEY_ID '{{key}}', SECRET '{{secret}}', SESSION_TOKEN '{{token}}'" if static
           else "PROVIDER credential_chain, REFRESH auto")
    con.execute(f"CREATE SECRET s (TYPE s3, {{how}}, REGION '{{region}}', ENDPOINT '{{hostport}}', "
                "URL_STYLE 'path', USE_SSL false)")
    rows = con.execute(f"SELECT count(*) FROM read_csv('s3://{{path}}')").fetchone()[0]
    con.close()
    return time.perf_counter() - t0, rows
arrow(True); duck(True)  # warm the imports and the extension files' page cache
took = {{"arrow_ours": [], "arrow_static": [], "duckdb_ours": [], "duckdb_static": []}}
for _ in range({reads}):
    for engine, read in (("arrow", arrow), ("duckdb", duck)):
        for static in (False, True):
            seconds, rows = read(static)
            assert rows == 200, rows
            took[f"{{engine}}_{{'static' if static else 'ours'}}"].append(seconds)
print(json.dumps({{k: statistics.median(v) for k, v in took.items()}}))
"""


async def main(reads: int, write: bool) -> None:
    run = Run("engines", {"reads": reads})
    tmp = Path(tempfile.mkdtemp())
    delivery = aws_delivery.start(tmp)
    aws = delivery.aws
    credentials = delivery.credentials

    _, km = await start_ready("ai-access-provisioner")
    held = await credentials.get()
    static = (held.access_key_id, held.secret_access_key, held.session_token)
    path = f"{aws.info['bucket']}/{aws.info['dataset_key']}"
    out = await run_code(
        km, "import json\n" + FIRST_READS.format(static=static, path=path, reads=reads)
    )
    medians = json.loads(out)
    await km.shutdown_kernel(now=True)
    result = {
        "engine_versions": _versions(),
        "median_ms": {k: round(v * 1e3, 2) for k, v in medians.items()},
        "ratio": {
            "arrow": round(medians["arrow_ours"] / medians["arrow_static"], 2),
            "duckdb": round(medians["duckdb_ours"] / medians["duckdb_static"], 2),
        },
    }
    print(json.dumps(result, indent=1))
    await delivery.stop()
    if write:
        run.write(
            f"one real kernel against loopback moto, median of {reads} first reads per engine "
            "and credential source, each through a NEW filesystem or connection (credential "
            "resolution included), ours (the kernel's endpoint) and the same credentials as "
            "static keys alternating; imports and DuckDB's extension files warmed first",
            result,
        )


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("pyarrow", "duckdb", "duckdb-ext-aws")}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reads", type=int, default=15, help="first reads per engine and source")
    parser.add_argument("--write", action="store_true", help="write results/engines.json")
    args = parser.parse_args()
    asyncio.run(main(args.reads, args.write))
