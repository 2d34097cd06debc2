"""The policy documents of ``pooldesc/access.py``, and what the local AWS (moto) enforces of them.

moto's server with IAM enforcement on checks signatures, actions, resource patterns (``*``) and
explicit denies of the caller's role policies. It does not substitute policy variables (own
prefixes are refused), evaluate request condition keys such as ``s3:prefix`` (any prefix can be
listed), validate web identity tokens or evaluate trust policies for them: the tests below pin
each of those facts (on the ``local_aws`` fixture: moto 5.2.6 alone, the version in
constraints.txt, no issuer given), and check the documents themselves where moto cannot. moto 5.2
also names S3 actions after the API operation (``s3:ListObjectsV2``, ``s3:HeadObject``) where IAM
uses ``s3:ListBucket`` and ``s3:GetObject``; the emulator translates them as AWS does
(``local_aws.emulator.S3_IAM_ACTIONS``).

As the demo runs it (``--exchange=identity_pool --issuer=...``), the local AWS checks in front of
moto what AWS checks (``local_aws/identity.py``): ID tokens against the user pool's keys, the
identity pool's role choice by group, trust policies for STS; and it closes moto's management
API to all but the operator. The last tests pin those.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
import httpx
import pytest
from jupyter_ai_access_testing.harness.local_aws import LocalAWS
from jupyter_ai_access_testing.tokens import SigningKey

from jupyter_ai_access.demo.settings import DEMO_POOL_FILE
from jupyter_ai_access.local_aws.identity import login_provider_for
from jupyter_ai_access.pooldesc import load_pool
from jupyter_ai_access.pooldesc.access import (
    IDENTITY_POOL_PERSON,
    aws_access,
    permission_policy,
    web_identity_trust,
)

POOL = load_pool(DEMO_POOL_FILE)
ACCESS = aws_access(POOL)
assert ACCESS is not None


def allowed(policy: dict[str, Any], action: str, resource: str, variables: dict[str, str]) -> bool:
    """IAM's answer for one request under an Allow-only policy without conditions (the subset
    these documents use outside ListBucket): variables substituted, ``*`` as a wildcard."""
    for statement in policy["Statement"]:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        patterns = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        if action not in actions or "Condition" in statement:
            continue
        for pattern in patterns:
            for name, value in variables.items():
                pattern = pattern.replace("${" + name + "}", value)
            if "${" not in pattern and fnmatch.fnmatchcase(resource, pattern):
                return True
    return False


@pytest.mark.parametrize(
    ("level", "action", "key", "expected"),
    [
        ("read", "s3:GetObject", "datasets/demo.csv", True),
        ("read", "s3:GetObject", "models/alice/model.json", True),
        ("read", "s3:PutObject", "models/alice/model.json", False),
        ("read", "s3:PutObject", "datasets/demo.csv", False),
        ("read", "s3:PutObject", "users/ALICE-ID/notes.txt", True),
        ("read", "s3:GetObject", "users/BOB-ID/notes.txt", False),
        ("read", "s3:PutObject", "users/BOB-ID/notes.txt", False),
        ("publish", "s3:PutObject", "models/alice/model.json", True),
        ("publish", "s3:PutObject", "datasets/demo.csv", False),
        ("publish", "s3:DeleteObject", "models/alice/model.json", False),
        ("publish", "s3:PutObject", "users/BOB-ID/notes.txt", False),
    ],
)
def test_the_policy_documents_give_each_person_their_own_prefix(level, action, key, expected):
    policy = permission_policy(ACCESS, level, IDENTITY_POOL_PERSON)
    resource = f"arn:aws:s3:::{ACCESS.bucket}/{key}"
    variables = {"cognito-identity.amazonaws.com:sub": "ALICE-ID"}
    assert allowed(policy, action, resource, variables) is expected


def signed_in_as(local_aws, group: str, name: str) -> boto3.Session:
    """Credentials of a group's role from the emulator's STS (no token check there)."""
    sts = boto3.client(
        "sts",
        endpoint_url=local_aws.endpoint,
        region_name="us-east-1",
        config=botocore.config.Config(signature_version=botocore.UNSIGNED),
    )
    creds = sts.assume_role_with_web_identity(
        RoleArn=local_aws.role(group), RoleSessionName=name, WebIdentityToken="not.checked.by-moto"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )


def put(session: boto3.Session, local_aws, key: str) -> str:
    s3 = session.client("s3", endpoint_url=local_aws.endpoint)
    try:
        s3.put_object(Bucket=local_aws.info["bucket"], Key=key, Body=b"x")
        return "ok"
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]


def test_moto_enforces_roles_actions_and_resource_patterns(local_aws):
    publisher, trainer = (
        signed_in_as(local_aws, "ml-publishers", "alice"),
        signed_in_as(local_aws, "ml-training", "bob"),
    )
    assert put(publisher, local_aws, "models/alice/m.json") == "ok"
    assert put(trainer, local_aws, "models/bob/m.json") == "AccessDenied"
    assert put(publisher, local_aws, "datasets/evil.csv") == "AccessDenied"
    forged = boto3.Session(
        aws_access_key_id="ASIAFORGED",
        aws_secret_access_key="x",
        aws_session_token="y",
        region_name="us-east-1",
    )
    assert put(forged, local_aws, "models/x") in {
        "InvalidAccessKeyId",
        "InvalidToken",
        "AccessDenied",
    }


def test_moto_does_not_substitute_policy_variables_so_own_prefixes_are_refused(local_aws):
    # AWS would allow this (the OwnPrefix statement); moto compares "${...}" literally.
    trainer = signed_in_as(local_aws, "ml-training", "bob")
    assert put(trainer, local_aws, "users/bob/notes.txt") == "AccessDenied"


def test_s3_operations_are_authorized_under_the_iam_actions_aws_uses(local_aws):
    # ListObjectsV2 is s3:ListBucket and HeadObject is s3:GetObject at AWS: s3fs and pandas list
    # and HEAD before they read. moto 5.2.6 alone refuses both for every policy written for AWS.
    s3 = signed_in_as(local_aws, "ml-training", "bob").client("s3", endpoint_url=local_aws.endpoint)
    bucket, key = local_aws.info["bucket"], local_aws.info["dataset_key"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=local_aws.info["datasets_prefix"])
    assert [o["Key"] for o in listed["Contents"]] == [key]
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] > 0
    assert put(signed_in_as(local_aws, "ml-training", "bob"), local_aws, "models/bob/m") == (
        "AccessDenied"
    )


def test_moto_ignores_the_s3_prefix_condition_of_list_bucket(local_aws):
    # AWS lists only datasets/, models/ and the caller's own users/<id>/ (the condition); moto
    # 5.2.6 evaluates only StringEquals conditions (StringLike is skipped as unsupported), so any
    # prefix can be listed in the emulator.
    s3 = signed_in_as(local_aws, "ml-training", "bob").client("s3", endpoint_url=local_aws.endpoint)
    listed = s3.list_objects_v2(Bucket=local_aws.info["bucket"], Prefix="users/")
    assert listed["ResponseMetadata"]["HTTPStatusCode"] == 200
    policy = permission_policy(ACCESS, "read", IDENTITY_POOL_PERSON)
    (listing,) = [st for st in policy["Statement"] if st["Action"] == "s3:ListBucket"]
    assert listing["Condition"]["StringLike"]["s3:prefix"] == [
        "datasets/*",
        "models/*",
        f"users/{IDENTITY_POOL_PERSON}/*",
    ]


def test_web_identity_trust_sees_the_audience_only_so_groups_are_kept_apart_by_the_server(
    local_aws,
):
    # moto checks neither the token nor the trust policy: any caller gets any role. AWS checks
    # the token and aud, but a web identity trust policy cannot see cognito:groups either, so in
    # web_identity mode any user of the app client may assume any group's role; the identity
    # pool (Cognito checks cognito:roles) is the mode that keeps groups apart.
    trust = web_identity_trust("arn:aws:iam::123456789012:oidc-provider/x", "x", "client")
    assert json.dumps(trust).count("Condition") == 1
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"x:aud": "client"}}
    intruder = signed_in_as(local_aws, "ml-publishers", "bob")
    assert put(intruder, local_aws, "models/bob/m.json") == "ok"


# ---------------------------------------------------------------- moto's management API
def test_the_management_api_answers_the_operator_only(local_aws):
    # /moto-api/data.json holds every key pair the emulator issued: anyone reading it could act
    # as any role. Without this run's operator secret it is refused.
    for secret in ("", "guessed", local_aws.operator_secret[:-1]):
        status, body = local_aws.operator_get("/moto-api/data.json", secret)
        assert status == 403 and b"SecretAccessKey" not in body
    status, body = local_aws.operator_get("/moto-api/data.json")
    assert status == 200 and b"sts" in body


# ---------------------------------------------------------------- the identity pool (the demo)
@pytest.fixture
def pool_aws(tmp_path, issuer_server, leak_watcher) -> Iterator[LocalAWS]:
    """The emulator as the demo runs it: roles trust the identity pool, ID tokens verified."""
    quiet = [logging.getLogger(name) for name in ("botocore", "urllib3")]
    levels = [logger.level for logger in quiet]
    for logger in quiet:  # this test's own boto3 would log the tokens it sends at DEBUG
        logger.setLevel(logging.INFO)
    log = tmp_path / "local-aws.log"
    emulator = LocalAWS(
        DEMO_POOL_FILE,
        issuer_server.factory.client_id,
        log,
        exchange="identity_pool",
        issuer=issuer_server.issuer,
    ).start()
    leak_watcher.watch_file(log)
    yield emulator
    emulator.stop()
    for logger, level in zip(quiet, levels, strict=True):
        logger.setLevel(level)


def unsigned(local_aws: LocalAWS, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=local_aws.endpoint,
        region_name="us-east-1",
        config=botocore.config.Config(signature_version=botocore.UNSIGNED),
    )


def identity_credentials(pool_aws: LocalAWS, id_token: str, role: str = "") -> Any:
    """The enhanced flow as the server runs it; a Session, or the error code."""
    ci = unsigned(pool_aws, "cognito-identity")
    login = {login_provider_for("us-east-1", pool_aws.issuer): id_token}
    try:
        found = ci.get_id(IdentityPoolId=pool_aws.info["identity_pool_id"], Logins=login)
        extra = {"CustomRoleArn": role} if role else {}
        creds = ci.get_credentials_for_identity(
            IdentityId=found["IdentityId"], Logins=login, **extra
        )["Credentials"]
    except botocore.exceptions.ClientError as e:
        return e.response["Error"]["Code"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretKey"],
        aws_session_token=creds["SessionToken"],
        region_name="us-east-1",
    )


def whoami(session: boto3.Session, local_aws: LocalAWS) -> str:
    return str(session.client("sts", endpoint_url=local_aws.endpoint).get_caller_identity()["Arn"])


def test_the_identity_pool_gives_each_group_its_role_and_no_other(pool_aws, issuer_server):
    factory = issuer_server.factory
    publisher = factory.mint("id", cognito__groups=["ml-training", "ml-publishers"])
    trainer = factory.mint("id", cognito__groups=["ml-training"], **{"cognito:username": "bob"})
    role = "arn:aws:sts::123456789012:assumed-role/jupyter-ai-access-demo-{}/"
    # the preferred role (lowest precedence) when none is asked for; an asked role of a group
    alice = identity_credentials(pool_aws, publisher)
    assert whoami(alice, pool_aws) == role.format("ml-publishers") + "alice"
    assert put(alice, pool_aws, "models/alice/m.json") == "ok"
    asked = identity_credentials(pool_aws, publisher, pool_aws.role("ml-training"))
    assert whoami(asked, pool_aws).startswith(role.format("ml-training"))
    bob = identity_credentials(pool_aws, trainer)
    assert whoami(bob, pool_aws) == role.format("ml-training") + "bob"
    assert put(bob, pool_aws, "models/bob/m.json") == "AccessDenied"
    # bob asks for the publishers' role: his token's groups do not hold it
    assert identity_credentials(pool_aws, trainer, pool_aws.role("ml-publishers")) == (
        "NotAuthorizedException"
    )
    # nobody's role for a user without a group that has one, or a token of another key
    outsider = factory.mint("id", cognito__groups=[])
    assert identity_credentials(pool_aws, outsider) == "InvalidIdentityPoolConfigurationException"
    forged = factory.mint("id", key=SigningKey.rsa("id-key"), cognito__groups=["ml-publishers"])
    assert identity_credentials(pool_aws, forged) == "NotAuthorizedException"


def test_sts_refuses_a_user_pool_token_for_roles_that_trust_the_identity_pool(
    pool_aws, issuer_server
):
    token = issuer_server.factory.mint("id", cognito__groups=["ml-publishers"])
    sts = unsigned(pool_aws, "sts")
    for group in ("ml-publishers", "ml-training"):
        with pytest.raises(botocore.exceptions.ClientError) as refused:
            sts.assume_role_with_web_identity(
                RoleArn=pool_aws.role(group), RoleSessionName="bob", WebIdentityToken=token
            )
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(botocore.exceptions.ClientError) as refused:
        sts.assume_role_with_web_identity(
            RoleArn=pool_aws.role("ml-training"), RoleSessionName="bob", WebIdentityToken="x.y.z"
        )
    assert refused.value.response["Error"]["Code"] == "InvalidIdentityToken"
    # the classic flow (GetOpenIdToken, then STS) is off
    ci = unsigned(pool_aws, "cognito-identity")
    with pytest.raises(botocore.exceptions.ClientError):
        ci.get_open_id_token(
            IdentityId="us-east-1:x",
            Logins={login_provider_for("us-east-1", pool_aws.issuer): token},
        )


@pytest.mark.parametrize(
    "variant",
    ["lower-case-action", "action-in-query-and-body", "json-target", "snake-case-action"],
)
def test_sts_refuses_the_publishers_role_however_the_request_is_spelled(
    pool_aws, issuer_server, variant
):
    # moto matches action names loosely and reads the query string, the form and JSON targets
    token = issuer_server.factory.mint("id", cognito__groups=["ml-training"])
    role = pool_aws.role("ml-publishers")
    form = {"Version": "2011-06-15", "RoleArn": role, "RoleSessionName": "bob"}
    form["WebIdentityToken"] = token
    url, headers, params = pool_aws.endpoint + "/", {}, {}
    body: Any = {**form, "Action": "assumeRoleWithWebIdentity"}
    if variant == "snake-case-action":
        body["Action"] = "assume_role_with_web_identity"
    elif variant == "action-in-query-and-body":
        params = {"Action": "AssumeRoleWithWebIdentity", "RoleArn": role}
        body = {**form, "Action": "GetCallerIdentity"}
    elif variant == "json-target":
        headers = {
            "X-Amz-Target": "AWSSecurityTokenServiceV20110615.AssumeRoleWithWebIdentity",
            "Content-Type": "application/x-amz-json-1.0",
        }
        body = json.dumps(form)
    answer = httpx.post(
        url,
        params=params,
        headers=headers,
        timeout=10,
        **({"content": body} if isinstance(body, str) else {"data": body}),
    )
    assert "SecretAccessKey" not in answer.text, variant
    assert answer.status_code in (400, 403)


def test_an_upload_sent_chunked_arrives_whole(pool_aws, issuer_server):
    """Arrow's S3 client (the AWS C++ SDK) uploads with ``Transfer-Encoding: chunked``: the
    local AWS in front of moto must pass such a body on whole (it once passed on nothing)."""
    import pyarrow.fs

    token = issuer_server.factory.mint("id", cognito__groups=["ml-training", "ml-publishers"])
    alice = identity_credentials(pool_aws, token)
    credentials = alice.get_credentials()
    s3 = pyarrow.fs.S3FileSystem(
        access_key=credentials.access_key,
        secret_key=credentials.secret_key,
        session_token=credentials.token,
        endpoint_override=pool_aws.endpoint.split("://", 1)[1],
        scheme="http",
        region="us-east-1",
    )
    data = bytes(range(256)) * 400  # 100 KiB
    bucket = pool_aws.info["bucket"]
    with s3.open_output_stream(f"{bucket}/models/alice/chunked.bin") as out:
        out.write(data)
    client = alice.client("s3", endpoint_url=pool_aws.endpoint)
    got = client.get_object(Bucket=bucket, Key="models/alice/chunked.bin")["Body"].read()
    assert got == data
