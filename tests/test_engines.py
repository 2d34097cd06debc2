"""Data engines in real kernels read and write S3 as the person, renew, and stop at session end.

A real Jupyter server (pytest-jupyter) with the extension and its provisioner, real ipykernel
kernels running the engines' real packages (tests/engine_probes.py), the stand-in Hub endpoint,
and the local AWS (moto, IAM enforced) behind :class:`AWSFront`, which makes STS sessions short
and expiring as on AWS and records which access key signed each request. alice is a publisher
(``ml-publishers``: reads the data set, writes ``models/``); bob a trainer (``ml-training``:
reads; IAM refuses his writes). Every engine is configured as docs/how-to/data-engines.md says:
the endpoint and path-style addressing, never a key.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import botocore
import botocore.config
import pytest
from jupyter_ai_access_testing.fake_hub import FakeHubTokens
from jupyter_ai_access_testing.harness.aws_front import AWSFront
from jupyter_ai_access_testing.harness.engine_probes import ENGINES, PRELUDE, attempts_code
from jupyter_ai_access_testing.harness.inprocess import run, start_kernel

from jupyter_ai_access.local_aws.emulator import dataset_csv
from jupyter_ai_access.server.app import AIAccessApp

pytestmark = pytest.mark.kernel

ROWS = 200  # dataset_csv()'s rows
READERS = ENGINES
WRITERS = ENGINES


@pytest.fixture(scope="module")
def front(local_aws) -> Iterator[AWSFront]:
    """The local AWS as kernels and the server's exchange see it: keys expire."""
    proxy = AWSFront(local_aws.endpoint, lifetime=3600)
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def dataset(local_aws) -> str:
    """alice's data set, published once: Parquet per engine and a Delta table (test process)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    from deltalake import write_deltalake

    unsigned = botocore.config.Config(signature_version=botocore.UNSIGNED)
    sts = boto3.client(
        "sts", endpoint_url=local_aws.endpoint, config=unsigned, region_name="us-east-1"
    )
    c = sts.assume_role_with_web_identity(
        RoleArn=local_aws.role("ml-publishers"), RoleSessionName="alice", WebIdentityToken="seed"
    )["Credentials"]
    keys = {
        "aws_access_key_id": c["AccessKeyId"],
        "aws_secret_access_key": c["SecretAccessKey"],
        "aws_session_token": c["SessionToken"],
    }
    bucket = local_aws.info["bucket"]
    s3 = boto3.client("s3", endpoint_url=local_aws.endpoint, region_name="us-east-1", **keys)
    table = pacsv.read_csv(io.BytesIO(dataset_csv().encode()))
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    for engine in ENGINES:
        if engine != "deltalake":
            s3.put_object(
                Bucket=bucket, Key=f"models/engines/{engine}/train.parquet", Body=buffer.getvalue()
            )
    write_deltalake(
        f"s3://{bucket}/models/engines/deltalake/table",
        pa.Table.from_batches(table.to_batches()),
        mode="overwrite",
        storage_options={
            "AWS_ENDPOINT_URL": local_aws.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": keys["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": keys["aws_secret_access_key"],
            "AWS_SESSION_TOKEN": keys["aws_session_token"],
            "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
        },
    )
    return bucket


@pytest.fixture
def person() -> str:
    return "alice"


@pytest.fixture
def fake_hub_tokens(issuer_server, canaries, monkeypatch, person) -> Iterator[FakeHubTokens]:
    """The stand-in Hub for ``person`` (alice publishes, bob trains)."""
    hub = FakeHubTokens(
        issuer_server.factory, user=person, api_token=canaries.secret("server-api-token")
    )
    hub.groups = ["ml-publishers"] if person == "alice" else ["ml-training"]
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", hub.api_token)
    yield hub
    hub.stop()


@pytest.fixture
def jp_server_config(fake_hub_tokens, local_aws, front, dataset, person, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ENDPOINT_URL", front.url)  # kernels inherit it
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_ai_access": True}},
        "KernelProvisionerFactory": {"default_provisioner_name": "ai-access-provisioner"},
        "TokenBroker": {
            "hub_api_url": fake_hub_tokens.url,
            "user": person,
            "login_url": "https://hub.example.org/hub/login",
        },
        "KernelTokenStore": {"token_dir": str(tmp_path / "kernel-tokens")},
        "AWSCredentialBroker": {
            "exchange": "web_identity",
            "region": "us-east-1",
            "sts_endpoint_url": front.url,
            "renew_before": 8,  # with the front's 20 s sessions: a new set every ~12 s
            "group_roles": {
                "ml-publishers": local_aws.role("ml-publishers"),
                "ml-training": local_aws.role("ml-training"),
            },
        },
    }


@pytest.fixture
def ext(jp_serverapp) -> AIAccessApp:
    app = AIAccessApp.active
    assert app is not None
    return app


async def attempts(jp_serverapp: Any, kernel_id: str, kind: str) -> dict[str, Any]:
    """Each engine's read (rows) or write ("ok"), or the kind of its error."""
    code = attempts_code(kind)
    return dict(json.loads(await run(jp_serverapp, kernel_id, code, timeout=240)))


