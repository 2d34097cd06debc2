"""Runs in a protected resource: accept or refuse Cognito tokens.

- :mod:`.verify` — ``CognitoTokenVerifier`` and the RFC 6750 helpers (standard library + PyJWT);
- :mod:`.oidc` — discovery and the JWKS cache;
- :mod:`.tornado_auth` — ``bearer_required`` / ``BearerAuthMixin`` for tornado;
- :mod:`.asgi` — ``CognitoAuthMiddleware`` for any ASGI application.

Importing :mod:`.verify` pulls in neither Jupyter nor tornado (a test enforces it).
"""

from __future__ import annotations

from .verify import CognitoTokenVerifier, bearer_error_response, cognito_issuer, extract_bearer

__all__ = ["CognitoTokenVerifier", "bearer_error_response", "cognito_issuer", "extract_bearer"]
