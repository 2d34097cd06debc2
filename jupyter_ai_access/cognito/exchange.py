"""OAuth 2.0 token exchange (RFC 8693) as Amazon Cognito's token endpoint takes it: the names.

The one place for the grant's URNs and parameter names (the emulator's counterpart is the
``ASSUMPTIONS`` block of ``jupyter_ai_access/local_cognito/exchange.mjs``;
docs/reference/local-cognito.md "Token exchange: what the emulator assumes" lists both).
Standard library only.

- the request: ``grant_type`` :data:`GRANT_TYPE`, ``subject_token`` with ``subject_token_type``
  :data:`ACCESS_TOKEN_TYPE` (the user's access token), optionally ``actor_token`` /
  ``actor_token_type`` (the notebook platform's own machine token: delegation, the issued token's
  ``act`` names it), ``audience`` (one resource server identifier) and ``scope`` (space separated
  ``<identifier>/<scope>``); the client authenticates as for any grant (HTTP Basic);
- the answer: ``access_token``, ``issued_token_type`` (:data:`ACCESS_TOKEN_TYPE`), ``token_type``,
  ``expires_in``, ``scope``; never a refresh token;
- refusals are the token endpoint's OAuth errors (``invalid_target``, ``invalid_scope``,
  ``invalid_grant``, ``unauthorized_client``, ...): :class:`~jupyter_ai_access.errors.
  ExchangeRefusedError` carries the code.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any, Final

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "ACTOR_TOKEN",
    "ACTOR_TOKEN_TYPE",
    "AUDIENCE",
    "GRANT_TYPE",
    "ID_TOKEN_TYPE",
    "ISSUED_TOKEN_TYPE",
    "SCOPE",
    "SUBJECT_TOKEN",
    "SUBJECT_TOKEN_TYPE",
    "actor_of",
    "exchange_form",
    "unverified_claims",
]

#: RFC 8693 section 2.1: the grant type of a token exchange.
GRANT_TYPE: Final = "urn:ietf:params:oauth:grant-type:token-exchange"
#: RFC 8693 section 3: token type identifiers (Cognito: ACCESS_TOKEN, ID_TOKEN).
ACCESS_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:access_token"
ID_TOKEN_TYPE: Final = "urn:ietf:params:oauth:token-type:id_token"

#: The request's parameter names (RFC 8693 section 2.1).
SUBJECT_TOKEN: Final = "subject_token"
SUBJECT_TOKEN_TYPE: Final = "subject_token_type"
ACTOR_TOKEN: Final = "actor_token"
ACTOR_TOKEN_TYPE: Final = "actor_token_type"
AUDIENCE: Final = "audience"
SCOPE: Final = "scope"
#: The answer's field naming what was issued (RFC 8693 section 2.2.1).
ISSUED_TOKEN_TYPE: Final = "issued_token_type"


def exchange_form(
    subject_token: str,
    audience: str,
    scopes: Iterable[str] = (),
    actor_token: str | None = None,
) -> dict[str, str]:
    """The form of one exchange: the user's access token for ``audience`` (and ``scopes``;
    none: every scope the subject token holds for it), with ``actor_token`` as the actor."""
    form = {
        "grant_type": GRANT_TYPE,
        SUBJECT_TOKEN: subject_token,
        SUBJECT_TOKEN_TYPE: ACCESS_TOKEN_TYPE,
        AUDIENCE: audience,
    }
    wanted = " ".join(scopes)
    if wanted:
        form[SCOPE] = wanted
    if actor_token:
        form[ACTOR_TOKEN] = actor_token
        form[ACTOR_TOKEN_TYPE] = ACCESS_TOKEN_TYPE
    return form


def unverified_claims(token: str) -> dict[str, Any]:
    """A JWT's claims read WITHOUT verification (empty when unreadable): only for a token just
    issued by the token endpoint itself, to learn its ``exp`` and ``act``."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, TypeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def actor_of(claims: dict[str, Any]) -> str | None:
    """The client id the ``act`` claim names (RFC 8693 section 4.1), or None."""
    act = claims.get("act")
    if not isinstance(act, dict):
        return None
    actor = act.get("client_id") or act.get("sub")
    return str(actor) if actor else None
