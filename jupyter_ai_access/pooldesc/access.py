"""The AWS side of a pool description: one IAM role per Cognito group, least-privilege S3 policies.

Standard library only: the Pulumi program (``infra/``) and the local AWS emulator
(:mod:`jupyter_ai_access.local_aws.emulator`) build the same roles and policy documents from the
description's ``aws`` section::

    "aws": {"bucket": "jupyter-ai-access-demo",
            "datasets_prefix": "datasets/", "models_prefix": "models/", "users_prefix": "users/",
            "group_access": {"ml-training": "read", "ml-publishers": "publish"}}

- ``read``: read ``datasets/`` and ``models/``; read and write the person's own
  ``users/<person>/`` (a policy variable names the person);
- ``publish``: ``read`` plus writing ``models/``.

Groups without an entry get no role. ``person`` is the policy variable of the exchange: with an
identity pool ``${cognito-identity.amazonaws.com:sub}`` (the identity id), with STS web identity
the ``sub`` of the user pool's OIDC provider.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import PoolDescriptionError

__all__ = [
    "ACCESS_LEVELS",
    "IDENTITY_POOL_PERSON",
    "AWSAccess",
    "aws_access",
    "identity_pool_trust",
    "permission_policy",
    "web_identity_person",
    "web_identity_trust",
]

ACCESS_LEVELS = ("read", "publish")
_CI = "cognito-identity.amazonaws.com"
IDENTITY_POOL_PERSON = "${" + _CI + ":sub}"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*/$")


@dataclass(frozen=True)
class AWSAccess:
    """The validated ``aws`` section of a pool description."""

    bucket: str
    datasets_prefix: str
    models_prefix: str
    users_prefix: str
    group_access: Mapping[str, str]
    role_prefix: str

    def role_name(self, group: str) -> str:
        """The IAM role of a group (at most 64 characters)."""
        return f"{self.role_prefix}-{group}"[:64]


def aws_access(pool: Any, source: str = "<pool>") -> AWSAccess | None:
    """The ``aws`` section of a validated pool description, or None when it has none."""
    raw = pool.raw.get("aws")
    if raw is None:
        return None

    def fail(entry: str, problem: str) -> PoolDescriptionError:
        return PoolDescriptionError(source, f"aws.{entry}", problem)

    if not isinstance(raw, Mapping):
        raise fail("(section)", "must be an object")
    bucket = str(raw.get("bucket", ""))
    if not _BUCKET.match(bucket):
        raise fail("bucket", f"{bucket!r} is not an S3 bucket name")
    prefixes = {}
    for key, fallback in (("datasets", "datasets/"), ("models", "models/"), ("users", "users/")):
        value = str(raw.get(f"{key}_prefix", fallback))
        if not _PREFIX.match(value):
            raise fail(f"{key}_prefix", f"{value!r} must be like 'name/' (ends with '/')")
        prefixes[key] = value
    access = raw.get("group_access", {})
    if not isinstance(access, Mapping):
        raise fail("group_access", "must map group names to 'read' or 'publish'")
    for group, level in access.items():
        if group not in pool.groups:
            raise fail(f"group_access.{group}", "not a group of this pool")
        if level not in ACCESS_LEVELS:
            raise fail(f"group_access.{group}", f"{level!r} is not one of {ACCESS_LEVELS}")
    return AWSAccess(
        bucket=bucket,
        datasets_prefix=prefixes["datasets"],
        models_prefix=prefixes["models"],
        users_prefix=prefixes["users"],
        group_access=dict(access),
        role_prefix=str(raw.get("role_prefix") or pool.pool_name)[:40],
    )


def permission_policy(access: AWSAccess, level: str, person: str) -> dict[str, Any]:
    """The S3 permissions of an access level; ``person`` is the policy variable of a user."""
    bucket = f"arn:aws:s3:::{access.bucket}"
    own = f"{access.users_prefix}{person}/"
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ListSharedAndOwnPrefixes",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket,
            "Condition": {
                "StringLike": {
                    "s3:prefix": [
                        f"{access.datasets_prefix}*",
                        f"{access.models_prefix}*",
                        f"{own}*",
                    ]
                }
            },
        },
        {
            "Sid": "ReadDatasetsAndModels",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [
                f"{bucket}/{access.datasets_prefix}*",
                f"{bucket}/{access.models_prefix}*",
            ],
        },
        {
            "Sid": "OwnPrefix",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": f"{bucket}/{own}*",
        },
    ]
    if level == "publish":
        statements.append(
            {
                "Sid": "PublishModels",
                "Effect": "Allow",
                "Action": "s3:PutObject",
                "Resource": f"{bucket}/{access.models_prefix}*",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def identity_pool_trust(identity_pool_id: Any) -> dict[str, Any]:
    """Trust of a group role for an identity pool: that pool only, signed-in identities only."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": _CI},
                # TagSession: the pool's principal tags (attribute-based access) reach the session
                "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
                "Condition": {
                    "StringEquals": {f"{_CI}:aud": identity_pool_id},
                    "ForAnyValue:StringLike": {f"{_CI}:amr": "authenticated"},
                },
            }
        ],
    }


def web_identity_person(provider_host: str) -> str:
    """The policy variable naming the person under STS web identity (the token's ``sub``)."""
    return "${" + provider_host + ":sub}"


def web_identity_trust(provider_arn: str, provider_host: str, client_id: str) -> dict[str, Any]:
    """Trust of a group role for STS web identity: the pool's OIDC provider, the Hub's client.

    AWS cannot check a user's groups here (an OIDC trust policy sees ``aud``, ``sub``, ``amr``):
    any user of the client may assume any role that trusts it. The identity pool (Cognito checks
    ``cognito:roles``) is the mode that keeps groups apart.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {f"{provider_host}:aud": client_id}},
            }
        ],
    }
