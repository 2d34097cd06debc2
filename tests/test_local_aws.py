"""The policy documents of ``local_aws/access.py``, and what the local AWS (moto) enforces of them.

moto's server with IAM enforcement on checks signatures, actions, resource patterns (``*``) and
explicit denies of the caller's role policies. It does not substitute policy variables (own
prefixes are refused), evaluate request condition keys such as ``s3:prefix`` (any prefix can be
listed), validate web identity tokens or evaluate trust policies for them: the tests below pin
each of those facts (as of moto 5.2.6, the version in constraints.txt), and check the documents
themselves where moto cannot. moto 5.2 also names S3 actions after the API operation
(``s3:ListObjectsV2``, ``s3:HeadObject``) where IAM uses ``s3:ListBucket`` and ``s3:GetObject``;
the emulator translates them as AWS does (``local_aws.emulator.S3_IAM_ACTIONS``).
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import boto3
import botocore.exceptions
import pytest
from conftest import ROOT

from jupyter_ai_access.local_aws.access import (
    IDENTITY_POOL_PERSON,
    aws_access,
    permission_policy,
    web_identity_trust,
)
from jupyter_ai_access.local_cognito.pool import load_pool

POOL = load_pool(ROOT / "jupyter_ai_access/local_cognito/demo-pool.json")
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
