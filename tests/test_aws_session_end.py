"""AWS access ends with the session: running boto3 stops, issued credentials are denied by IAM.

1. A running boto3 in a real kernel (real Jupyter server, the stand-in Hub endpoint, the local
   AWS emulator as STS): it re-asks the endpoint about every ``recheck_seconds`` (not at every
   call), the server answers from the held credentials (one STS exchange), and after the session
   ends the next AWS call raises with "log in again".
2. The opt-in deny (:mod:`jupyter_ai_access.hub.aws_deny`) against the emulator's IAM, with the
   Hub's IAM user holding infra/'s permission: the documents (who, what, when), what the
   emulator enforces (the ended person's old credentials refused, their new ones and another
   person's kept; the Hub's user limited to the two calls), and a failure audited, not raised.
"""

from __future__ import annotations

import asyncio
import json
import math
import secrets
import time
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest
from jupyter_ai_access_testing.harness.inprocess import run, start_kernel
from jupyter_ai_access_testing.ports import free_port

from jupyter_ai_access.hub.aws_deny import AWSSessionEndDeny
from jupyter_ai_access.pooldesc.session_end import (
    ROLE_INLINE_LIMIT,
    DenyEntries,
    deny_statement,
    hub_permission,
    iso_second,
)
from jupyter_ai_access.server.app import AIAccessApp

LOGIN = "https://hub.example.org/hub/login"
RUNNING = """
import json, time, boto3, botocore.utils
asked = []
fetch = botocore.utils.ContainerMetadataFetcher.retrieve_full_uri
def counted(self, *args, **kwargs):
    asked.append(time.time())
    return fetch(self, *args, **kwargs)
botocore.utils.ContainerMetadataFetcher.retrieve_full_uri = counted
sts = boto3.client("sts")
calls, until = 0, time.time() + 3.5
while time.time() < until:
    sts.get_caller_identity()
    calls += 1
    time.sleep(0.02)
print(json.dumps({"calls": calls, "asked": len(asked)}))
"""
AFTER_LOGOUT = """
import json, time
started, error, asked_before = time.time(), "", len(asked)
for i in range(100):
    try:
        sts.get_caller_identity()  # the client that has been running all along
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
        break
    time.sleep(0.05)
print(json.dumps({"error": error, "after": time.time() - started, "calls": i,
                  "asked": len(asked) - asked_before}))
"""


@pytest.fixture
def jp_server_config(fake_hub_tokens, local_aws, tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_aws.endpoint)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_ai_access": True}},
        "KernelProvisionerFactory": {"default_provisioner_name": "ai-access-provisioner"},
        "TokenBroker": {"hub_api_url": fake_hub_tokens.url, "user": "alice", "login_url": LOGIN},
        "KernelTokenStore": {"token_dir": str(tmp_path / "kernel-tokens")},
        "AWSCredentialBroker": {
            "exchange": "web_identity",
            "region": "us-east-1",
            "group_roles": {"ml-training": local_aws.role("ml-training")},
            "recheck_seconds": 1.0,
        },
    }


@pytest.fixture
def ext(jp_serverapp, canaries) -> Iterator[AIAccessApp]:
    app = AIAccessApp.active
    assert app is not None
    yield app
    held = app.aws.credentials
    if held is not None:
        canaries.register(held.secret_access_key, "AWS secret access key")
        canaries.register(held.session_token, "AWS session token")


@pytest.mark.kernel
async def test_running_boto3_rechecks_each_second_and_fails_at_its_next_call_after_logout(
    jp_serverapp, ext, fake_hub_tokens
):
    kernel_id = await start_kernel(jp_serverapp)
    running = json.loads(await run(jp_serverapp, kernel_id, RUNNING))
    # about one request per recheck_seconds (3.5 s: the first fetch + 3 or 4), not one per call
    assert 2 <= running["asked"] <= 6 < running["calls"] / 4, running
    assert ext.aws.exchanges == 1  # every recheck answered from the held credentials: no STS

    fake_hub_tokens.status = 401  # the Hub says the session is over
    with pytest.raises(Exception, match="session has ended"):
        await ext.broker.get(force=True)
    after = json.loads(await run(jp_serverapp, kernel_id, AFTER_LOGOUT))
    assert "AWS access ended with your JupyterHub session" in after["error"], after
    assert f"Log in again at {LOGIN}" in after["error"]
    assert after["asked"] == 1  # one request: botocore could not keep the old credentials
    # (within the script's 100 calls; how long it takes is the benchmark's figure, not a test's)
    assert ext.aws.exchanges == 1

    fake_hub_tokens.status = 200  # she logs in again: the same client works at its next call
    for _ in range(100):  # the session watch brings the new session (bounded)
        if ext.broker.session_ended is None:
            break
        await asyncio.sleep(0.1)
    again = await run(jp_serverapp, kernel_id, "print(sts.get_caller_identity()['Arn'])")
    assert again.strip().endswith("/alice") and ext.aws.exchanges == 2