async def engine_kernel(jp_serverapp: Any, bucket: str) -> str:
    """A kernel with the probes defined (no engine touched yet)."""
    kernel_id = await start_kernel(jp_serverapp)
    await run(jp_serverapp, kernel_id, PRELUDE.format(bucket=bucket))
    return kernel_id


def paths(engine: str, out: bool = False) -> str:
    return f"/models/engines{'-out' if out else ''}/{engine}/"


# ---------------------------------------------------------------- as the person
@pytest.mark.parametrize("person", ["alice", "bob"])
async def test_each_engine_reads_as_the_person_and_iam_refuses_bobs_writes(
    jp_serverapp, ext, dataset, front, person
):
    front.lifetime = 3600
    since = time.time()
    kernel_id = await engine_kernel(jp_serverapp, dataset)
    assert await attempts(jp_serverapp, kernel_id, "read") == dict.fromkeys(ENGINES, ROWS)
    role = "ml-publishers" if person == "alice" else "ml-training"
    held = ext.aws.credentials
    assert held is not None and held.principal.endswith(f"-{role}/{person}")
    for engine in ENGINES:  # every engine signed with the person's key, and only with it
        assert front.keys_used(since, paths(engine)) == [held.access_key_id], engine
    writes = await attempts(jp_serverapp, kernel_id, "write")
    if person == "alice":
        await check_the_kernels_profile_and_mlflow_header(jp_serverapp, kernel_id, held)
        assert writes == dict.fromkeys(ENGINES, "ok")
        return
    # refused by IAM (S3 answered 403 AccessDenied), not by a client-side failure
    assert all(str(w).startswith("refused:") for w in writes.values()), writes
    with front.lock:
        sent = [r for r in front.requests if r.at >= since and r.method in ("PUT", "POST")]
    assert not [r.path for r in sent if "/models/" in r.path and r.status < 300]
    assert {r.status for r in sent if "/models/" in r.path} == {403}
    assert ext.aws.exchanges == 1


# ---------------------------------------------------------------- renewal
@pytest.mark.slow
async def test_a_read_loop_renews_across_three_short_lifetimes(jp_serverapp, ext, dataset, front):
    front.lifetime = 20  # the front refuses a key past its expiry, as AWS does
    kernel_id = await engine_kernel(jp_serverapp, dataset)
    since = time.time()
    reads = json.loads(
        await run(
            jp_serverapp,
            kernel_id,
            f"""
            rounds, start = [], time.time()
            while time.time() - start < 62:  # three lifetimes and then some
                rounds.append({{e: attempt(e, "read") for e in {list(ENGINES)!r}}})
                time.sleep(4)
            print(json.dumps(rounds))
            """,
            timeout=240,
        )
    )
    assert len(reads) >= 5
    for engine in ENGINES:
        assert [r[engine] for r in reads] == [ROWS] * len(reads), engine
        used = front.keys_used(since, paths(engine))
        assert len(used) >= 3, (engine, len(used))  # one credential set per lifetime at least
    assert ext.aws.exchanges >= 4


# ---------------------------------------------------------------- session end
async def read_within(jp_serverapp: Any, kernel_id: str, engine: str, seconds: float) -> Any:
    try:
        code = f"print(json.dumps(attempt({engine!r}, 'read')))"
        return json.loads(await run(jp_serverapp, kernel_id, code, timeout=seconds))
    except Exception as e:  # the kernel is still busy: the engine retries past `seconds`
        return f"no answer in {seconds} s ({type(e).__name__})"


