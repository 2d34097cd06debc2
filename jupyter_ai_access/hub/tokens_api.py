"""The Hub endpoint that hands a user's short-lived tokens to that user's own server.

``GET /hub/api/ai-access/users/<name>/tokens`` returns the access and ID tokens, their expiry
times, scopes, username and groups — never the refresh token — after refreshing them through the
authenticator when they are within its ``refresh_margin``. It needs the custom scope
``custom:ai-access:tokens`` filtered to the user (``custom:ai-access:tokens!user``), which the
shipped configuration grants to the ``server`` role. ``admin:auth_state`` is not used: kernels
inherit their server's ``JUPYTERHUB_API_TOKEN``, and that scope would hand them the refresh token.

Answers (JSON, ``Cache-Control: no-store``):

- 200 with the tokens;
- 401 ``login_required`` (with the absolute ``login_url``) when the session is gone (logged out,
  refresh token refused, removed from the allowed groups, user deleted);
- 503 ``idp_unavailable`` when the tokens have expired and Cognito cannot be reached;
- 403/404 for callers without the scope for this user, and 403 for a token with the scope that is
  not the API token of one of the user's own servers (unless
  ``CognitoOAuthenticator.token_endpoint_callers = "scoped"``; see :mod:`.callers`);
- 429 ``rate_limited`` (with ``Retry-After``) beyond the user's rate of answers given at once.

The same request with ``?wait=<s>&have=<fingerprint>`` is the server's session watch (see
:mod:`jupyter_ai_access.protocol`); 409 ``watch_superseded`` ends it when the user (or the token)
opened more than the Hub holds (:mod:`.endpoint_limits`). With ``&stream=1`` the watch is one
stream of answer lines and keep-alives (:mod:`.watch_streams`): an idle watch costs no SQL.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterable
from typing import Any

from jupyterhub.apihandlers.base import APIHandler
from tornado import web

from ..protocol import (
    ERROR_IDP_UNAVAILABLE,
    ERROR_LOGIN_REQUIRED,
    ERROR_RATE_LIMITED,
    ERROR_WATCH_SUPERSEDED,
    HUB_TOKENS_PATH,
    NO_TOKENS,
    REVOCATIONS_SCOPE,
    TOKENS_SCOPE,
    ErrorBody,
    HubTokens,
    fingerprint,
)
from .callers import Caller, token_caller
from .endpoint_limits import SharedAnswer, Watch, WatchBoard
from .watch_streams import (
    StreamWriter,
    recheck_due,
    start_stream,
    stream_deadline,
    token_still_valid,
)

__all__ = [
    "HANDLER_ROUTE",
    "TOKENS_SCOPE",
    "TokensAPIHandler",
    "configure_token_delivery",
    "hub_config_snippet",
]

#: The handler's route under the Hub's ``/hub`` prefix.
HANDLER_ROUTE = "/api/" + HUB_TOKENS_PATH.format(name="([^/]+)")
SCOPE_DEFINITION = {
    TOKENS_SCOPE: {
        "description": "Read the user's short-lived Cognito access and ID tokens, and get "
        "per-resource tokens exchanged from them (never the refresh token).",
    },
    REVOCATIONS_SCOPE: {
        "description": "Read the origin_jti of ended sessions (the revocation feed).",
    },
}


class TokensAPIHandler(APIHandler):
    """``GET /hub/api/ai-access/users/<name>/tokens[?wait=<s>&have=<fingerprint>]``."""

    _caller: Caller | None = None
    _watch: Watch | None = None

    async def get(self, user_name: str) -> None:
        """Return the user's short-lived tokens, refreshing them first when due.

        With ``wait``, hold the request until the answer's fingerprint differs from ``have``
        (new tokens, or the session ended) or ``wait`` seconds (at most
        ``CognitoOAuthenticator.session_wait_max``) have passed: the user's server learns of a
        logout within moments, through one open request. At most
        ``session_watches_per_user`` (and ``session_watches_per_token``) watches are held; a
        newer one ends the oldest (409 ``watch_superseded``). Answers given at once are
        rate-limited per user (429 ``rate_limited``).
        """
        auth = self.authenticator
        caller = self._caller = token_caller(self, user_name)
        try:
            wait = float(self.get_argument("wait", "0"))
        except ValueError:
            raise web.HTTPError(400, "wait must be a number of seconds.") from None
        if not 0 <= wait < float("inf"):
            raise web.HTTPError(400, "wait must be a number of seconds.")
        self.set_header("Cache-Control", "no-store")
        if wait and self.get_argument("stream", "") == "1":
            # the stream lasts session_wait_max; ``wait`` is its longest silence (keep-alives)
            keepalive = min(wait, auth.session_watch_keepalive)
            await self._streamed(user_name, auth.session_wait_max, caller, keepalive)
            return
        if wait:
            answer = await self._held(user_name, min(wait, auth.session_wait_max), caller)
        else:
            self._limit(user_name)
            answer = await self._answer(user_name, refresh=True)
        changed = answer.fingerprint != self.get_argument("have", "")
        if answer.status == 200 and (not wait or changed) and answer.first_handout(caller.key):
            auth.audit.tokens_handed(user_name, caller.audit_fields(), self._mode, answer.audit)
        self.set_status(answer.status)
        self.finish(dict(answer.body))

    async def _held(self, user_name: str, wait: float, caller: Caller) -> SharedAnswer:
        """The session watch: one shared answer per session change, at most N watches held."""
        auth = self.authenticator
        have = self.get_argument("have", "")
        watch = self._watch = self._open_watch(user_name, caller)
        try:
            deadline = time.monotonic() + wait
            first = True
            while True:
                answer = await self._current(user_name)
                if watch.ended.is_set():
                    return self._superseded(user_name)
                changed = answer.fingerprint != have
                if changed or deadline - time.monotonic() <= 0:
                    if changed and first:
                        self._limit(user_name)  # answered at once: bounded like a fetch
                    return answer
                first = False
                try:
                    await self._until_change(user_name, watch, deadline - time.monotonic())
                except asyncio.CancelledError:
                    # The Hub is stopping (it cancels every task): end the watch as its wait
                    # running out would, not with tornado's 500 for a cancelled handler.
                    return answer
                if watch.ended.is_set():
                    return self._superseded(user_name)
        finally:
            auth.watch_board.close(watch)

    async def _current(self, user_name: str) -> SharedAnswer:
        """The answer for the user's session as it is now (one per session change, shared)."""
        auth = self.authenticator
        generation = auth.session_events.generation(user_name)
        answer: SharedAnswer = await auth.shared_answers.get(
            user_name, generation, lambda: self._answer(user_name, refresh=False)
        )
        return answer

    async def _until_change(self, user_name: str, watch: Watch, timeout: float) -> None:
        """Wait until the user's session changes, ``watch`` is ended, or ``timeout`` passes."""
        woken = asyncio.ensure_future(self.authenticator.session_events.wait(user_name, timeout))
        ended = asyncio.ensure_future(watch.ended.wait())
        try:
            await asyncio.wait({woken, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pending in (woken, ended):
                pending.cancel()

    def _open_watch(self, user_name: str, caller: Caller) -> Watch:
        auth = self.authenticator
        per_user, per_token = auth.session_watches_per_user, auth.session_watches_per_token
        board: WatchBoard = auth.watch_board
        return board.open(user_name, caller.key, per_user=per_user, per_token=per_token)

    async def _streamed(self, user_name: str, wait: float, caller: Caller, alive: float) -> None:
        """The session watch as a stream (:mod:`.watch_streams`): every change is one line."""
        auth = self.authenticator
        have = self.get_argument("have", "")
        watch = self._watch = self._open_watch(user_name, caller)
        stream = StreamWriter(self)
        try:
            deadline = stream_deadline(self, wait)
            first = True
            checked = -math.inf  # when this stream last re-checked the session
            while not watch.ended.is_set() and stream.open:
                answer = await self._current(user_name)
                if watch.ended.is_set():
                    break
                changed = answer.fingerprint != have
                if changed and first:
                    self._limit(user_name)  # answered at once: bounded like a fetch
                if not stream.started:
                    start_stream(self, stream, alive)
                if changed:
                    if not first and not token_still_valid(self):
                        stream.line(403, {"error": "token_revoked", "message": _REVOKED})
                        return
                    stream.line(answer.status, answer.body)
                    if answer.status == 200 and answer.first_handout(caller.key):
                        auth.audit.tokens_handed(
                            user_name, caller.audit_fields(), "watch", answer.audit
                        )
                    have = answer.fingerprint
                first = False
                now = time.monotonic()
                if deadline - now <= 0:
                    stream.line(204, {})
                    return
                recheck = recheck_due(auth, answer, checked)
                try:
                    await self._until_change(user_name, watch, min(deadline, recheck) - now)
                except asyncio.CancelledError:
                    return  # the Hub is stopping: the server reconnects to the next one
                if time.monotonic() >= recheck and not watch.ended.is_set():
                    # recheck_interval: the session is checked at Cognito (a refresh) as the
                    # long-poll's reconnection used to make JupyterHub do
                    checked = time.monotonic()
                    await self._answer(user_name, refresh=True)
            if watch.ended.is_set():
                superseded = self._superseded(user_name)
                if stream.started:
                    stream.line(superseded.status, superseded.body)
                else:
                    self.set_status(superseded.status)
                    self.finish(superseded.body)
        finally:
            stream.open = False
            auth.watch_board.close(watch)
            if stream.started and not self._finished:
                self.finish()

    def on_connection_close(self) -> None:
        """The client went away: end its watch so that it holds nothing at the Hub."""
        if self._watch is not None:
            self.authenticator.watch_board.end(self._watch)
        super().on_connection_close()

    def _limit(self, user_name: str) -> None:
        auth = self.authenticator
        retry = auth.answer_buckets.take(
            user_name, auth.token_answers_per_second, auth.token_answers_burst
        )
        if retry:
            seconds = max(1, math.ceil(retry))
            raise _Refused(
                429,
                ERROR_RATE_LIMITED,
                f"Too many token requests for {user_name}; retry after {seconds} s "
                "(CognitoOAuthenticator.token_answers_per_second).",
                retry_after=seconds,
            )

    def _superseded(self, user_name: str) -> SharedAnswer:
        body = {
            "error": ERROR_WATCH_SUPERSEDED,
            "message": f"A newer session watch of {user_name} ended this one "
            "(CognitoOAuthenticator.session_watches_per_user, session_watches_per_token).",
        }
        return SharedAnswer(409, body, "")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Our own refusals (429) carry a JSON ``error`` the server's watch understands."""
        error = kwargs.get("exc_info", (None, None))[1]
        if isinstance(error, _Refused):
            self.set_header("Content-Type", "application/json")
            self.set_header("Cache-Control", "no-store")
            if error.retry_after:
                self.set_header("Retry-After", str(error.retry_after))
            self.finish({"error": error.error, "message": error.log_message})
            return
        super().write_error(status_code, **kwargs)

    @property
    def _mode(self) -> str:
        return "watch" if self.get_argument("wait", "") else "fetch"

    def on_finish(self) -> None:
        """Count the answer (every request, refusals included) in the metrics."""
        self.authenticator.audit.token_request(self.get_status(), self._mode)
        super().on_finish()

    async def _answer(self, user_name: str, *, refresh: bool) -> SharedAnswer:
        user = self.find_user(user_name)
        if user is None:  # deleted while we waited
            return self._refusal(401, ERROR_LOGIN_REQUIRED, _ENDED, user_name)
        auth = self.authenticator
        auth_state = await user.get_auth_state() or {}
        # The watch never refreshes: the server's renewal (a plain request) does, on its schedule.
        if refresh and auth_state.get("refresh_token") and auth.needs_refresh(auth_state):
            refreshed = await auth.refresh_user(user, self)
            if isinstance(refreshed, dict):
                refreshed["name"] = user.name
                await self.auth_to_user(refreshed, user)
            auth_state = await user.get_auth_state() or {}
        if not auth_state.get("access_token") or not auth_state.get("refresh_token"):
            return self._refusal(401, ERROR_LOGIN_REQUIRED, _ENDED, user.name)
        now = auth.clock()
        if min(auth_state["access_token_expires_at"], auth_state["id_token_expires_at"]) <= now:
            return self._refusal(
                503,
                ERROR_IDP_UNAVAILABLE,
                "Your tokens have expired and Amazon Cognito cannot be reached to renew "
                "them; retrying in the background.",
                user.name,
            )
        answer: HubTokens = {
            "username": user.name,
            "cognito_username": auth_state.get("cognito_username"),
            "groups": auth_state.get("cognito_groups", []),
            "scope": auth_state.get("scope", []),
            "access_token": auth_state["access_token"],
            "access_token_expires_at": auth_state["access_token_expires_at"],
            "id_token": auth_state["id_token"],
            "id_token_expires_at": auth_state["id_token_expires_at"],
            "refreshed_at": auth_state.get("refreshed_at"),
        }
        audit = {
            "expires_at": auth_state.get("access_token_expires_at"),
            "origin_jti": auth_state.get("origin_jti"),
        }
        return SharedAnswer(200, answer, fingerprint(auth_state["access_token"]), audit)

    def _refusal(self, status: int, error: str, message: str, user_name: str) -> SharedAnswer:
        body: ErrorBody = {
            "error": error,
            "message": message,
            "login_url": self.authenticator.hub_url(self, "login"),
            "username": user_name,
        }
        # 401: the watch of a server that holds nothing waits; anything else (503) answers at once
        return SharedAnswer(status, body, NO_TOKENS if status == 401 else "")


class _Refused(web.HTTPError):
    """A refusal of the endpoint with a JSON ``error`` code (429 rate_limited)."""

    def __init__(self, status: int, error: str, message: str, retry_after: int = 0) -> None:
        super().__init__(status, message)
        self.error = error
        self.retry_after = retry_after


_ENDED = "Your JupyterHub session has ended"
_REVOKED = "The API token that opened this session watch was deleted or has expired."


def hub_config_snippet() -> dict[str, Any]:
    """The JupyterHub settings token delivery needs.

    The scope goes to the ``server`` role (the server's API token) and to the ``user`` role:
    JupyterHub gives a server token only the part of the server role that its user holds.
    Browsers still get nothing: the endpoint refuses cookie-authenticated requests.
    """
    return {
        "custom_scopes": SCOPE_DEFINITION,
        "server_role": {
            "name": "server",
            "scopes": ["users:activity!user", "access:servers!server", f"{TOKENS_SCOPE}!user"],
        },
        "user_role": {"name": "user", "scopes": ["self", f"{TOKENS_SCOPE}!user"]},
    }


def configure_token_delivery(c: Any, *, revocation_readers: Iterable[str] = ()) -> None:
    """Apply :func:`hub_config_snippet` to a ``jupyterhub_config.py`` config object ``c``.

    Defines the custom scopes and grants the token scope, filtered to the own user, to the
    ``server`` and ``user`` roles, keeping their default scopes and any other roles already
    configured; the services named in ``revocation_readers`` may read the revocation feed. The
    same scope covers the per-resource token endpoint (:mod:`.exchange_api`,
    ``CognitoOAuthenticator.exchange_policy`` says who gets what)::

        from jupyter_ai_access.hub.tokens_api import configure_token_delivery
        configure_token_delivery(c, revocation_readers=["model-registry"])
    """
    snippet = hub_config_snippet()
    scopes_now = c.JupyterHub.custom_scopes if "custom_scopes" in c.JupyterHub else {}
    c.JupyterHub.custom_scopes = {**dict(scopes_now), **snippet["custom_scopes"]}
    roles = list(c.JupyterHub.load_roles) if "load_roles" in c.JupyterHub else []
    for wanted in (snippet["server_role"], snippet["user_role"]):
        role = next((r for r in roles if r.get("name") == wanted["name"]), None)
        if role is None:
            roles.append(dict(wanted))
        else:
            role["scopes"] = sorted({*role.get("scopes", []), *wanted["scopes"]})
    readers = sorted(revocation_readers)
    if readers:
        roles.append(
            {"name": "ai-access-revocations", "scopes": [REVOCATIONS_SCOPE], "services": readers}
        )
    c.JupyterHub.load_roles = roles