# ---------------------------------------------------------------- the deny's documents
def test_the_deny_names_the_person_every_action_and_the_logout_time():
    ended = 1_796_500_000.25
    assert deny_statement("aws:userid", "alice", ended) == {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            "StringLike": {"aws:userid": "*:alice"},  # <role id>:<session name>, this role only
            "DateLessThan": {"aws:TokenIssueTime": iso_second(ended)},
        },
    }
    assert iso_second(ended) == "2026-12-05T19:46:41Z"  # rounded up: the logout's second too
    tag = deny_statement("aws:PrincipalTag/username", "alice", ended)["Condition"]
    assert tag["StringEquals"] == {"aws:PrincipalTag/username": "alice"}


def test_entries_merge_prune_and_fit_the_size_limit():
    other = {"Effect": "Deny", "Action": "s3:DeleteBucket", "Resource": "*"}
    start = {"Version": "2012-10-17", "Statement": [other]}
    entries = DenyEntries.parse(json.dumps(start), "aws:userid")
    entries.add("alice", 1000.0)
    entries.add("alice", 900.0)  # an earlier end does not shorten a later one
    entries.add("bob", 2000.0)
    again = DenyEntries.parse(entries.text(), "aws:userid")
    assert again.entries == {"alice": 1000.0, "bob": 2000.0} and again.others == [other]
    assert again.prune(now=1000 + 3600 + 1, max_session_seconds=3600) == ["alice"]
    assert again.entries == {"bob": 2000.0}

    crowd = DenyEntries.parse(None, "aws:userid")
    for i in range(200):
        crowd.add(f"user{i:03d}", 10_000.0 + i)
    crowd.add("user000", 99_999.0)  # the newest end, although its name sorts first
    dropped = crowd.fit(ROLE_INLINE_LIMIT, keep="user000")
    assert len(crowd.text()) <= ROLE_INLINE_LIMIT and "user000" in crowd.entries
    assert dropped[:2] == ["user001", "user002"]  # the oldest go first
    assert set(dropped) | set(crowd.entries) == {f"user{i:03d}" for i in range(200)}


def test_the_hubs_permission_is_two_calls_on_the_listed_roles():
    roles = ["arn:aws:iam::123456789012:role/b", "arn:aws:iam::123456789012:role/a"]
    assert hub_permission(roles)["Statement"] == [
        {
            "Sid": "SessionEndDeny",
            "Effect": "Allow",
            "Action": ["iam:GetRolePolicy", "iam:PutRolePolicy"],
            "Resource": sorted(roles),
        }
    ]


# ---------------------------------------------------------------- enforced by the emulator
class Audit:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def record(self, event: str, **fields: Any) -> None:
        self.records.append({"event": event, **fields})


def _session(local_aws: Any, role: str, name: str) -> boto3.Session:
    sts = boto3.client(
        "sts", endpoint_url=local_aws.endpoint, region_name="us-east-1",
        config=botocore.config.Config(signature_version=botocore.UNSIGNED),
    )  # fmt: skip
    got = sts.assume_role_with_web_identity(
        RoleArn=role,
        RoleSessionName=name,
        WebIdentityToken="any-token",  # no --issuer: any
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=got["AccessKeyId"],
        aws_secret_access_key=got["SecretAccessKey"],
        aws_session_token=got["SessionToken"],
        region_name="us-east-1",
    )


def _reads(local_aws: Any, session: boto3.Session) -> str:
    s3 = session.client("s3", endpoint_url=local_aws.endpoint)
    try:
        s3.get_object(Bucket=local_aws.info["bucket"], Key=local_aws.info["dataset_key"])
    except botocore.exceptions.ClientError as e:
        return str(e.response["Error"]["Code"])
    return "ok"


@pytest.fixture
def hub_deny(local_aws, monkeypatch) -> AWSSessionEndDeny:
    keys = local_aws.hub_credentials()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", keys["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", keys["SecretAccessKey"])
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return AWSSessionEndDeny(
        enabled=True,
        role_arns=[local_aws.role("ml-training")],
        iam_endpoint_url=local_aws.endpoint,
        audit=Audit(),
    )


async def test_the_ended_persons_credentials_are_denied_the_others_kept(local_aws, hub_deny):
    role = local_aws.role("ml-training")
    alice, bob = f"alice-{secrets.token_hex(3)}", f"bob-{secrets.token_hex(3)}"
    held, other = _session(local_aws, role, alice), _session(local_aws, role, bob)
    assert _reads(local_aws, held) == "ok"
    ended = time.time()
    assert await hub_deny.deny(role, alice, ended)
    assert hub_deny.audit.records == [
        {
            "event": "aws_session_denied", "user": alice, "role_arn": role, "result": "denied",
            "not_before": iso_second(ended), "attempts": 1, "dropped": [], "code": "",
        }
    ]  # fmt: skip
    assert _reads(local_aws, held) == "AccessDenied"  # what she held before the logout
    assert _reads(local_aws, other) == "ok"  # another person of the same role
    await asyncio.sleep(max(0.0, math.ceil(ended) + 0.05 - time.time()))  # issued after it
    assert _reads(local_aws, _session(local_aws, role, alice)) == "ok"  # her next login

    iam = boto3.client("iam", endpoint_url=local_aws.endpoint, region_name="us-east-1")
    policy = iam.get_role_policy(RoleName=role.rsplit("/", 1)[-1], PolicyName=hub_deny.policy_name)
    written = DenyEntries.parse(policy["PolicyDocument"], "aws:userid")
    assert written.entries[alice] == pytest.approx(ended, abs=1)
    for forbidden in (  # the Hub's user may do nothing else (the emulator enforces IAM)
        lambda: iam.delete_role_policy(RoleName=role.rsplit("/", 1)[-1], PolicyName="s3"),
        lambda: iam.create_user(UserName="hub-was-here"),
        lambda: iam.attach_role_policy(
            RoleName=role.rsplit("/", 1)[-1],
            PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess",
        ),
    ):
        with pytest.raises(botocore.exceptions.ClientError, match="AccessDenied"):
            forbidden()


