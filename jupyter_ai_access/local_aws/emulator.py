"""A local AWS for the demo and the tests: moto's server on loopback, seeded from the pool.

    python -m jupyter_ai_access.local_aws --pool=demo-pool.json --port=9230 --client-id=<hub client>

It creates, from the description's ``aws`` section (:mod:`.access`): the IAM OIDC provider of the
user pool, one role per group with its trust and least-privilege S3 policy, the bucket with a
small data set, and an identity pool for the user pool. Then it switches IAM enforcement on
(moto's ``INITIAL_NO_AUTH_ACTION_COUNT``): every later request must be signed by credentials it
issued and is checked against the caller's role policies. ``GET /health`` answers 200 with the
ids (roles, identity pool) once that is done.

AWS serves ``AssumeRoleWithWebIdentity`` and ``GetCredentialsForIdentity`` without a signature;
moto only exempts ``GetId``, so the two are exempted here as AWS does. What moto does not do (so
neither does this emulator): validate the web identity token, evaluate trust policies for it,
substitute policy variables (``${...}`` never matches: per-person prefixes are refused), evaluate
request condition keys (``s3:prefix``: any prefix can be listed), issue identity-pool credentials
that its own IAM accepts. S3 requests are checked under the IAM action AWS uses for them
(:data:`S3_IAM_ACTIONS`), which moto 5.2 does not do. Requires ``moto[server]`` and ``boto3``
(the ``demo`` extra).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
from pathlib import Path
from typing import Any

from ..local_cognito.pool import load_pool
from .access import aws_access, permission_policy, web_identity_person, web_identity_trust

__all__ = ["dataset_csv", "main", "seed"]

ACCOUNT = "123456789012"  # moto's default account
DATASET_KEY = "demo.csv"
_UNSIGNED = {"AssumeRoleWithWebIdentity"}
_UNSIGNED_TARGETS = ["AWSCognitoIdentityService.GetCredentialsForIdentity"]
#: S3 operations that IAM authorizes under another action's name (AWS's "Actions, resources and
#: condition keys for Amazon S3"). moto 5.2 checks the operation's own name (s3:ListObjectsV2,
#: s3:HeadObject), which no policy written for AWS allows; translated here as AWS does.
S3_IAM_ACTIONS = {
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "HeadBucket": "ListBucket",
    "ListObjectVersions": "ListBucketVersions",
    "ListMultipartUploads": "ListBucketMultipartUploads",
    "HeadObject": "GetObject",
    "GetObjectAttributes": "GetObject",
    "CreateMultipartUpload": "PutObject",
    "UploadPart": "PutObject",
    "CompleteMultipartUpload": "PutObject",
    "DeleteObjects": "DeleteObject",
    "AbortMultipartUpload": "AbortMultipartUpload",
    "ListParts": "ListMultipartUploadParts",
}


def dataset_csv(rows: int = 200) -> str:
    """The demo's training data: y = 3x + 2 + noise, deterministic."""
    rng = random.Random("demo")  # noqa: S311 - deterministic demo data, not a secret
    lines = ["x,y"]
    for _ in range(rows):
        x = rng.uniform(0, 10)
        lines.append(f"{x:.4f},{3 * x + 2 + rng.gauss(0, 0.5):.4f}")
    return "\n".join(lines) + "\n"


