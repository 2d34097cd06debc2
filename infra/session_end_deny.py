"""The Hub's permission for the opt-in session-end deny (``AWSSessionEndDeny``), provisioned.

With ``pulumi config set sessionEndDeny true`` the stack creates one customer managed policy,
``<prefix>-session-end-deny``, allowing exactly the two calls the Hub makes at a session end —
``iam:GetRolePolicy`` and ``iam:PutRolePolicy`` — on the group roles only
(:func:`jupyter_ai_access.pooldesc.session_end.hub_permission`, the same document the local
emulator gives the Hub's user). Attach it to the Hub's own identity (its instance profile, IRSA or
task role: the stack does not know it) and set, in jupyterhub_config.py::

    c.AWSSessionEndDeny.enabled = True
    c.AWSSessionEndDeny.role_arns = [<the exported AWS_ROLE_* values>]
    c.AWSSessionEndDeny.person_key = "aws:PrincipalTag/username"  # identity pool sessions

IAM has no condition key for an inline policy's name, so whoever holds this permission can write
any inline policy of those roles, Allows included: keep it to the Hub, or put a permissions
boundary on the roles (their own S3 policy) so that no inline policy can widen them.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from jupyter_ai_access.pooldesc.session_end import hub_permission

__all__ = ["SESSION_END_DENY_EXPORT", "provision_session_end_deny"]

#: the export naming the policy to attach to the Hub's identity
SESSION_END_DENY_EXPORT = "JUPYTER_AI_ACCESS_SESSION_END_DENY_POLICY_ARN"


def provision_session_end_deny(roles: dict[str, aws.iam.Role], prefix: str) -> dict[str, Any]:
    """The managed policy for the Hub; return its export (nothing when there are no roles)."""
    if not roles:
        return {}
    arns = [roles[group].arn for group in sorted(roles)]
    document = pulumi.Output.all(*arns).apply(lambda got: json.dumps(hub_permission(list(got))))
    policy = aws.iam.Policy(
        "session-end-deny",
        name=f"{prefix}-session-end-deny",
        description="jupyter-ai-access Hub: deny ended sessions in the group roles' policy",
        policy=document,
    )
    return {SESSION_END_DENY_EXPORT: policy.arn}
