"""AWS credentials from a Cognito login, provisioned: identity pool, one role per group, S3.

From the pool description's ``aws`` section (:mod:`jupyter_ai_access.pooldesc.access`, the same
documents the local emulator holds):

- a private S3 bucket (public access blocked) for data sets, models and per-person prefixes;
- one IAM role per group that has access, its S3 policy scoped by the identity pool's
  ``${cognito-identity.amazonaws.com:sub}`` (each person's own ``users/<identity id>/``), and a
  trust policy bound to this identity pool and signed-in identities only;
- a role without permissions as the pool's default, so a user whose groups carry no role gets
  nothing (``ambiguous_role_resolution = Deny`` too);
- the Cognito groups carry their role (``role_arn``), so ID tokens hold ``cognito:roles`` and
  ``cognito:preferred_role``; the identity pool maps roles from the token (``Token`` rules) for
  the Hub's app client only, so Cognito itself keeps a trainer out of the publishers' role;
- principal tags ``username`` from the token's ``cognito:username`` for attribute-based access.

The servers then run ``AWSCredentialBroker.exchange = "identity_pool"`` with the exported
``AWS_COGNITO_IDENTITY_POOL_ID``.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from jupyter_ai_access.pooldesc.access import (
    IDENTITY_POOL_PERSON,
    AWSAccess,
    identity_pool_trust,
    permission_policy,
)
from jupyter_ai_access.protocol import AWSEnv

__all__ = ["provision_aws_access"]


def provision_aws_access(
    access: AWSAccess,
    user_pool: aws.cognito.UserPool,
    hub_client: aws.cognito.UserPoolClient,
    bucket_name: str = "",
) -> tuple[dict[str, aws.iam.Role], dict[str, Any]]:
    """Create the bucket, identity pool and roles; return (role per group, exports)."""
    bucket = aws.s3.Bucket("data", bucket=bucket_name or access.bucket, force_destroy=False)
    aws.s3.BucketPublicAccessBlock(
        "data-private",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
    )
    identity_pool = aws.cognito.IdentityPool(
        "identity-pool",
        identity_pool_name=f"{access.role_prefix}-identities".replace("-", "_"),
        allow_unauthenticated_identities=False,
        allow_classic_flow=False,  # the enhanced flow only (GetCredentialsForIdentity)
        cognito_identity_providers=[
            aws.cognito.IdentityPoolCognitoIdentityProviderArgs(
                client_id=hub_client.id,
                provider_name=user_pool.endpoint,
                server_side_token_check=True,  # signed-out sessions are refused at once
            )
        ],
    )
    trust = identity_pool.id.apply(lambda pool_id: json.dumps(identity_pool_trust(pool_id)))
    roles: dict[str, aws.iam.Role] = {}
    for group, level in access.group_access.items():
        role = aws.iam.Role(
            f"role-{group}",
            name=access.role_name(group),
            assume_role_policy=trust,
            max_session_duration=3600,
            description=f"Members of the Cognito group {group} ({level})",
        )
        policy = bucket.bucket.apply(
            lambda name, level=level: json.dumps(
                permission_policy(_with_bucket(access, name), level, IDENTITY_POOL_PERSON)
            )
        )
        aws.iam.RolePolicy(f"role-{group}-s3", role=role.id, policy=policy)
        roles[group] = role
    no_access = aws.iam.Role(
        "role-no-access",
        name=access.role_name("no-access"),
        assume_role_policy=trust,
        description="Signed-in users whose groups carry no role: no permissions",
    )
    provider = pulumi.Output.all(user_pool.endpoint, hub_client.id).apply(
        lambda parts: f"{parts[0]}:{parts[1]}"
    )
    aws.cognito.IdentityPoolRoleAttachment(
        "identity-pool-roles",
        identity_pool_id=identity_pool.id,
        roles={"authenticated": no_access.arn},
        role_mappings=[
            aws.cognito.IdentityPoolRoleAttachmentRoleMappingArgs(
                identity_provider=provider, type="Token", ambiguous_role_resolution="Deny"
            )
        ],
    )
    aws.cognito.IdentityPoolProviderPrincipalTag(
        "identity-pool-tags",
        identity_pool_id=identity_pool.id,
        identity_provider_name=user_pool.endpoint,
        principal_tags={"username": "cognito:username"},
        use_defaults=False,
    )
    exports: dict[str, Any] = {
        AWSEnv.IDENTITY_POOL_ID: identity_pool.id,
        "AWS_S3_BUCKET": bucket.bucket,
        **{f"AWS_ROLE_{g.upper().replace('-', '_')}": r.arn for g, r in roles.items()},
    }
    return roles, exports


def _with_bucket(access: AWSAccess, name: str) -> AWSAccess:
    from dataclasses import replace

    return replace(access, bucket=name)
