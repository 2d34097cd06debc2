"""The pool description: one JSON file describing a Cognito user pool and its AWS access.

The local emulators (``local_cognito/``, ``local_aws/``) run it and ``infra/`` provisions it on
AWS, so both read it from here. Standard library only (the Pulumi program imports it too).

- :mod:`.model`: the validated description as typed values;
- :mod:`.pool`: :func:`load_pool` / :func:`validate_pool`, every refusal naming the entry;
- :mod:`.access`: its ``aws`` section (one IAM role per group, least-privilege S3 policies).
"""

from __future__ import annotations

from .access import AWSAccess, aws_access
from .model import AppClient, IdentityProvider, PoolDescription, ResourceServer, User
from .pool import load_pool, validate_pool

__all__ = [
    "AWSAccess",
    "AppClient",
    "IdentityProvider",
    "PoolDescription",
    "ResourceServer",
    "User",
    "aws_access",
    "load_pool",
    "validate_pool",
]
