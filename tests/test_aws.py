"""AWS credentials in real kernels: boto3 and the AWS CLI as the logged-in user, unchanged.

A real Jupyter server (pytest-jupyter) with the extension, real ipykernel kernels running real
boto3, the stand-in Hub endpoint (tokens from a test issuer), and the local AWS emulator (moto's
server with IAM enforcement on, seeded from the demo pool description) as STS and S3.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_ai_access_testing.harness.inprocess import run, start_kernel
from jupyter_ai_access_testing.harness.local_aws import LocalAWS
from jupyter_ai_access_testing.ports import free_port
from tornado.httpclient import AsyncHTTPClient

from jupyter_ai_access.demo.settings import DEMO_POOL_FILE
from jupyter_ai_access.protocol import AWS_CREDENTIALS_PATH, KernelEnv
from jupyter_ai_access.server.app import AIAccessApp

pytestmark = pytest.mark.kernel

IDENTITY = """
import boto3, json
sts = boto3.client("sts")
print(json.dumps({"arn": sts.get_caller_identity()["Arn"],
                  "method": boto3.Session().get_credentials().method}))
"""


@pytest.fixture
def aws_endpoint(local_aws, monkeypatch) -> str:
    """Where kernels' boto3 goes (AWS_ENDPOINT_URL, inherited from the server)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_aws.endpoint)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return local_aws.endpoint


@pytest.fixture
def jp_server_config(fake_hub_tokens, local_aws, aws_endpoint, tmp_path):
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_ai_access": True}},
        "KernelProvisionerFactory": {"default_provisioner_name": "ai-access-provisioner"},
        "TokenBroker": {
            "hub_api_url": fake_hub_tokens.url,
            "user": "alice",
            "login_url": "https://hub.example.org/hub/login",
        },
        "KernelTokenStore": {"token_dir": str(tmp_path / "kernel-tokens")},
        "AWSCredentialBroker": {
            "exchange": "web_identity",
            "region": "us-east-1",
            "group_roles": {
                "ml-publishers": local_aws.role("ml-publishers"),
                "ml-training": local_aws.role("ml-training"),
            },
        },
    }


@pytest.fixture
def ext(jp_serverapp, canaries) -> Iterator[AIAccessApp]:
    app = AIAccessApp.active
    assert app is not None
    yield app
    held = app.aws.credentials
    if held is not None:  # the leak check then also looks for them in every log
        canaries.register(held.secret_access_key, "AWS secret access key")
        canaries.register(held.session_token, "AWS session token")


S3_PROBE = """
import json, boto3, botocore.exceptions
s3, out = boto3.client("s3"), {{}}
try:
    out["read"] = len(s3.get_object(Bucket={bucket!r}, Key={key!r})["Body"].read())
except botocore.exceptions.ClientError as e:
    out["read"] = e.response["Error"]["Code"]
try:
    s3.put_object(Bucket={bucket!r}, Key="models/probe.json", Body=b"{{}}")
    out["publish"] = "ok"
except botocore.exceptions.ClientError as e:
    out["publish"] = e.response["Error"]["Code"]
print(json.dumps(out))
"""


def s3_probe(local_aws: LocalAWS) -> str:
    return S3_PROBE.format(bucket=local_aws.info["bucket"], key=local_aws.info["dataset_key"])


# ---------------------------------------------------------------- the happy path, by group
@pytest.mark.parametrize(
    ("groups", "role", "publish"),
    [
        pytest.param(["ml-training"], "ml-training", "AccessDenied", id="trainer-reads-only"),
        pytest.param(["ml-training", "ml-publishers"], "ml-publishers", "ok", id="publisher"),
    ],
)
async def test_boto3_in_a_kernel_is_the_user_with_the_role_of_their_group(
    jp_serverapp, jp_fetch, ext, fake_hub_tokens, local_aws, groups, role, publish
):
    fake_hub_tokens.groups = groups
    kernel_id = await start_kernel(jp_serverapp)
    who = json.loads(await run(jp_serverapp, kernel_id, IDENTITY))
    assert who == {
        "arn": f"arn:aws:sts::123456789012:assumed-role/jupyter-ai-access-demo-{role}/alice",
        "method": "container-role",
    }
    status = json.loads((await jp_fetch("ai-access", "api", "status")).body)["aws"]
    assert status["principal"] == who["arn"] and status["exchanges"] == 1
    probe = json.loads(await run(jp_serverapp, kernel_id, s3_probe(local_aws)))
    assert probe == {"read": len(local_aws_dataset(local_aws)), "publish": publish}
    assert ext.aws.exchanges == 1