async def test_a_failing_iam_is_retried_audited_and_never_blocks_the_logout(hub_deny):
    hub_deny.iam_endpoint_url = f"http://127.0.0.1:{free_port()}"  # nobody listens
    hub_deny.attempts = 2
    hub_deny.session_ended("carol")  # the on_session_end hook returns before IAM answers
    [task] = hub_deny.tasks
    assert not task.done()
    assert await task is False
    [record] = hub_deny.audit.records
    assert record["result"] == "failed" and record["attempts"] == 2 and record["user"] == "carol"


# ---------------------------------------------------------------- provisioned by infra/
def test_infra_grants_the_hub_the_two_calls_on_the_group_roles_only_when_asked():
    from jupyter_ai_access_testing.harness.infra import install_mocks, of_type, provision

    policy_type = "aws:iam/policy:Policy"
    exports, resources = provision(install_mocks())
    assert of_type(resources, policy_type) == []  # off by default
    assert "JUPYTER_AI_ACCESS_SESSION_END_DENY_POLICY_ARN" not in exports
    exports, resources = provision(install_mocks(), session_end_deny=True)
    (policy,) = of_type(resources, policy_type)
    document = json.loads(policy.inputs["policy"])
    groups = ("ml-publishers", "ml-training")  # the roles with permissions, not the empty default
    arns = [f"arn:aws:iam::123456789012:role/jupyter-ai-access-demo-{g}" for g in groups]
    assert document == hub_permission(arns)
    assert "JUPYTER_AI_ACCESS_SESSION_END_DENY_POLICY_ARN" in exports  # to attach to the Hub


# ---------------------------------------------------------------- a real Hub's logout
@pytest.fixture
def deny_hub(tmp_path, _issuer_server_session, scripted_factory, leak_watcher, canaries, local_aws):
    """A real Hub (crafted IdP) with the deny on, its own AWS keys those of infra/'s user."""
    from jupyter_ai_access_testing.harness.hub import HubProcess
    from jupyter_ai_access_testing.harness.hubs import (
        SCOPED_CALLERS,
        TOKEN_DELIVERY_CONFIG,
        scripted_issuer_config,
    )

    config = (
        scripted_issuer_config(_issuer_server_session, scripted_factory.client_id)
        + f"""
c.AWSSessionEndDeny.enabled = True
c.AWSSessionEndDeny.role_arns = [{local_aws.role("ml-training")!r}]
c.AWSSessionEndDeny.iam_endpoint_url = {local_aws.endpoint!r}
"""
    )
    keys = local_aws.hub_credentials()
    env = {
        "COGNITO_CLIENT_SECRET": canaries.secret("deny-hub-secret"),
        "AWS_ACCESS_KEY_ID": keys["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": keys["SecretAccessKey"],
    }
    hub = HubProcess(tmp_path / "hub", config + TOKEN_DELIVERY_CONFIG + SCOPED_CALLERS, env=env)
    canaries.register(hub.env["JUPYTERHUB_CRYPT_KEY"], "JUPYTERHUB_CRYPT_KEY")
    leak_watcher.watch_file(hub.log_file)
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


def test_a_logout_at_the_hub_denies_what_the_person_held(deny_hub, idp, local_aws):
    from jupyter_ai_access_testing.harness.hub import HubBrowser

    name = f"dee-{secrets.token_hex(3)}"
    idp.login_ok(name)
    browser = HubBrowser(deny_hub.url)
    try:
        assert browser.login("x", "y").status_code == 200
        held = _session(local_aws, local_aws.role("ml-training"), name)
        assert _reads(local_aws, held) == "ok"
        browser.go("/hub/logout")
    finally:
        browser.close()
    for _ in range(100):  # bounded: the deny is written after the logout answered
        if _reads(local_aws, held) != "ok":
            break
        time.sleep(0.1)
    assert _reads(local_aws, held) == "AccessDenied"
    lines = [json.loads(line[line.index("{") :]) for line in deny_hub.log_file.read_text().splitlines()
             if '"aws_session_denied"' in line]  # fmt: skip
    assert [(r["user"], r["result"]) for r in lines] == [(name, "denied")]
