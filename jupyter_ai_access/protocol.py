"""The wire contract between the processes: names and JSON shapes both ends import.

Standard library only, so every process can import it (the Hub, the user's server, the kernel,
a test's stand-in Hub). Changing a value here changes the protocol: the Hub and the servers of a
deployment must run the same version.

- Hub → user's server: ``GET <JUPYTERHUB_API_URL>/ai-access/users/<name>/tokens`` with the server's
  API token, guarded by the custom scope :data:`TOKENS_SCOPE` filtered to the user; answers
  :class:`HubTokens` (200) or :class:`ErrorBody` (401 ``login_required``, 503 ``idp_unavailable``).
- user's server → kernel: the environment variables :data:`KernelEnv`, and the loopback endpoint
  ``GET <JUPYTER_AI_ACCESS_URL>?kind=access|id&min_valid=<s>&force=0|1`` with
  ``Authorization: Bearer <the kernel's secret>``; answers :class:`KernelToken` (200) or
  :class:`ErrorBody` (401 ``login_required``, 503 ``unavailable``, 400, 403).
"""

from __future__ import annotations

from typing import Final, TypedDict
from urllib.parse import quote

__all__ = [
    "ERROR_IDP_UNAVAILABLE",
    "ERROR_LOGIN_REQUIRED",
    "ERROR_UNAVAILABLE",
    "HUB_TOKENS_PATH",
    "TOKENS_SCOPE",
    "ErrorBody",
    "HubTokens",
    "KernelEnv",
    "KernelToken",
    "hub_tokens_url",
]

#: The custom JupyterHub scope that lets a server read its user's short-lived tokens.
TOKENS_SCOPE: Final = "custom:ai-access:tokens"

#: The Hub endpoint, relative to the Hub API URL (``/hub/api``); ``{name}`` is URL-quoted.
HUB_TOKENS_PATH: Final = "ai-access/users/{name}/tokens"

#: ``error`` values shared by the Hub endpoint and the kernel endpoint.
ERROR_LOGIN_REQUIRED: Final = "login_required"
ERROR_IDP_UNAVAILABLE: Final = "idp_unavailable"
ERROR_UNAVAILABLE: Final = "unavailable"


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


class KernelToken(TypedDict):
    """200 answer of the kernel endpoint."""

    token: str
    expires_at: float
    kind: str


class _ErrorRequired(TypedDict):
    error: str
    message: str


class ErrorBody(_ErrorRequired, total=False):
    """Error answer of either endpoint; ``login_url`` comes with ``login_required``."""

    login_url: str
    username: str


def hub_tokens_url(hub_api_url: str, user: str) -> str:
    """The Hub endpoint's URL for ``user`` under ``hub_api_url`` (``.../hub/api``)."""
    return f"{hub_api_url.rstrip('/')}/" + HUB_TOKENS_PATH.format(name=quote(user, safe=""))