def local_aws_dataset(local_aws: LocalAWS) -> bytes:
    from jupyter_ai_access.local_aws.emulator import dataset_csv

    return dataset_csv().encode()


async def test_the_aws_cli_in_a_kernel_uses_the_same_credentials(jp_serverapp, ext):
    kernel_id = await start_kernel(jp_serverapp)
    out = await run(
        jp_serverapp,
        kernel_id,
        """
        import subprocess, sys
        done = subprocess.run([sys.executable, "-m", "awscli", "sts", "get-caller-identity",
                               "--query", "Arn", "--output", "text"], capture_output=True, text=True)
        print(done.stdout.strip() or done.stderr)
        """,
    )
    assert out.strip().endswith("assumed-role/jupyter-ai-access-demo-ml-training/alice")


async def test_the_status_page_says_no_credentials_are_held_before_a_kernel_asks(
    jp_serverapp, jp_fetch, ext
):
    row = "<th>AWS credentials expire</th><td>"
    page = (await jp_fetch("ai-access", "status")).body.decode()
    shown = page[page.index(row) + len(row) :].split("</td>")[0]
    assert shown == "none held yet: a kernel's first AWS call fetches them"  # not "never"
    kernel_id = await start_kernel(jp_serverapp)
    await run(jp_serverapp, kernel_id, IDENTITY)
    page = (await jp_fetch("ai-access", "status")).body.decode()
    assert page[page.index(row) + len(row) :].startswith("<time datetime=")


async def test_kernel_environment_names_the_endpoint_and_its_secret_file_only(
    jp_serverapp, ext, tmp_path
):
    kernel_id = await start_kernel(jp_serverapp)
    env = json.loads(
        await run(
            jp_serverapp,
            kernel_id,
            "import json, os; print(json.dumps({k: v for k, v in os.environ.items() "
            "if k.startswith('AWS_')}))",
        )
    )
    secret_file = env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]
    assert env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == ext.endpoint.aws_url
    assert ext.endpoint.aws_url.endswith(AWS_CREDENTIALS_PATH)
    assert secret_file == str(ext.store.kernels[kernel_id] / "secret")
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(env)
    secret = Path(secret_file).read_bytes()
    assert secret and not secret.endswith((b"\n", b"\r")), "botocore refuses a newline"
    await run(jp_serverapp, kernel_id, IDENTITY)  # credentials fetched and used
    held = ext.aws.credentials
    assert held is not None
    # no AWS secret on disk: not in the token folders, the server's root, nor the test's tmp
    for root in {Path(ext.store.token_dir), Path(jp_serverapp.root_dir), tmp_path}:
        for path in root.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert held.secret_access_key.encode() not in data, path
                assert held.session_token.encode() not in data, path


# ---------------------------------------------------------------- many kernels, one exchange
async def test_twenty_kernels_asking_at_once_cause_one_exchange(ext, jp_serverapp):
    await ext.broker.get()
    envs = [ext.store.add_kernel(f"k{i}", ext.broker.tokens) for i in range(20)]
    client = AsyncHTTPClient(force_instance=True, max_clients=30)

    async def ask(env: dict[str, str]) -> str:
        secret = Path(env[KernelEnv.SECRET_FILE]).read_text()  # raw, as botocore sends it
        response = await client.fetch(ext.endpoint.aws_url, headers={"Authorization": secret})
        return json.loads(response.body)["AccessKeyId"]

    keys = await asyncio.gather(*(ask(env) for env in envs))
    client.close()
    assert len(set(keys)) == 1
    assert ext.aws.exchanges == 1


async def test_real_kernels_share_one_exchange(jp_serverapp, ext):
    kernels = [await start_kernel(jp_serverapp) for _ in range(3)]
    outs = await asyncio.gather(*(run(jp_serverapp, k, IDENTITY) for k in kernels))
    assert len({json.loads(o)["arn"] for o in outs}) == 1
    assert ext.aws.exchanges == 1