def seed(endpoint: str, pool_file: str, client_id: str) -> dict[str, Any]:
    """Create the provider, roles, policies, bucket, data set and identity pool; return ids."""
    import boto3

    pool = load_pool(pool_file)
    access = aws_access(pool, pool_file)
    if access is None:
        raise SystemExit(f"{pool_file}: no 'aws' section: nothing to emulate")
    kwargs: dict[str, Any] = {
        "endpoint_url": endpoint,
        "region_name": pool.region,
        "aws_access_key_id": "seed",
        "aws_secret_access_key": "seed",  # moto before enforcement: any key works
    }
    iam, s3 = boto3.client("iam", **kwargs), boto3.client("s3", **kwargs)
    host = f"cognito-idp.{pool.region}.amazonaws.com/{pool.user_pool_id}"
    provider = iam.create_open_id_connect_provider(
        Url=f"https://{host}", ClientIDList=[client_id], ThumbprintList=["0" * 40]
    )["OpenIDConnectProviderArn"]
    roles: dict[str, str] = {}
    for group, level in access.group_access.items():
        name = access.role_name(group)
        trust = web_identity_trust(provider, host, client_id)
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
            "Arn"
        ]
        policy = permission_policy(access, level, web_identity_person(host))
        iam.put_role_policy(RoleName=name, PolicyName="s3", PolicyDocument=json.dumps(policy))
        roles[group] = arn
    s3.create_bucket(Bucket=access.bucket)
    s3.put_object(
        Bucket=access.bucket, Key=access.datasets_prefix + DATASET_KEY, Body=dataset_csv()
    )
    identity = boto3.client("cognito-identity", **kwargs)
    identity_pool = identity.create_identity_pool(
        IdentityPoolName="jupyter_ai_access_demo",
        AllowUnauthenticatedIdentities=False,
        CognitoIdentityProviders=[{"ProviderName": host, "ClientId": client_id}],
    )["IdentityPoolId"]
    return {
        "region": pool.region,
        "bucket": access.bucket,
        "datasets_prefix": access.datasets_prefix,
        "models_prefix": access.models_prefix,
        "dataset_key": access.datasets_prefix + DATASET_KEY,
        "roles": roles,
        "oidc_provider": provider,
        "identity_pool_id": identity_pool,
    }


def _exempt_unsigned_public_calls() -> None:
    """Let AWS's unsigned operations through moto's IAM enforcement, as AWS does."""
    from moto.core.authorization import ActionAuthenticatorMixin

    ActionAuthenticatorMixin.PUBLIC_OPERATIONS.extend(_UNSIGNED_TARGETS)
    checked = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def check(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if "Authorization" not in self.headers and self._get_action() in _UNSIGNED:
            return
        checked(self, iam_request_cls, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = check  # type: ignore[method-assign]


def _authorize_s3_operations_as_iam_actions() -> None:
    """Check S3 requests against the IAM action AWS uses for them (:data:`S3_IAM_ACTIONS`)."""
    from moto.iam import access_control

    class S3Request(access_control.S3IAMRequest):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            service, _, operation = self._action.partition(":")
            self._action = f"{service}:{S3_IAM_ACTIONS.get(operation, operation)}"

    access_control.S3IAMRequest = S3Request  # type: ignore[misc]


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m jupyter_ai_access.local_aws")
    parser.add_argument("--pool", required=True, help="the pool description (with 'aws')")
    parser.add_argument("--port", type=int, default=9230, help="127.0.0.1 port (default 9230)")
    parser.add_argument("--client-id", required=True, help="the Hub's app client id (aud)")
    parser.add_argument(
        "--no-enforce", action="store_true", help="leave IAM enforcement off (tests)"
    )
    args = parser.parse_args(argv)

    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    for name in ("werkzeug", "moto", "botocore", "boto3", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)  # request lines carry signed URLs
    _exempt_unsigned_public_calls()
    _authorize_s3_operations_as_iam_actions()
    settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
    moto_app = DomainDispatcherApplication(create_backend_app)
    ready: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/health":
            status = "200 OK" if ready else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps(ready).encode()]
        return moto_app(environ, start_response)

    server = make_server("127.0.0.1", args.port, app, threaded=True)
    import threading

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    ids = seed(endpoint, str(Path(args.pool)), args.client_id)
    if not args.no_enforce:
        settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        ActionAuthenticatorMixin.request_count = 0
    ready.update(ids, endpoint=endpoint, enforced=not args.no_enforce)
    print(json.dumps({"local_aws": endpoint, **ready}), flush=True)
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
