"""The revocation feed: ``GET /hub/api/ai-access/revocations``.

Returns the ``origin_jti`` of every session that ended (logout, ``invalid_grant``, removal from
the allowed groups, deletion) and whose access tokens may still be presented, with when they
expire. Resource servers follow it with one line::

    from jupyter_ai_access.resource.revocations import RevocationFeed
    verifier = CognitoTokenVerifier(..., denied_origin_jtis=RevocationFeed(hub_url, api_token))

Needs the custom scope ``custom:ai-access:revocations`` (``configure_token_delivery(c,
revocation_readers=[...])`` grants it to services). Answers are small: one entry per session
ended within the access-token lifetime.
"""

from __future__ import annotations

import time

from jupyterhub.apihandlers.base import APIHandler
from tornado import web

from ..protocol import REVOCATIONS_PATH, REVOCATIONS_SCOPE, Revocations

__all__ = ["REVOCATIONS_ROUTE", "RevocationsAPIHandler"]

#: The handler's route under the Hub's ``/hub`` prefix.
REVOCATIONS_ROUTE = "/api/" + REVOCATIONS_PATH


class RevocationsAPIHandler(APIHandler):
    """``GET /hub/api/ai-access/revocations``."""

    def get(self) -> None:
        """The ended sessions' ``origin_jti`` and when their last access token expires."""
        if not self.current_user:
            raise web.HTTPError(403, "Missing or invalid credentials.")
        if REVOCATIONS_SCOPE not in self.parsed_scopes:
            raise web.HTTPError(403, f"This token lacks the scope {REVOCATIONS_SCOPE}.")
        self.set_header("Cache-Control", "no-store")
        body: Revocations = {
            "origin_jti": self.authenticator.ended_sessions.current(),
            "generated_at": time.time(),
        }
        self.finish(dict(body))
