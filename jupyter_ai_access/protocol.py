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
  :class:`ErrorBody` (401 ``login_required``, 503 ``unavailable``: the Hub or Cognito cannot be
  reached, 400, 403).
- user's server → botocore in the kernel: ``GET <AWS_CONTAINER_CREDENTIALS_FULL_URI>`` (the same
  endpoint, path :data:`AWS_CREDENTIALS_PATH`) with the raw secret as ``Authorization`` (botocore
  sends no scheme); answers :class:`AWSContainerCredentials` (200) or :class:`ErrorBody` (401
  ``login_required``, 403 ``no_role``, 502 ``aws_refused``, 503 ``unavailable``).
- user's server → browser: the status answer's ``state`` is a :class:`TokenState`.
- the configuration (``jupyterhub_config.py``, a Helm chart, a job's environment) → each process:
  the environment names of :class:`CognitoEnv`, :class:`AWSEnv` and :class:`HubEnv`; an old name
  still read is in :data:`RENAMED_ENV` and :func:`getenv` warns when it is used.
- inside the Hub, producer → audit and metrics: why a session ended, :class:`SessionEnd`.

The closed sets are ``str`` enums (``class X(str, Enum)``, Python 3.10 has no ``StrEnum``): a
member equals, hashes, formats and serialises to JSON as its value.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from collections.abc import Mapping
from datetime import datetime, timezone
from enum import Enum
from typing import Any, Final, TypedDict
from urllib.parse import quote

__all__ = [
    "AWS_CREDENTIALS_PATH",
    "ERROR_AWS_REFUSED",
    "ERROR_IDP_UNAVAILABLE",
    "ERROR_LOGIN_REQUIRED",
    "ERROR_NO_ROLE",
    "ERROR_RATE_LIMITED",
    "ERROR_UNAVAILABLE",
    "ERROR_WATCH_SUPERSEDED",
    "HUB_EXCHANGE_PATH",
    "HUB_TOKENS_PATH",
    "NO_TOKENS",
    "RENAMED_ENV",
    "REVOCATIONS_PATH",
    "REVOCATIONS_SCOPE",
    "TOKENS_SCOPE",
    "AWSContainerCredentials",
    "AWSEnv",
    "CognitoEnv",
    "ErrorBody",
    "ErrorCode",
    "ExchangedToken",
    "HubEnv",
    "HubTokens",
    "KernelEnv",
    "KernelToken",
    "Revocations",
    "SessionEnd",
    "TokenState",
    "expiry_epoch",
    "fingerprint",
    "getenv",
    "hub_exchange_url",
    "hub_tokens_url",
    "scope_key",
]


class _Name(str, Enum):
    """A closed set of wire names: each member is its value wherever a ``str`` goes."""

    def __str__(self) -> str:
        return str(self.value)


#: The custom JupyterHub scope that lets a server read its user's short-lived tokens.
TOKENS_SCOPE: Final = "custom:ai-access:tokens"

#: The Hub endpoint, relative to the Hub API URL (``/hub/api``); ``{name}`` is URL-quoted.
HUB_TOKENS_PATH: Final = "ai-access/users/{name}/tokens"

#: Per-resource tokens (RFC 8693 token exchange, done where the client secret lives): ``GET
#: <hub api>/ai-access/users/<name>/exchanged-tokens?audience=<aud>&scope=<s1 s2 ...>`` with the
#: server's API token (same scope and caller rules as :data:`HUB_TOKENS_PATH`); answers
#: :class:`ExchangedToken` (200), or :class:`ErrorBody`: 403 ``audience_refused`` (the user's
#: groups may not ask for this audience or these scopes), 502 ``exchange_refused`` (Cognito
#: refused the exchange), 401 ``login_required``, 503 ``idp_unavailable``, 429 ``rate_limited``.
#: ``scope`` may be empty: every scope the user's groups are allowed for that audience.
HUB_EXCHANGE_PATH: Final = "ai-access/users/{name}/exchanged-tokens"

#: The revocation feed, relative to the Hub API URL, and the scope that reads it.
REVOCATIONS_PATH: Final = "ai-access/revocations"
REVOCATIONS_SCOPE: Final = "custom:ai-access:revocations"

#: Where botocore's container-credentials provider asks the kernel endpoint for AWS credentials.
AWS_CREDENTIALS_PATH: Final = "/aws-credentials"

#: ``have`` value meaning "I hold no tokens" in a session watch.
NO_TOKENS: Final = "none"


class ErrorCode(_Name):
    """The ``error`` of an :class:`ErrorBody`, from the Hub endpoint or the kernel endpoint."""

    #: 401, both endpoints: the Hub session is over (the body has ``login_url``)
    LOGIN_REQUIRED = "login_required"
    #: 503, Hub endpoint: Amazon Cognito cannot be reached to renew the tokens
    IDP_UNAVAILABLE = "idp_unavailable"
    #: 503, kernel endpoint: the Hub, Cognito (or AWS) cannot be reached, nothing valid is held
    UNAVAILABLE = "unavailable"
    #: 409, Hub endpoint: a newer session watch of the same user (or token) ended this one
    WATCH_SUPERSEDED = "watch_superseded"
    #: 429, Hub endpoint: too many answers at once for one user (with ``Retry-After``)
    RATE_LIMITED = "rate_limited"
    #: 403, AWS path: no role fits the user's groups
    NO_ROLE = "no_role"
    #: 502, AWS path: AWS refused the exchange (the body has AWS's ``code``)
    AWS_REFUSED = "aws_refused"
    #: 403, both endpoints: the user's groups may not ask for this audience (or these scopes)
    AUDIENCE_REFUSED = "audience_refused"
    #: 502, both endpoints: Cognito refused the token exchange (the body has Cognito's ``code``)
    EXCHANGE_REFUSED = "exchange_refused"
    #: 403, kernel endpoint: this deployment hands out per-resource tokens only (ask with
    #: ``audience``); the broad token is switched off
    AUDIENCE_REQUIRED = "audience_required"


ERROR_LOGIN_REQUIRED: Final = ErrorCode.LOGIN_REQUIRED
ERROR_IDP_UNAVAILABLE: Final = ErrorCode.IDP_UNAVAILABLE
ERROR_UNAVAILABLE: Final = ErrorCode.UNAVAILABLE
ERROR_WATCH_SUPERSEDED: Final = ErrorCode.WATCH_SUPERSEDED
ERROR_RATE_LIMITED: Final = ErrorCode.RATE_LIMITED
ERROR_NO_ROLE: Final = ErrorCode.NO_ROLE
ERROR_AWS_REFUSED: Final = ErrorCode.AWS_REFUSED


class TokenState(_Name):
    """``state`` of the status answer (``GET /ai-access/api/status``), as the Lab item shows it."""

    #: tokens held, renewal not due yet
    FRESH = "fresh"
    #: no tokens yet, or within ``TokenBroker.renew_before`` of expiry (renewal due)
    RENEWING = "renewing"
    #: the Hub answered that Amazon Cognito cannot be reached to renew them
    COGNITO_UNREACHABLE = "cognito_unreachable"
    #: JupyterHub itself cannot be reached (or answers with an error)
    HUB_UNREACHABLE = "hub_unreachable"
    #: the Hub refused the request: the server's role lacks the scope :data:`TOKENS_SCOPE`
    SCOPE_MISSING = "scope_missing"
    #: the JupyterHub session is over: log in again
    ENDED = "ended"
    #: not under JupyterHub (no token delivery)
    OFF = "off"
    #: a standalone server nobody signed in yet
    SIGNED_OUT = "signed-out"


class SessionEnd(_Name):
    """Why the Hub ended a session: the audit's ``cause`` and the metric's label."""

    LOGOUT = "logout"
    USER_DELETED = "user_deleted"
    #: Cognito answered ``invalid_grant`` to the refresh (refresh token revoked or expired)
    INVALID_GRANT = "invalid_grant"
    LEFT_ALLOWED_GROUPS = "left_allowed_groups"
    #: the refreshed ID token names another user (``sub`` changed)
    IDENTITY_CHANGED = "identity_changed"
    #: the refreshed tokens failed verification
    REFRESH_REFUSED = "refresh_refused"
    #: the sealed refresh token cannot be unsealed (its key changed)
    REFRESH_TOKEN_UNREADABLE = "refresh_token_unreadable"


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
    #: JSON object: URL prefix -> audience (``{"https://registry.example/": "model-registry"}``);
    #: the kernel's auth helpers pick the per-resource token by the request's URL
    AUDIENCES: Final = "JUPYTER_AI_ACCESS_AUDIENCES"


class CognitoEnv:
    """The user pool, as the Hub, a standalone server, a job and a protected resource read it.

    ``CLIENT_ID`` is always ONE app client id (the one this process signs in or gets tokens
    with); a protected resource that accepts the tokens of several app clients reads the list
    ``CLIENT_IDS`` (comma- or space-separated).
    """

    REGION: Final = "COGNITO_REGION"
    USER_POOL_ID: Final = "COGNITO_USER_POOL_ID"
    ISSUER: Final = "COGNITO_ISSUER"
    DOMAIN: Final = "COGNITO_DOMAIN"
    CLIENT_ID: Final = "COGNITO_CLIENT_ID"
    CLIENT_IDS: Final = "COGNITO_CLIENT_IDS"
    CLIENT_SECRET: Final = "COGNITO_CLIENT_SECRET"
    CLIENT_SECRET_FILE: Final = "COGNITO_CLIENT_SECRET_FILE"
    SCOPES: Final = "COGNITO_SCOPES"
    #: the actor of token exchanges (the Hub's machine app client, client_credentials): its id
    #: and secret (or a file holding it); the issued tokens' ``act`` names this client
    ACTOR_CLIENT_ID: Final = "COGNITO_ACTOR_CLIENT_ID"
    ACTOR_CLIENT_SECRET: Final = "COGNITO_ACTOR_CLIENT_SECRET"
    ACTOR_CLIENT_SECRET_FILE: Final = "COGNITO_ACTOR_CLIENT_SECRET_FILE"


class AWSEnv:
    """AWS names: the exchange's settings (a Hub's ``Spawner.environment`` → the user's server)
    and what the server gives kernels (→ botocore)."""

    #: ``AWSCredentialBroker.exchange``: identity_pool, web_identity or empty (off)
    EXCHANGE: Final = "JUPYTER_AI_ACCESS_AWS_EXCHANGE"
    #: ``AWSCredentialBroker.group_roles``: a JSON object, Cognito group → IAM role ARN
    GROUP_ROLES: Final = "JUPYTER_AI_ACCESS_AWS_GROUP_ROLES"
    IDENTITY_POOL_ID: Final = "AWS_COGNITO_IDENTITY_POOL_ID"
    REGION: Final = "AWS_REGION"
    DEFAULT_REGION: Final = "AWS_DEFAULT_REGION"
    ENDPOINT_URL: Final = "AWS_ENDPOINT_URL"
    ENDPOINT_URL_STS: Final = "AWS_ENDPOINT_URL_STS"
    ENDPOINT_URL_COGNITO_IDENTITY: Final = "AWS_ENDPOINT_URL_COGNITO_IDENTITY"
    #: to kernels: where botocore's container provider asks, and the file holding its secret
    CONTAINER_CREDENTIALS_FULL_URI: Final = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
    CONTAINER_AUTHORIZATION_TOKEN_FILE: Final = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"


class HubEnv:
    """Environment names the Hub's authenticator reads."""

    #: ``CognitoOAuthenticator.refresh_token_key``
    REFRESH_TOKEN_KEY: Final = "JUPYTER_AI_ACCESS_REFRESH_TOKEN_KEY"


#: Old environment name → the name that replaced it. :func:`getenv` still reads the old one,
#: with a warning; remove an entry two minor versions after it was added.
RENAMED_ENV: Final[Mapping[str, str]] = {
    "JAIA_REFRESH_TOKEN_KEY": HubEnv.REFRESH_TOKEN_KEY,  # 0.x: the demo's prefix on a product name
}
_OLD_NAME: Final = {new: old for old, new in RENAMED_ENV.items()}


def getenv(
    name: str,
    environ: Mapping[str, str] | None = None,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
) -> str:
    """``$name`` stripped (empty when unset); else the value of its old name, with a warning.

    The warning (a ``DeprecationWarning``, and a line on ``log`` when given: a Hub's operator
    reads the log, not Python's warnings) names both variables, never the value.
    """
    env = os.environ if environ is None else environ
    value = env.get(name, "").strip()
    old = _OLD_NAME.get(name)
    if value or old is None or not env.get(old, "").strip():
        return value
    message = f"${old} is deprecated: set ${name} instead (${old} is still read for now)"
    warnings.warn(message, DeprecationWarning, stacklevel=2)
    if log is not None:
        log.warning("%s", message)
    return env[old].strip()


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


class _KernelTokenRequired(TypedDict):
    token: str
    expires_at: float
    kind: str


class KernelToken(_KernelTokenRequired, total=False):
    """200 answer of the kernel endpoint (``audience``/``scope`` for a per-resource token).

    The request: ``GET <JUPYTER_AI_ACCESS_URL>?kind=access&audience=<aud>&scope=<s1 s2>
    &min_valid=<s>&force=0|1``; without ``audience`` it is the broad token.
    """

    audience: str
    scope: list[str]


class ExchangedToken(TypedDict):
    """200 answer of :data:`HUB_EXCHANGE_PATH`: an access token bound to one audience.

    ``actor`` is the client id in the token's ``act`` claim (the notebook platform acting for
    the user), ``None`` when the token was issued without an actor. No refresh token, ever.
    """

    username: str
    audience: str
    scope: list[str]
    access_token: str
    access_token_expires_at: float
    actor: str | None


class AWSContainerCredentials(TypedDict):
    """200 answer of the AWS path, as botocore's container provider reads it (ISO 8601 UTC)."""

    AccessKeyId: str
    SecretAccessKey: str
    Token: str
    Expiration: str


def expiry_epoch(value: Any) -> float:
    """An AWS expiry as seconds since the epoch: ISO 8601 text (STS, ``Expiration`` above; UTC
    when it names no zone) or a number (the JSON protocol). Raises ValueError otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


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


def scope_key(scopes: object) -> str:
    """One spelling of a scope set (sorted, space-separated): cache keys and query values."""
    if isinstance(scopes, str):
        scopes = scopes.split()
    return " ".join(sorted({str(s) for s in scopes or () if str(s)}))  # type: ignore[attr-defined]


def hub_exchange_url(hub_api_url: str, user: str) -> str:
    """The per-resource token endpoint's URL for ``user`` (add ``audience`` and ``scope``)."""
    return f"{hub_api_url.rstrip('/')}/" + HUB_EXCHANGE_PATH.format(name=quote(user, safe=""))


def hub_tokens_url(hub_api_url: str, user: str) -> str:
    """The Hub endpoint's URL for ``user`` under ``hub_api_url`` (``.../hub/api``)."""
    return f"{hub_api_url.rstrip('/')}/" + HUB_TOKENS_PATH.format(name=quote(user, safe=""))
