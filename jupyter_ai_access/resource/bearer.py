"""RFC 6750 for resource servers: read the bearer token, answer a refusal.

Standard library only; used by the tornado and ASGI adapters and by hand-written servers.
"""

from __future__ import annotations

from ..errors import (
    IdentityProviderError,
    InsufficientPermissionError,
    InsufficientScopeError,
    MissingTokenError,
    TokenError,
)

__all__ = ["bearer_error_response", "extract_bearer"]


def extract_bearer(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or :class:`MissingTokenError`."""
    if not authorization:
        raise MissingTokenError("no Authorization header: send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MissingTokenError("the Authorization header is not 'Bearer <token>'")
    return token.strip()


def _quoted(text: str) -> str:
    return "".join(c for c in text if 0x20 <= ord(c) < 0x7F and c not in '"\\')


def bearer_error_response(
    error: TokenError | IdentityProviderError, realm: str = "jupyter_ai_access"
) -> tuple[int, dict[str, str], dict[str, str]]:
    """(status, headers, JSON body) for a refusal, following RFC 6750.

    401 ``invalid_token`` for a bad token, 401 without an error code when none was sent, 403
    ``insufficient_scope`` (with the missing ``scope``) for missing rights, 503 when the IdP's keys
    cannot be fetched.
    """
    description = _quoted(str(error))
    if isinstance(error, IdentityProviderError):
        return (
            503,
            {"Retry-After": "5"},
            {"error": "temporarily_unavailable", "error_description": description},
        )
    challenge = f'Bearer realm="{_quoted(realm)}"'
    if isinstance(error, MissingTokenError):
        return (
            401,
            {"WWW-Authenticate": challenge},
            {"error": "missing_token", "error_description": description},
        )
    challenge += f', error="{error.error}", error_description="{description}"'
    if isinstance(error, InsufficientScopeError):
        challenge += f', scope="{_quoted(" ".join(error.scopes))}"'
    status = 403 if isinstance(error, InsufficientPermissionError) else 401
    return (
        status,
        {"WWW-Authenticate": challenge},
        {"error": error.error, "error_description": description},
    )
