"""A local AWS for the demo and the tests: moto's server on loopback, seeded from the pool.

    JAIA_LOCAL_AWS_OPERATOR_SECRET=<secret> python -m jupyter_ai_access.local_aws \
        --pool=demo-pool.json --port=9230 --client-id=<hub client> \
        --exchange=identity_pool --issuer=http://127.0.0.1:9229/<user pool id>

It creates, from the description's ``aws`` section (:mod:`jupyter_ai_access.pooldesc.access`):
the IAM OIDC provider of the user pool, one role per group with its trust and least-privilege S3
policy, the bucket with a small data set, and an identity pool for the user pool (its id fixed by
:func:`~.identity.identity_pool_id_for`). Then it switches IAM enforcement on: every later
request must be signed by credentials it issued and is checked against the caller's role
policies. moto's internals it needs are fenced in :mod:`._compat`. ``GET /health`` answers 200
with the ids (roles, identity pool) once that is done.

``--exchange`` decides whom the roles trust, as ``infra/`` does on AWS: ``identity_pool`` (the
demo) the identity pool only, ``web_identity`` the user pool's OIDC provider with the Hub's
client as audience (any user may then assume any group's role, as on AWS). With ``--issuer``
(the user pool's issuer; keys at ``--jwks-uri``, default ``<issuer>/.well-known/jwks.json``),
:class:`~.identity.IdentityFront` verifies ID tokens and trust policies and serves the identity
pool's role mapping by group in front of moto. Without it (some tests), moto's own behaviour
stands: any web identity token gets any role. moto's management API (``/moto-api/``: all state,
credentials included) answers only requests carrying the secret of
``$JAIA_LOCAL_AWS_OPERATOR_SECRET`` in the ``X-Local-AWS-Operator`` header (none given: nobody).

AWS serves ``AssumeRoleWithWebIdentity`` and ``GetCredentialsForIdentity`` without a signature;
moto only exempts ``GetId``, so the two are exempted here as AWS does. What moto does not do (so
neither does this emulator): substitute policy variables (``${...}`` never matches: per-person
prefixes are refused), evaluate request condition keys. S3 requests are checked under the IAM
action AWS uses for them (:data:`S3_IAM_ACTIONS`), which moto 5.2 does not do. Requires
``moto[server]`` and ``boto3``
(the ``demo`` extra).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import secrets
import sys
from pathlib import Path
from typing import Any

from ..pooldesc import load_pool
from ..pooldesc.access import (
    IDENTITY_POOL_PERSON,
    aws_access,
    identity_pool_trust,
    permission_policy,
    web_identity_person,
    web_identity_trust,
)
from ..pooldesc.session_end import hub_permission
from ._compat import (
    ACCOUNT,
    authorize_s3_operations_as,
    enforce_iam,
    evaluate_session_conditions,
    exempt_unsigned_operations,
    pause_iam,
    rename_identity_pool,
    role_issuer,
    server_app,
    trust_of,
)
from .identity import IdentityFront, identity_pool_id_for

__all__ = ["ACCOUNT", "OPERATOR_SECRET_ENV", "dataset_csv", "main", "seed"]

DATASET_KEY = "demo.csv"
OPERATOR_SECRET_ENV = "JAIA_LOCAL_AWS_OPERATOR_SECRET"  # never on the command line (ps shows it)
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


def seed(
    endpoint: str,
    pool_file: str,
    client_id: str,
    exchange: str = "web_identity",
    hub_credentials_file: str = "",
) -> dict[str, Any]:
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
    identity_pool = identity_pool_id_for(pool.region, pool.user_pool_id, client_id)
    roles: dict[str, str] = {}
    for group, level in access.group_access.items():
        name = access.role_name(group)
        if exchange == "identity_pool":
            trust, person = identity_pool_trust(identity_pool), IDENTITY_POOL_PERSON
        else:
            trust, person = web_identity_trust(provider, host, client_id), web_identity_person(host)
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
            "Arn"
        ]
        policy = permission_policy(access, level, person)
        iam.put_role_policy(RoleName=name, PolicyName="s3", PolicyDocument=json.dumps(policy))
        roles[group] = arn
    s3.create_bucket(Bucket=access.bucket)
    s3.put_object(
        Bucket=access.bucket, Key=access.datasets_prefix + DATASET_KEY, Body=dataset_csv()
    )
    identity = boto3.client("cognito-identity", **kwargs)
    created = identity.create_identity_pool(
        IdentityPoolName="jupyter_ai_access_demo",
        AllowUnauthenticatedIdentities=False,
        CognitoIdentityProviders=[{"ProviderName": host, "ClientId": client_id}],
    )["IdentityPoolId"]
    rename_identity_pool(pool.region, created, identity_pool)
    if hub_credentials_file:
        _seed_hub_user(iam, sorted(roles.values()), hub_credentials_file)
    return {
        "exchange": exchange,
        "region": pool.region,
        "bucket": access.bucket,
        "datasets_prefix": access.datasets_prefix,
        "models_prefix": access.models_prefix,
        "dataset_key": access.datasets_prefix + DATASET_KEY,
        "roles": roles,
        "oidc_provider": provider,
        "identity_pool_id": identity_pool,
    }


def _seed_hub_user(iam: Any, role_arns: list[str], path: str) -> None:
    """The Hub's own IAM user for the session-end deny, with infra/'s least privilege; its key
    pair written to ``path`` (created 0600, never an existing file), never to /health."""
    name = "jupyter-ai-access-hub"
    iam.create_user(UserName=name)
    policy = json.dumps(hub_permission(role_arns))
    iam.put_user_policy(UserName=name, PolicyName="session-end-deny", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    pair = {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(pair, out)


def _by_precedence(groups: list[Any]) -> list[str]:
    """Group names, lowest ``precedence`` first (Cognito's cognito:preferred_role order)."""
    named = [g for g in groups if isinstance(g, dict) and "name" in g]
    return [str(g["name"]) for g in sorted(named, key=lambda g: g.get("precedence", 1 << 30))]


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m jupyter_ai_access.local_aws")
    parser.add_argument("--pool", required=True, help="the pool description (with 'aws')")
    parser.add_argument("--port", type=int, default=9230, help="127.0.0.1 port (default 9230)")
    parser.add_argument("--client-id", required=True, help="the Hub's app client id (aud)")
    parser.add_argument(
        "--exchange",
        choices=["identity_pool", "web_identity"],
        default="web_identity",
        help="whom the roles trust: the identity pool or the user pool's OIDC provider",
    )
    parser.add_argument("--issuer", default="", help="the user pool's issuer: verify ID tokens")
    parser.add_argument("--jwks-uri", default="", help="its keys (default <issuer>/.well-known/…)")
    parser.add_argument(
        "--hub-credentials-file",
        default="",
        help="create the Hub's IAM user for the session-end deny; write its keys here (new file)",
    )
    parser.add_argument(
        "--no-enforce", action="store_true", help="leave IAM enforcement off (tests)"
    )
    args = parser.parse_args(argv)
    if args.exchange == "identity_pool" and not args.issuer:
        parser.error("--exchange=identity_pool needs --issuer (the ID tokens' issuer)")
    pool = load_pool(args.pool)
    access = aws_access(pool, args.pool)
    if access is None:
        raise SystemExit(f"{args.pool}: no 'aws' section: nothing to emulate")

    from werkzeug.serving import make_server

    for name in ("werkzeug", "moto", "botocore", "boto3", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)  # request lines carry signed URLs
    exempt_unsigned_operations(_UNSIGNED, _UNSIGNED_TARGETS)
    authorize_s3_operations_as(S3_IAM_ACTIONS)
    evaluate_session_conditions()
    pause_iam()
    moto_app = server_app()
    host = f"cognito-idp.{pool.region}.amazonaws.com/{pool.user_pool_id}"
    front = IdentityFront(
        moto_app,
        operator_secret=os.environ.pop(OPERATOR_SECRET_ENV, "") or secrets.token_urlsafe(32),
        issue=role_issuer(pool.region),
        trust_of=trust_of,
        issuer=args.issuer.rstrip("/"),
        jwks_uri=args.jwks_uri,
        client_id=args.client_id,
        region=pool.region,
        identity_pool_id=identity_pool_id_for(pool.region, pool.user_pool_id, args.client_id),
        oidc_provider=f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}",
        group_roles={
            g: f"arn:aws:iam::{ACCOUNT}:role/{access.role_name(g)}" for g in access.group_access
        },
        group_order=_by_precedence(pool.raw.get("groups") or []),
    )
    ready: dict[str, Any] = {}

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == "/health":
            status = "200 OK" if ready else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps(ready).encode()]
        return front(environ, start_response)

    server = make_server("127.0.0.1", args.port, app, threaded=True)
    import threading

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    ids = seed(
        endpoint, str(Path(args.pool)), args.client_id, args.exchange,
        args.hub_credentials_file,
    )  # fmt: skip
    if not args.no_enforce:
        enforce_iam()
    ready.update(ids, endpoint=endpoint, enforced=not args.no_enforce)
    print(json.dumps({"local_aws": endpoint, **ready}), flush=True)
    try:
        thread.join()
    except KeyboardInterrupt:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
