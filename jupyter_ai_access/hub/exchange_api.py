"""The Hub endpoint that hands a user's server per-resource tokens (RFC 8693 token exchange).

``GET /hub/api/ai-access/users/<name>/exchanged-tokens?audience=<aud>&scope=<s1 s2 ...>``
(:data:`~jupyter_ai_access.protocol.HUB_EXCHANGE_PATH`), with the same caller rules as the token
endpoint (:mod:`.tokens_api`): the scope ``custom:ai-access:tokens!user=<name>``, an API token
(never a browser cookie), by default the API token of one of the user's own servers. Answers
(JSON, ``Cache-Control: no-store``):

- 200 :class:`~jupyter_ai_access.protocol.ExchangedToken` (never a refresh token);
- 400 without ``audience``;
- 401 ``login_required`` (with ``login_url``) when the session is over;
- 403 ``audience_refused``: the user's groups may not ask for this audience or these scopes
  (``CognitoOAuthenticator.exchange_policy``);
- 502 ``exchange_refused``: Cognito refused the exchange (``code``: its OAuth error);
- 503 ``idp_unavailable``: Cognito cannot be reached and no valid token is cached;
- 429 ``rate_limited``: too many exchanges at once for the user (a cached answer is never limited).
"""

from __future__ import annotations

import math
from typing import Any

from jupyterhub.apihandlers.base import APIHandler
from tornado import web

from ..errors import (
    AudienceRefusedError,
    ExchangeRefusedError,
    IdentityProviderError,
    SessionEndedError,
)
from ..protocol import HUB_EXCHANGE_PATH, ErrorCode, ExchangedToken
from .callers import token_caller

__all__ = ["EXCHANGE_ROUTE", "ExchangeAPIHandler"]

#: The handler's route under the Hub's ``/hub`` prefix.
EXCHANGE_ROUTE = "/api/" + HUB_EXCHANGE_PATH.format(name="([^/]+)")

_ENDED = "Your JupyterHub session has ended"


class ExchangeAPIHandler(APIHandler):
    """``GET /hub/api/ai-access/users/<name>/exchanged-tokens?audience=...&scope=...``."""

    async def get(self, user_name: str) -> None:
        """A token bound to ``audience`` for the user's server (see the module's docstring)."""
        token_caller(self, user_name)  # the same caller rules as /tokens
        audience = self.get_argument("audience", "").strip()
        if not audience:
            raise web.HTTPError(400, "audience is required (a resource server identifier).")
        wanted = self.get_argument("scope", "").split()
        self.set_header("Cache-Control", "no-store")
        auth = self.authenticator
        exchanger = auth.exchanger
        user = self.find_user(user_name)
        state = await user.get_auth_state() or {}
        if not state.get("access_token") or not state.get("refresh_token"):
            exchanger.drop_user(user_name)
            return self._error(401, ErrorCode.LOGIN_REQUIRED, _ENDED, user_name)
        try:
            granted = exchanger.granted_scopes(state.get("cognito_groups") or [], audience, wanted)
        except AudienceRefusedError as e:
            auth.audit.exchange_failed(user_name, audience, ErrorCode.AUDIENCE_REFUSED, "")
            return self._error(403, ErrorCode.AUDIENCE_REFUSED, str(e), user_name)
        key = exchanger.key(user_name, audience, granted)
        sub = str(state.get("sub") or "")
        if exchanger.fresh(key, sub) is None and not exchanger.busy(key):
            retry = auth.exchange_buckets.take(
                user_name, auth.token_answers_per_second, auth.token_answers_burst
            )
            if retry:
                seconds = max(1, math.ceil(retry))
                self.set_header("Retry-After", str(seconds))
                message = (
                    f"Too many token exchanges for {user_name}; retry after {seconds} s "
                    "(CognitoOAuthenticator.token_answers_per_second)."
                )
                return self._error(429, ErrorCode.RATE_LIMITED, message, user_name)
        try:
            token = await exchanger.get(key, sub, lambda: self._current(user))
        except SessionEndedError:
            exchanger.drop_user(user_name)
            return self._error(401, ErrorCode.LOGIN_REQUIRED, _ENDED, user_name)
        except AudienceRefusedError as e:  # the refresh removed a group
            return self._error(403, ErrorCode.AUDIENCE_REFUSED, str(e), user_name)
        except ExchangeRefusedError as e:
            return self._error(502, ErrorCode.EXCHANGE_REFUSED, str(e), user_name, code=e.code)
        except IdentityProviderError as e:
            message = f"Amazon Cognito cannot be reached to issue the token ({e}); retry later."
            return self._error(503, ErrorCode.IDP_UNAVAILABLE, message, user_name)
        answer: ExchangedToken = {
            "username": user_name,
            "audience": token.audience,
            "scope": list(token.scopes),
            "access_token": token.token,
            "access_token_expires_at": token.expires_at,
            "actor": token.actor,
        }
        self.finish(dict(answer))

    async def _current(self, user: Any) -> dict[str, Any]:
        """The user's auth_state, refreshed first when due (as the token endpoint does)."""
        auth = self.authenticator
        state = await user.get_auth_state() or {}
        if state.get("refresh_token") and auth.needs_refresh(state):
            refreshed = await auth.refresh_user(user, self)
            if isinstance(refreshed, dict):
                refreshed["name"] = user.name
                await self.auth_to_user(refreshed, user)
            state = await user.get_auth_state() or {}
        if not state.get("access_token") or not state.get("refresh_token"):
            raise SessionEndedError(_ENDED)
        return dict(state)

    def _error(
        self, status: int, error: str, message: str, user_name: str, *, code: str = ""
    ) -> None:
        body: dict[str, Any] = {"error": str(error), "message": message, "username": user_name}
        if status == 401:
            body["login_url"] = self.authenticator.hub_url(self, "login")
        if code:
            body["code"] = code
        self.set_header("Cache-Control", "no-store")
        self.set_status(status)
        self.finish(body)
