"""The wire contract between the processes: names and JSON shapes both ends import.

Standard library only, so every process can import it (the Hub, the user's server, the kernel,
a test's stand-in Hub). Changing a value here changes the protocol: the Hub and the servers of a
deployment must run the same version.

- Hub → user's server: ``GET <JUPYTERHUB_API_URL>/ai-access/users/<name>/tokens`` with the server's
  API token, guarded by the custom scope :data:`TOKENS_SCOPE` filtered to the user; answers
  :class:`HubTokens` (200) or :class:`ErrorBody` (401 ``login_required``, 503 ``idp_unavailable``).
  With ``?wait=<s>&have=<fingerprint>`` it is the session watch: the Hub answers as soon as the
  answer's :func:`fingerprint` differs from ``have`` (new tokens, or the session ended), or after
  ``wait`` seconds with the unchanged answer.
- Hub → protected resources: ``GET <hub>/hub/api/ai-access/revocations`` with a token holding
  :data:`REVOCATIONS_SCOPE`: :class:`Revocations`, the ``origin_jti`` of ended sessions.
- user's server → kernel: the environment variables :data:`KernelEnv`, and the loopback endpoint
  ``GET <JUPYTER_AI_ACCESS_URL>?kind=access|id&min_valid=<s>&force=0|1`` with
  ``Authorization: Bearer <the kernel's secret>``; answers :class:`KernelToken` (200) or
  :class:`ErrorBody` (401 ``login_required``, 503 ``unavailable``, 400, 403).
- user's server → botocore in the kernel: ``GET <AWS_CONTAINER_CREDENTIALS_FULL_URI>`` (the same
  endpoint, path :data:`AWS_CREDENTIALS_PATH`) with the raw secret as ``Authorization`` (botocore
  sends no scheme); answers :class:`AWSContainerCredentials` (200) or :class:`ErrorBody`.
"""

from __future__ import annotations

import hashlib
from typing import Final, TypedDict
from urllib.parse import quote

__all__ = [
    "AWS_CREDENTIALS_PATH",
    "ERROR_IDP_UNAVAILABLE",
    "ERROR_LOGIN_REQUIRED",
    "ERROR_RATE_LIMITED",
    "ERROR_UNAVAILABLE",
    "ERROR_WATCH_SUPERSEDED",
    "HUB_TOKENS_PATH",
    "NO_TOKENS",
    "REVOCATIONS_PATH",
    "REVOCATIONS_SCOPE",
    "TOKENS_SCOPE",
    "AWSContainerCredentials",
    "ErrorBody",
    "HubTokens",
    "KernelEnv",
    "KernelToken",
    "Revocations",
    "fingerprint",
    "hub_tokens_url",
]

#: The custom JupyterHub scope that lets a server read its user's short-lived tokens.
TOKENS_SCOPE: Final = "custom:ai-access:tokens"

#: The Hub endpoint, relative to the Hub API URL (``/hub/api``); ``{name}`` is URL-quoted.
HUB_TOKENS_PATH: Final = "ai-access/users/{name}/tokens"

#: The revocation feed, relative to the Hub API URL, and the scope that reads it.
REVOCATIONS_PATH: Final = "ai-access/revocations"
REVOCATIONS_SCOPE: Final = "custom:ai-access:revocations"

#: Where botocore's container-credentials provider asks the kernel endpoint for AWS credentials.
AWS_CREDENTIALS_PATH: Final = "/aws-credentials"

#: ``have`` value meaning "I hold no tokens" in a session watch.
NO_TOKENS: Final = "none"

#: ``error`` values shared by the Hub endpoint and the kernel endpoint.
ERROR_LOGIN_REQUIRED: Final = "login_required"
ERROR_IDP_UNAVAILABLE: Final = "idp_unavailable"
ERROR_UNAVAILABLE: Final = "unavailable"
#: The Hub's token endpoint: a newer session watch of the same user (or token) ended this one
#: (409), and too many answers at once for one user (429, with ``Retry-After``).
ERROR_WATCH_SUPERSEDED: Final = "watch_superseded"
ERROR_RATE_LIMITED: Final = "rate_limited"


class KernelEnv:
    """Environment variable names handed to each kernel (values are paths and URLs, no secret)."""

    DIR: Final = "JUPYTER_AI_ACCESS_DIR"
    TOKEN_FILE: Final = "JUPYTER_AI_ACCESS_TOKEN_FILE"
    ID_TOKEN_FILE: Final = "JUPYTER_AI_ACCESS_ID_TOKEN_FILE"
    URL: Final = "JUPYTER_AI_ACCESS_URL"
    SECRET_FILE: Final = "JUPYTER_AI_ACCESS_SECRET_FILE"
    LOGIN_URL: Final = "JUPYTER_AI_ACCESS_LOGIN_URL"
    #: only with ``KernelTokenStore.inject_token_env``: the token's value at launch (goes stale)
    TOKEN: Final = "JUPYTER_AI_ACCESS_TOKEN"


class HubTokens(TypedDict):
    """200 answer of the Hub endpoint: short-lived tokens only, never the refresh token."""

    username: str
    cognito_username: str | None
    groups: list[str]
    scope: list[str]
    access_token: str
    access_token_expires_at: float
    id_token: str
    id_token_expires_at: float
    refreshed_at: float | None


class Revocations(TypedDict):
    """The revocation feed: ended sessions' ``origin_jti`` → when their access tokens expire."""

    origin_jti: dict[str, float]
    generated_at: float


class KernelToken(TypedDict):
    """200 answer of the kernel endpoint."""

    token: str
    expires_at: float
    kind: str


class AWSContainerCredentials(TypedDict):
    """200 answer of the AWS path, as botocore's container provider reads it (ISO 8601 UTC)."""

    AccessKeyId: str
    SecretAccessKey: str
    Token: str
    Expiration: str


class _ErrorRequired(TypedDict):
    error: str
    message: str


class ErrorBody(_ErrorRequired, total=False):
    """Error answer of either endpoint; ``login_url`` comes with ``login_required``."""

    login_url: str
    username: str


def fingerprint(access_token: str | None) -> str:
    """What a server tells the session watch it holds: a digest of its access token, or "none"."""
    if not access_token:
        return NO_TOKENS
    return hashlib.sha256(access_token.encode()).hexdigest()[:32]


def hub_tokens_url(hub_api_url: str, user: str) -> str:
    """The Hub endpoint's URL for ``user`` under ``hub_api_url`` (``.../hub/api``)."""
    return f"{hub_api_url.rstrip('/')}/" + HUB_TOKENS_PATH.format(name=quote(user, safe=""))