@pytest.mark.slow
async def test_session_end_stops_every_engines_reads(
    jp_serverapp, ext, dataset, front, fake_hub_tokens
):
    front.lifetime = 20
    start = time.time()
    # one kernel per engine, each holding its engine object (and its credentials) when it ends
    kernels = {engine: await engine_kernel(jp_serverapp, dataset) for engine in ENGINES}
    first = await asyncio.gather(
        *(read_within(jp_serverapp, k, engine, 120) for engine, k in kernels.items())
    )
    assert first == [ROWS] * len(ENGINES)
    fake_hub_tokens.status = 401  # the Hub says the session is over
    with pytest.raises(Exception, match="session has ended"):
        await ext.broker.get(force=True)
    issued = len(front.expiry)
    # what the engines hold stays valid at AWS until it expires (awsend's deny ends it sooner)
    await asyncio.sleep(max(0.0, front.latest_expiry(start) - time.time()) + 1)
    since = time.time()
    after = dict(
        zip(
            ENGINES,
            await asyncio.gather(
                *(read_within(jp_serverapp, k, engine, 60) for engine, k in kernels.items())
            ),
            strict=True,
        )
    )
    assert all(r != ROWS for r in after.values()), after
    assert len(front.expiry) == issued  # no credentials were issued after the end
    with front.lock:  # and S3 served nothing after it
        assert not [r for r in front.requests if r.at >= since and r.status < 300]


# ---------------------------------------------------------------- the profile, the command, MLflow
PROFILE_AND_HEADER = """
import configparser, json, os, subprocess, sys
from jupyter_ai_access.client import get_token
from jupyter_ai_access.engines.mlflow_auth import BearerTokenHeaderProvider
done = subprocess.run([sys.executable, "-m", "jupyter_ai_access.cli", "aws-credentials"],
                      capture_output=True, text=True, timeout=60)
printed = json.loads(done.stdout)
config = open(os.environ["AWS_CONFIG_FILE"]).read()
parsed = configparser.ConfigParser()
parsed.read_string(config)
os.environ["MLFLOW_TRACKING_URI"] = "http://127.0.0.1:9/"  # never contacted here
provider = BearerTokenHeaderProvider()
print(json.dumps({
    "fields": sorted(printed), "version": printed["Version"], "key": printed["AccessKeyId"],
    "profile": dict(parsed["profile jupyter-ai-access"]), "config": config,
    "mlflow_in_context": provider.in_context(),
    "mlflow_header_is_the_token": provider.request_headers()
        == {"Authorization": "Bearer " + get_token(120)},
}))
"""


async def check_the_kernels_profile_and_mlflow_header(
    jp_serverapp: Any, kernel_id: str, held: Any
) -> None:
    got = json.loads(await run(jp_serverapp, kernel_id, PROFILE_AND_HEADER))
    assert got["fields"] == [
        "AccessKeyId",
        "Expiration",
        "SecretAccessKey",
        "SessionToken",
        "Version",
    ]
    assert got["version"] == 1 and got["key"] == held.access_key_id
    assert got["profile"]["credential_process"].endswith(
        " -m jupyter_ai_access.cli aws-credentials"
    )
    assert got["profile"]["region"] == "us-east-1"
    assert held.secret_access_key not in got["config"]  # no secret on disk
    assert held.session_token not in got["config"]
    assert got["mlflow_in_context"] is True
    assert got["mlflow_header_is_the_token"] is True


def test_the_credentials_command_outside_a_kernel_says_what_is_missing(tmp_path):
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_ai_access.cli", "aws-credentials"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert "$AWS_CONTAINER_CREDENTIALS_FULL_URI" in done.stderr
    assert "AWSCredentialBroker.exchange" in done.stderr


async def test_a_persons_own_aws_config_is_not_hidden(jp_serverapp, ext, tmp_path, monkeypatch):
    """botocore reads one config file: with ``~/.aws/config`` in the home, the kernel gets no
    ``AWS_CONFIG_FILE`` of ours (which would hide the person's own profiles)."""
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "config").write_text("[profile mine]\nregion = eu-west-1\n", encoding="utf-8")
    monkeypatch.setenv("HOME", str(home))
    kernel_id = await start_kernel(jp_serverapp)
    code = "import os; print(os.environ.get('AWS_CONFIG_FILE', 'unset'))"
    assert (await run(jp_serverapp, kernel_id, code)).strip() == "unset"