# ---------------------------------------------------------------- renewal
@pytest.mark.slow
async def test_credentials_renew_across_two_lifetimes(jp_serverapp, ext):
    ext.aws.duration_seconds = 60  # the emulator honours it; AWS would refuse below 900
    ext.aws.renew_before = 50  # a renewal every ~10 s
    kernel_id = await start_kernel(jp_serverapp)
    out = await run(
        jp_serverapp,
        kernel_id,
        """
        import hashlib, json, time, boto3
        sts, seen = boto3.client("sts"), []
        for i in range(3):
            arn = sts.get_caller_identity()["Arn"]
            key = sts._request_signer._credentials.get_frozen_credentials().access_key
            seen.append([arn.rsplit("/", 1)[-1], hashlib.sha256(key.encode()).hexdigest()[:12]])
            if i < 2:
                time.sleep(12)
        print(json.dumps(seen))
        """,
        timeout=90,
    )
    seen = json.loads(out)
    assert [name for name, _ in seen] == ["alice"] * 3
    assert len({key for _, key in seen}) == 3  # one client, three credential sets
    assert ext.aws.exchanges >= 3


# ---------------------------------------------------------------- failures
async def test_aws_down_gives_the_kernel_a_clear_error_naming_the_cause(jp_serverapp, ext):
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    ext.aws.sts_endpoint_url = down
    kernel_id = await start_kernel(jp_serverapp)
    out = await run(
        jp_serverapp,
        kernel_id,
        """
        import boto3, botocore.exceptions
        try:
            boto3.client("sts").get_caller_identity()
        except botocore.exceptions.BotoCoreError as e:
            print(type(e).__name__, "|", e)
        """,
    )
    name, _, message = out.strip().partition(" | ")
    assert name == "CredentialRetrievalError"
    assert f"AWS STS (AssumeRoleWithWebIdentity) at {down}/ cannot be reached" in message
    assert "503" in message
    # botocore asked three times; backoff kept it to one request to "AWS"
    assert ext.aws.exchanges == 1


async def test_no_role_for_the_users_groups_says_which_setting(jp_serverapp, ext, fake_hub_tokens):
    fake_hub_tokens.groups = ["hub-admins"]
    secret = Path(ext.store.add_kernel("k", await ext.broker.get())[KernelEnv.SECRET_FILE])
    client = AsyncHTTPClient(force_instance=True)
    response = await client.fetch(
        ext.endpoint.aws_url, headers={"Authorization": secret.read_text()}, raise_error=False
    )
    client.close()
    assert response.code == 403
    body = json.loads(response.body)
    assert body["error"] == "no_role"
    assert "AWSCredentialBroker.group_roles" in body["message"]


async def test_session_end_stops_the_credentials_at_once(jp_serverapp, ext, fake_hub_tokens):
    kernel_id = await start_kernel(jp_serverapp)
    await run(jp_serverapp, kernel_id, IDENTITY)
    assert ext.aws.credentials is not None
    fake_hub_tokens.status = 401
    with pytest.raises(Exception, match="session has ended"):
        await ext.broker.get(force=True)
    assert ext.aws.credentials is None  # the listener dropped them
    out = await run(
        jp_serverapp,
        kernel_id,
        """
        import boto3
        try:
            boto3.Session().client("sts").get_caller_identity()  # a new session fetches again
        except Exception as e:  # botocore's ParserError: the message is in Expiration
            print(f"{type(e).__name__}: {e}")
        """,
    )
    # (a running client re-asks within AWSCredentialBroker.recheck_seconds and fails then:
    # tests/test_aws_session_end.py)
    assert "AWS access ended with your JupyterHub session" in out
    assert "Log in again at https://hub.example.org/hub/login" in out
    assert ext.aws.exchanges == 1


