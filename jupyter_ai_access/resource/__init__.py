"""Runs in a protected resource: accept or refuse Cognito tokens.

- :class:`CognitoTokenVerifier` — the verifier (from :mod:`jupyter_ai_access.cognito.verify`,
  standard library + PyJWT), re-exported here as a resource's one import; ``audience=``,
  ``accept_broad_tokens=``, ``require_actor=``, ``allowed_actors=`` for per-resource tokens;
- :class:`TokenClaims` — what it returns: a dict with ``.act``, ``.actor``, ``.audience``;
- :mod:`.bearer` — the RFC 6750 helpers ``extract_bearer`` and ``bearer_error_response``;
- :mod:`.tornado_auth` — ``bearer_required`` / ``BearerAuthMixin`` for tornado;
- :mod:`.asgi` — ``CognitoAuthMiddleware`` for any ASGI application;
- :mod:`.revocations` — ``RevocationFeed``, the Hub's list of ended sessions.

Discovery and the JWKS cache live in :mod:`jupyter_ai_access.cognito.oidc`. Importing this
package pulls in neither Jupyter nor tornado (a test enforces it).
"""

from __future__ import annotations

from ..cognito.claims import TokenClaims
from ..cognito.oidc import JWKSCache
from ..cognito.verify import CognitoTokenVerifier, cognito_issuer
from .bearer import bearer_error_response, extract_bearer

__all__ = [
    "CognitoTokenVerifier",
    "JWKSCache",
    "TokenClaims",
    "bearer_error_response",
    "cognito_issuer",
    "extract_bearer",
]
