"""Kernel code for tests/test_engines.py: each data engine reads and writes S3 as training code
does.

:data:`PRELUDE` (formatted with the bucket) defines, in the kernel, one reader and one writer per
engine (:data:`ENGINES`), each built once and reused (a training loop keeps its filesystem,
connection, table and data set), and :func:`attempt`, which runs one and reports the row count
or the error's kind. Every engine gets the local AWS's endpoint and path-style addressing the way
docs/how-to/data-engines.md says; none is given a key.
"""

from __future__ import annotations

#: the engines, in the order of the docs page's table
ENGINES = (
    "boto3",
    "awscli",
    "pyarrow_fs",
    "pyarrow_dataset",
    "pandas",
    "duckdb",
    "polars",
    "deltalake",
    "s3torch_map",
    "s3torch_iterable",
)

PRELUDE = """
import io, json, os, subprocess, sys, tempfile, time, traceback
BUCKET, REGION = {bucket!r}, os.environ["AWS_REGION"]
ENDPOINT = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ["AWS_ENDPOINT_URL"]
HOSTPORT = ENDPOINT.split("://", 1)[1]
DATA = f"{{BUCKET}}/models/engines"
OUT = f"{{BUCKET}}/models/engines-out"
_made = {{}}
PROFILE = "jupyter-ai-access"  # the kernel's profile (credential_process): s3torchconnector's CRT

def once(name, make):
    if name not in _made:
        _made[name] = make()
    return _made[name]

# ---- boto3 and the AWS CLI: botocore's container provider
def boto3_read():
    import boto3, pyarrow.parquet as pq
    s3 = once("boto3", lambda: boto3.client("s3"))
    body = s3.get_object(Bucket=BUCKET, Key="models/engines/boto3/train.parquet")["Body"].read()
    return pq.read_table(io.BytesIO(body)).num_rows

def boto3_write():
    once("boto3", lambda: __import__("boto3").client("s3")).put_object(
        Bucket=BUCKET, Key="models/engines-out/boto3/probe.bin", Body=b"x")

def _aws(*args):
    done = subprocess.run([sys.executable, "-m", "awscli", "s3", *args], capture_output=True,
                          text=True, timeout=120)
    if done.returncode:
        raise RuntimeError(done.stderr.strip()[-300:])
    return done.stdout

def awscli_read():
    import pyarrow.parquet as pq
    with tempfile.TemporaryDirectory() as d:
        _aws("cp", f"s3://{{DATA}}/awscli/train.parquet", d + "/t.parquet")
        return pq.read_table(d + "/t.parquet").num_rows

def awscli_write():
    with tempfile.NamedTemporaryFile() as f:
        _aws("cp", f.name, f"s3://{{OUT}}/awscli/probe.bin")

# ---- Arrow (AWS C++ SDK): S3FileSystem and datasets
def _arrow_fs():
    from pyarrow import fs
    return once("arrow", lambda: fs.S3FileSystem(region=REGION, endpoint_override=ENDPOINT))

def pyarrow_fs_read():
    import pyarrow.parquet as pq
    return pq.read_table(f"{{DATA}}/pyarrow_fs/train.parquet", filesystem=_arrow_fs()).num_rows

def pyarrow_fs_write():
    import pyarrow as pa, pyarrow.parquet as pq
    pq.write_table(pa.table({{"x": [1]}}), f"{{OUT}}/pyarrow_fs/probe.parquet",
                   filesystem=_arrow_fs())

def pyarrow_dataset_read():
    import pyarrow.dataset as ds
    return ds.dataset(f"{{DATA}}/pyarrow_dataset/", filesystem=_arrow_fs(),
                      format="parquet").count_rows()

def pyarrow_dataset_write():
    import pyarrow as pa, pyarrow.dataset as ds
    ds.write_dataset(pa.table({{"x": [1]}}), f"{{OUT}}/pyarrow_dataset/", format="parquet",
                     filesystem=_arrow_fs(), existing_data_behavior="overwrite_or_ignore")

# ---- pandas: an s3:// URL and nothing else, as notebooks write it (pandas opens it with
# Arrow's S3 filesystem, built from the URL and the environment at every call)
def pandas_read():
    import pandas as pd
    return len(pd.read_parquet(f"s3://{{DATA}}/pandas/train.parquet"))

def pandas_write():
    import pandas as pd
    pd.DataFrame({{"x": [1]}}).to_parquet(f"s3://{{OUT}}/pandas/probe.parquet")

# ---- DuckDB (httpfs + aws extensions from PyPI; AWS C++ SDK's chain, refreshed)
def _duckdb():
    def make():
        import duckdb, duckdb_ext
        con = duckdb_ext.init(duckdb.connect())
        con.execute("LOAD httpfs; LOAD aws;")
        con.execute(
            "CREATE SECRET engines (TYPE s3, PROVIDER credential_chain, REFRESH auto, "
            f"REGION '{{REGION}}', ENDPOINT '{{HOSTPORT}}', URL_STYLE 'path', USE_SSL false)")
        return con
    return once("duckdb", make)

def duckdb_read():
    sql = f"SELECT count(*) FROM read_parquet('s3://{{DATA}}/duckdb/train.parquet')"
    return _duckdb().execute(sql).fetchone()[0]

def duckdb_write():
    target = f"s3://{{OUT}}/duckdb/probe.parquet"
    _duckdb().execute(f"COPY (SELECT 1 AS x) TO '{{target}}' (FORMAT parquet)")

# ---- Polars (Rust object_store; Polars' own AWS credential provider)
POLARS = {{"aws_endpoint_url": ENDPOINT, "allow_http": "true", "aws_region": REGION}}

def polars_read():
    import polars as pl
    lf = pl.scan_parquet(f"s3://{{DATA}}/polars/train.parquet", storage_options=POLARS)
    return lf.select(pl.len()).collect().item()

def polars_write():
    import polars as pl
    pl.DataFrame({{"x": [1]}}).write_parquet(f"s3://{{OUT}}/polars/probe.parquet",
                                             storage_options=POLARS)

# ---- Delta Lake (delta-rs: object_store with the AWS SDK for Rust's chain)
DELTA = {{"AWS_ENDPOINT_URL": ENDPOINT, "AWS_ALLOW_HTTP": "true", "AWS_REGION": REGION,
         "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}}

def deltalake_read():
    from deltalake import DeltaTable
    where = f"s3://{{DATA}}/deltalake/table"
    table = once("delta", lambda: DeltaTable(where, storage_options=DELTA))
    return table.to_pyarrow_table().num_rows

def deltalake_write():
    import pyarrow as pa
    from deltalake import write_deltalake
    write_deltalake(f"s3://{{OUT}}/deltalake/table", pa.table({{"x": [1]}}), mode="append",
                    storage_options=DELTA)

# ---- PyTorch: s3torchconnector (mountpoint-s3-client on the AWS CRT)
def _torch_config():
    from s3torchconnector import S3ClientConfig
    return S3ClientConfig(force_path_style=True, profile=PROFILE)

def s3torch_map_read():
    import pyarrow.parquet as pq
    from s3torchconnector import S3MapDataset
    ds = once("torch_map", lambda: S3MapDataset.from_prefix(
        f"s3://{{DATA}}/s3torch_map/", region=REGION, endpoint=ENDPOINT,
        s3client_config=_torch_config()))
    return sum(pq.read_table(io.BytesIO(ds[i].read())).num_rows for i in range(len(ds)))

def s3torch_iterable_read():
    import pyarrow.parquet as pq
    from s3torchconnector import S3IterableDataset
    ds = once("torch_iter", lambda: S3IterableDataset.from_prefix(
        f"s3://{{DATA}}/s3torch_iterable/", region=REGION, endpoint=ENDPOINT,
        s3client_config=_torch_config()))
    return sum(pq.read_table(io.BytesIO(o.read())).num_rows for o in ds)

def _torch_write(engine):
    from s3torchconnector import S3Checkpoint
    checkpoint = once("torch_ckpt", lambda: S3Checkpoint(
        region=REGION, endpoint=ENDPOINT, s3client_config=_torch_config()))
    with checkpoint.writer(f"s3://{{OUT}}/{{engine}}/probe.bin") as w:
        w.write(b"x")

s3torch_map_write = lambda: _torch_write("s3torch_map")
s3torch_iterable_write = lambda: _torch_write("s3torch_iterable")

def attempt(engine, kind):
    try:
        got = globals()[f"{{engine}}_{{kind}}"]()
        return got if kind == "read" else "ok"
    except Exception as e:
        text = f"{{type(e).__name__}}: {{e}}"
        words = ("AccessDenied", "ACCESS_DENIED", "Access Denied", "ExpiredToken", "Forbidden",
                 "403", "401", "login_required")
        for word in words:
            if word in text:
                return "refused:" + word
        return "error:" + text[:300]
"""


def attempts_code(kind: str, engines: tuple[str, ...] = ENGINES) -> str:
    """Kernel code (after :data:`PRELUDE`) that prints one JSON line: each engine's
    :func:`attempt` of ``kind`` ("read": rows, "write": "ok"), or the kind of its error."""
    return f"print(json.dumps({{e: attempt(e, {kind!r}) for e in {list(engines)!r}}}))"
