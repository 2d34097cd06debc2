"""Who calls the token endpoint: the API token behind a request, and whether it is a server's.

JupyterHub issues each server an API token (``Spawner.api_token``, handed to the server and
inherited by its kernels). Tokens a user makes on the token page, or that an admin makes for
them (``POST /hub/api/users/<name>/tokens``), can carry the same scopes; only the server's token
is the server. The Hub keeps the server's token in memory (``Spawner.api_token``) and, hashed, as
the secret of the server's OAuth client (``orm.OAuthClient``, identifier
``Spawner.oauth_client_id``), which survives a Hub restart. A verdict is cached per token row
(the hash check costs milliseconds; the token row, with its salted hash, never changes).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jupyterhub import orm, scopes
from jupyterhub.utils import compare_token
from tornado import web

from ..protocol import TOKENS_SCOPE
from ._compat import is_token_authenticated

__all__ = ["Caller", "CallerCheck", "token_caller"]

_NOTE_MAX = 200


@dataclass(frozen=True)
class Caller:
    """The API token behind a request: its id, owner, note, and the owner's server it belongs to.

    ``server`` is the server name ("" for the default server) when the token is the API token
    JupyterHub issued to that server of the requested user, else None.
    """

    key: str  # SHA-256 of the presented token: groups a token's watches, never logged
    token_id: str | None
    owner_kind: str
    owner: str | None
    note: str
    server: str | None

    def audit_fields(self) -> dict[str, Any]:
        """The audit record's fields naming this caller (no token text)."""
        return {
            "requester": self.owner,
            "requester_kind": self.owner_kind,
            "token_id": self.token_id,
            "token_note": self.note,
            "server": self.server,
        }


class CallerCheck:
    """Identifies the token of a request; remembers which token rows are servers' tokens."""

    def __init__(
        self, size: int = 4096, retry_after: float = 60.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.size = size
        self.retry_after = retry_after  # a "not a server token" verdict is checked again after
        self.clock = clock
        self._verdicts: OrderedDict[tuple[int, str], tuple[str | None, float]] = OrderedDict()

    def identify(self, handler: Any, user_name: str) -> Caller:
        """The caller of ``handler`` (token-authenticated), asking for ``user_name``'s tokens."""
        presented = handler.get_auth_token() or ""
        key = hashlib.sha256(presented.encode()).hexdigest()
        orm_token = handler.get_token()
        if orm_token is None:
            return Caller(key, None, "unknown", None, "", None)
        owner = orm_token.user if orm_token.user is not None else orm_token.service
        kind = "user" if orm_token.user is not None else "service"
        server = None
        if orm_token.user is not None and orm_token.user.name == user_name:
            server = self._server_of(handler, orm_token, user_name, presented)
        return Caller(
            key=key,
            token_id=orm_token.api_id,
            owner_kind=kind,
            owner=getattr(owner, "name", None),
            note=(orm_token.note or "")[:_NOTE_MAX],
            server=server,
        )

    def _server_of(self, handler: Any, orm_token: Any, user_name: str, token: str) -> str | None:
        row = (int(orm_token.id), str(orm_token.hashed))
        now = self.clock()
        held = self._verdicts.get(row)
        if held is not None and (held[0] is not None or now < held[1]):
            self._verdicts.move_to_end(row)
            return held[0]
        server = _find_server(handler, user_name, token)
        self._verdicts[row] = (server, now + self.retry_after)
        while len(self._verdicts) > self.size:
            self._verdicts.popitem(last=False)
        return server


def _find_server(handler: Any, user_name: str, token: str) -> str | None:
    user = handler.find_user(user_name)
    if user is None or not token:
        return None
    spawners = list(user.spawners.items())
    for name, spawner in spawners:  # the Hub's memory: the token it handed the server
        if spawner.api_token and hmac.compare_digest(str(spawner.api_token), token):
            return str(name)
    for name, spawner in spawners:  # after a Hub restart: the server's OAuth client secret
        client = (
            handler.db.query(orm.OAuthClient)
            .filter_by(identifier=spawner.oauth_client_id)
            .one_or_none()
        )
        if client is not None and client.secret and compare_token(client.secret, token):
            return str(name)
    return None


def token_caller(handler: Any, user_name: str) -> Caller:
    """The caller rules of the Hub's token endpoints (``/tokens`` and ``/exchanged-tokens``).

    A request needs an API token (browsers' cookies get nothing) with ``TOKENS_SCOPE`` for this
    user; with ``CognitoOAuthenticator.token_endpoint_callers = "servers"`` it must be the API token
    of one of the user's own servers. Raises the HTTP error to answer, else returns the caller.
    """
    if not handler.current_user:
        raise web.HTTPError(403, "Missing or invalid credentials.")
    if not is_token_authenticated(handler):
        # Tokens are for servers (API tokens), never for browsers (cookies).
        raise web.HTTPError(403, "Use the server's API token; browsers get no tokens here.")
    if not scopes.has_scope(
        f"{TOKENS_SCOPE}!user={user_name}", handler.parsed_scopes, db=handler.db
    ):
        if TOKENS_SCOPE in handler.parsed_scopes:
            raise web.HTTPError(404, "No access to this user's tokens.")
        raise web.HTTPError(403, f"This token lacks the scope {TOKENS_SCOPE}.")
    if handler.find_user(user_name) is None:
        raise web.HTTPError(404, "No such user.")
    auth = handler.authenticator
    caller: Caller = auth.token_callers.identify(handler, user_name)
    if auth.token_endpoint_callers == "servers" and caller.server is None:
        auth.audit.tokens_refused(user_name, caller.audit_fields(), "not_a_server_token")
        raise web.HTTPError(
            403,
            f"Only the API token of {user_name}'s own server may read {user_name}'s tokens "
            f"({type(auth).__name__}.token_endpoint_callers is 'servers').",
        )
    return caller
