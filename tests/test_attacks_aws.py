"""AWS attacks replayed against the README's deployment: a real Hub, alice and bob, real kernels.

The demo's local AWS (moto behind :mod:`jupyter_ai_access.local_aws.identity`) gives each user
their group's role through the identity pool. bob (``ml-training``) runs, in his own kernel, what
an attacker's notebook would to get the publishers' role with his own ID token: STS
``AssumeRoleWithWebIdentity``, the identity pool with ``CustomRoleArn``, ``AssumeRole`` with his
own credentials, each followed by a write under ``models/``; and he reads moto's management API (every credential it issued). All refused;
alice (``ml-publishers``) still publishes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jupyter_ai_access_testing.harness.deployment import watched_deployment
from jupyter_ai_access_testing.harness.users import kernel, login, run, spawn

ATTACK = """
import json, os, urllib.error, urllib.request
import boto3, botocore, botocore.config, botocore.exceptions
from jupyter_ai_access.client import get_id_token

token = get_id_token()  # bob's own ID token, as any of his notebooks can get it
claims = json.loads(__import__("base64").urlsafe_b64decode(token.split(".")[1] + "=="))
publishers = json.loads(os.environ["JUPYTER_AI_ACCESS_AWS_GROUP_ROLES"])["ml-publishers"]
bucket, region = os.environ["AI_ACCESS_BUCKET"], os.environ["AWS_REGION"]
unsigned = botocore.config.Config(signature_version=botocore.UNSIGNED)
out = {}

def publish(creds):
    s3 = boto3.client("s3", aws_access_key_id=creds[0], aws_secret_access_key=creds[1],
                      aws_session_token=creds[2])
    s3.put_object(Bucket=bucket, Key="models/bob-was-here.json", Body=b"{}")
    return "published"

try:  # 1. STS with his own ID token, for the publishers' role
    c = boto3.client("sts", config=unsigned).assume_role_with_web_identity(
        RoleArn=publishers, RoleSessionName="bob", WebIdentityToken=token)["Credentials"]
    out["sts"] = publish((c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]))
except botocore.exceptions.ClientError as e:
    out["sts"] = e.response["Error"]["Code"]

try:  # 2. the identity pool, asking for the publishers' role
    ci = boto3.client("cognito-identity", config=unsigned)
    pool = os.environ.get("AWS_COGNITO_IDENTITY_POOL_ID", "")
    provider = f"cognito-idp.{region}.amazonaws.com/" + claims["iss"].rsplit("/", 1)[-1]
    logins = {provider: token}
    identity = ci.get_id(IdentityPoolId=pool, Logins=logins)["IdentityId"]
    c = ci.get_credentials_for_identity(IdentityId=identity, Logins=logins,
                                        CustomRoleArn=publishers)["Credentials"]
    out["identity_pool"] = publish((c["AccessKeyId"], c["SecretKey"], c["SessionToken"]))
except (botocore.exceptions.ClientError, botocore.exceptions.ParamValidationError) as e:
    out["identity_pool"] = getattr(e, "response", {}).get("Error", {}).get("Code", type(e).__name__)

try:  # 3. his own credentials (the server's exchange): his group's role
    s3 = boto3.client("s3")
    out["own_role"] = boto3.client("sts").get_caller_identity()["Arn"]
    s3.put_object(Bucket=bucket, Key="models/bob-was-here.json", Body=b"{}")
    out["own"] = "published"
except botocore.exceptions.ClientError as e:
    out["own"] = e.response["Error"]["Code"]

try:  # 4. his own credentials, signing an AssumeRole of the publishers' role
    c = boto3.client("sts").assume_role(RoleArn=publishers, RoleSessionName="bob")["Credentials"]
    out["assume_role"] = publish((c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]))
except botocore.exceptions.ClientError as e:
    out["assume_role"] = e.response["Error"]["Code"]

try:  # 5. moto's management API: every key pair it issued
    url = os.environ["AWS_ENDPOINT_URL"] + "/moto-api/data.json"
    with urllib.request.urlopen(url, timeout=10) as r:
        out["moto_api"] = r.status
except urllib.error.HTTPError as e:
    out["moto_api"] = e.code
print(json.dumps(out))
"""

PUBLISH = """
import json, os, boto3, botocore.exceptions
out = {"arn": boto3.client("sts").get_caller_identity()["Arn"]}
try:
    boto3.client("s3").put_object(Bucket=os.environ["AI_ACCESS_BUCKET"],
                                  Key="models/alice/model.json", Body=b"{}")
    out["publish"] = "ok"
except botocore.exceptions.ClientError as e:
    out["publish"] = e.response["Error"]["Code"]
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, canaries, leak_watcher) -> Iterator[dict[str, Any]]:
    with watched_deployment(tmp_path_factory, canaries, leak_watcher) as hub:
        yield hub


async def test_a_trainer_cannot_take_the_publishers_role_nor_read_the_emulators_state(deployment):
    login(deployment, "bob").close()
    login(deployment, "alice").close()
    spawn(deployment, "bob")
    spawn(deployment, "alice")
    role = "arn:aws:sts::123456789012:assumed-role/jupyter-ai-access-demo-{}/{}"
    bob = await kernel(deployment, "bob")
    try:
        got = json.loads(await run(bob, ATTACK))
    finally:
        await bob.shutdown()
    assert got == {
        "sts": "AccessDenied",  # the roles trust the identity pool only
        "identity_pool": "NotAuthorizedException",  # his token's groups do not hold that role
        "own_role": role.format("ml-training", "bob"),
        "own": "AccessDenied",  # his own role reads models/, does not write there
        "assume_role": "AccessDenied",  # nor may it assume roles
        "moto_api": 403,
    }
    alice = await kernel(deployment, "alice")
    try:
        assert json.loads(await run(alice, PUBLISH)) == {
            "arn": role.format("ml-publishers", "alice"),
            "publish": "ok",
        }
    finally:
        await alice.shutdown()
    # the operator (this test, with the run's secret) reads the state: nothing of bob's landed
    answer = httpx.get(
        f"{deployment['aws']}/moto-api/data.json",
        headers={"X-Local-AWS-Operator": deployment["aws_operator_secret"]},
        timeout=10,
    )
    assert answer.status_code == 200
    assert "models/alice/model.json" in answer.text
    assert "bob-was-here" not in answer.text