# ---------------------------------------------------------------- the endpoint's refusals
@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("raw", 200),
        ("bearer", 200),
        ("no-secret", 403),
        ("dead-kernel", 403),
        ("origin", 403),
        ("foreign-host", 403),
        ("x-forwarded-for", 403),
        ("forwarded", 403),
        ("basic-scheme", 403),
    ],
)
async def test_aws_path_refuses_what_the_token_path_refuses(ext, case, status):
    tokens = await ext.broker.get()
    secret = Path(ext.store.add_kernel("k-live", tokens)[KernelEnv.SECRET_FILE]).read_text()
    dead = Path(ext.store.add_kernel("k-dead", tokens)[KernelEnv.SECRET_FILE]).read_text()
    ext.store.remove_kernel("k-dead")
    headers = {
        "raw": {"Authorization": secret},
        "bearer": {"Authorization": f"Bearer {secret}"},
        "no-secret": {},
        "dead-kernel": {"Authorization": dead},
        "origin": {"Authorization": secret, "Origin": "http://evil.example"},
        "foreign-host": {"Authorization": secret, "Host": f"evil.example:{ext.endpoint.port}"},
        "x-forwarded-for": {"Authorization": secret, "X-Forwarded-For": "203.0.113.7"},
        "forwarded": {"Authorization": secret, "Forwarded": "for=203.0.113.7"},
        "basic-scheme": {"Authorization": f"Basic {secret}"},
    }[case]
    client = AsyncHTTPClient(force_instance=True)
    response = await client.fetch(ext.endpoint.aws_url, headers=headers, raise_error=False)
    client.close()
    assert response.code == status
    body = json.loads(response.body)
    assert ("SecretAccessKey" in body) is (status == 200)
    if status == 200:
        assert body["Expiration"].endswith("Z") and set(body) == {
            "AccessKeyId",
            "SecretAccessKey",
            "Token",
            "Expiration",
        }
    assert ext.aws.exchanges == (1 if status == 200 else 0)


# ---------------------------------------------------------------- the identity pool flow
@pytest.fixture
def pool_aws(tmp_path, issuer_server, leak_watcher) -> Iterator[LocalAWS]:
    """The local AWS as the demo runs it: roles trust the identity pool, ID tokens verified."""
    log = tmp_path / "pool-aws.log"
    aws = LocalAWS(
        DEMO_POOL_FILE,
        issuer_server.factory.client_id,
        log,
        exchange="identity_pool",
        issuer=issuer_server.issuer,
    ).start()
    leak_watcher.watch_file(log)
    yield aws
    aws.stop()


async def identity_pool_answer(ext: AIAccessApp, pool_aws: LocalAWS) -> tuple[int, dict[str, Any]]:
    ext.aws.exchange = "identity_pool"
    ext.aws.identity_pool_id = pool_aws.info["identity_pool_id"]
    ext.aws.cognito_identity_endpoint_url = pool_aws.endpoint
    tokens = await ext.broker.get()
    secret = Path(ext.store.add_kernel("k", tokens)[KernelEnv.SECRET_FILE]).read_text()
    client = AsyncHTTPClient(force_instance=True)
    response = await client.fetch(
        ext.endpoint.aws_url, headers={"Authorization": secret}, raise_error=False
    )
    client.close()
    return response.code, json.loads(response.body)


@pytest.mark.parametrize(
    ("groups", "role"),
    [
        pytest.param(["ml-training"], "ml-training", id="trainer"),
        pytest.param(["ml-training", "ml-publishers"], "ml-publishers", id="publisher"),
    ],
)
async def test_identity_pool_enhanced_flow(
    jp_serverapp, ext, pool_aws, fake_hub_tokens, monkeypatch, groups, role
):
    fake_hub_tokens.groups = groups
    ext.aws.group_roles = {g: pool_aws.role(g) for g in ("ml-publishers", "ml-training")}
    status, _ = await identity_pool_answer(ext, pool_aws)
    assert status == 200
    assert ext.aws.credentials is not None
    assert ext.aws.credentials.principal.startswith("us-east-1:")  # the identity id
    assert ext.aws.login_provider == ""  # no pool configured: taken from the token's issuer
    monkeypatch.setenv("AWS_ENDPOINT_URL", pool_aws.endpoint)  # the kernel's boto3 goes there
    kernel_id = await start_kernel(jp_serverapp)
    who = json.loads(await run(jp_serverapp, kernel_id, IDENTITY))
    assert who == {
        "arn": f"arn:aws:sts::123456789012:assumed-role/jupyter-ai-access-demo-{role}/alice",
        "method": "container-role",
    }
    assert ext.aws.exchanges == 1


async def test_identity_pool_refuses_a_role_of_a_group_the_user_is_not_in(
    ext, pool_aws, fake_hub_tokens
):
    fake_hub_tokens.groups = ["ml-training"]
    ext.aws.custom_role_arn = pool_aws.role("ml-publishers")  # a server configured to ask for it
    status, body = await identity_pool_answer(ext, pool_aws)
    assert status == 502 and body["error"] == "aws_refused"  # AWS said no: a setting to fix
    assert "NotAuthorizedException" in body["message"]
    assert "cognito:roles do not include" in body["message"]
    assert ext.aws.credentials is None
