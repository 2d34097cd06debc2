"""OAuth 2.0 pieces of the Cognito core (:mod:`.endpoint` sends the requests).

Standard library only (the kernel client imports it through :mod:`jupyter_ai_access.machine`).

- :func:`basic_auth` — the ``Authorization`` header of Cognito's token and revoke endpoints for an
  app client with a secret (HTTP Basic of ``client_id:client_secret``, as Cognito documents it);
- :func:`token_answer` — Cognito's token-endpoint answer mapped onto the exception tree:
  ``invalid_grant`` → :class:`LoginRequiredError`, any other ``error`` → :class:`TokenEndpointError`
  (its ``error`` attribute carries the code), 5xx or a body that is not a JSON object →
  :class:`IdPUnavailableError`. Messages never contain the body (it may hold tokens);
- :func:`pkce_pair` — a PKCE S256 verifier and challenge;
- :func:`token_expiry` — a JWT's ``exp`` read without verification, for tokens whose source was
  verified (or is the token endpoint itself).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any

from ..errors import IdPUnavailableError, LoginRequiredError, TokenEndpointError
from .http import MAX_RESPONSE_BYTES

__all__ = ["basic_auth", "pkce_pair", "token_answer", "token_expiry"]


def basic_auth(client_id: str, client_secret: str) -> str:
    """``Basic base64(client_id:client_secret)`` — Cognito's client authentication."""
    raw = f"{client_id}:{client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def pkce_pair() -> tuple[str, str]:
    """A PKCE ``(code_verifier, code_challenge)`` pair for ``code_challenge_method=S256``."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def token_answer(
    status: int,
    body: bytes | None,
    what: str = "token endpoint",
    limit: int = MAX_RESPONSE_BYTES,
) -> dict[str, Any]:
    """The JSON object of a successful token-endpoint answer, or the matching exception."""
    if status >= 500 or status == 599:
        raise IdPUnavailableError(f"the {what} answered HTTP {status}")
    if body is not None and len(body) > limit:
        raise IdPUnavailableError(f"the {what} answered more than {limit} bytes")
    try:
        data = json.loads(body or b"null")
    except ValueError:
        raise IdPUnavailableError(
            f"the {what} answered HTTP {status} with a body that is not JSON"
        ) from None
    if not isinstance(data, dict):
        raise IdPUnavailableError(f"the {what} answered HTTP {status} with no JSON object")
    error = data.get("error")
    if error or status != 200:
        code = str(error or f"http_{status}")[:64]
        if code == "invalid_grant":
            raise LoginRequiredError(code, "the refresh token or code was refused")
        raise TokenEndpointError(code, f"the {what} refused the request ({code})")
    if not isinstance(data.get("access_token"), str):
        raise TokenEndpointError("invalid_response", f"the {what}'s answer has no access_token")
    return data


def token_expiry(token: str) -> float:
    """The ``exp`` of a JWT, read without verification (0 when there is none)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return 0.0
