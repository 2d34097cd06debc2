"""A loopback stand-in for the Hub's token endpoint (``hub/tokens_api.py``), for fast unit tests.

Serves ``GET /hub/api/ai-access/users/<user>/tokens`` like the real Hub: tokens minted by a
:class:`TokenFactory` with a chosen lifetime, or 401 ``login_required`` / 503 / any status when
told; with ``?wait=&have=`` it is the session watch (held until the answer changes). Counts token
requests (``fetches``) and watch requests (``watches``) apart. Runs in its own thread.

It also serves the per-resource endpoint (:data:`~jupyter_ai_access.protocol.HUB_EXCHANGE_PATH`):
a token minted with ``aud`` = the audience, ``act`` = :attr:`FakeHubTokens.actor`, the asked
scopes (or :attr:`FakeHubTokens.exchange_scopes` of the audience when none are asked), lifetime
:attr:`FakeHubTokens.exchange_lifetime`; 403 ``audience_refused`` for :attr:`refused_audiences`;
counts requests per ``(audience, scope_key)`` in :attr:`exchanges`. A session ended
(``status = 401``) answers 401 there too.

It is a stand-in: the real chain (a real Hub, a real server, real kernels) is tested with
:class:`~jupyter_ai_access_testing.harness.hub.HubProcess`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jupyter_ai_access.protocol import (
    ERROR_IDP_UNAVAILABLE,
    ERROR_LOGIN_REQUIRED,
    ERROR_WATCH_SUPERSEDED,
    NO_TOKENS,
    ErrorBody,
    ErrorCode,
    ExchangedToken,
    HubTokens,
    fingerprint,
    hub_exchange_url,
    hub_tokens_url,
    scope_key,
)

from .tokens import TokenFactory

__all__ = ["FakeHubTokens"]


class FakeHubTokens:
    """The Hub's token endpoint for one user, with scripted answers."""

    def __init__(self, factory: TokenFactory, user: str = "alice", api_token: str = "") -> None:
        self.factory = factory
        self.user = user
        self.api_token = api_token
        self.lifetime = 3600
        self.groups = ["ml-training"]
        self.id_claims: dict[str, Any] = {}  # extra ID token claims (e.g. cognito__roles)
        self._status = 200
        self.delay = 0.0
        self.fetches = 0
        self.watches = 0
        self.supersede_watches = 0  # the next N watches: 409 watch_superseded (the Hub's cap)
        self.issued: list[str] = []
        self.actor = "jupyterhub-actor"  # the act claim's client_id of exchanged tokens
        self.exchange_lifetime = 3600
        self.exchange_scopes: dict[str, list[str]] = {}  # audience -> scopes when none asked
        self.refused_audiences: set[str] = set()
        self.exchanges: dict[tuple[str, str], int] = {}  # (audience, scope_key) -> requests
        self._current: HubTokens | None = None
        self._changed = threading.Condition()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body, status = server._answer(self.path, self.headers.get("Authorization", ""))
                payload = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client left a held watch before the answer (a server stopping)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hub/api"
        self._path = "/" + hub_tokens_url(self.url, self.user).split("/", 3)[3]
        self._exchange_path = "/" + hub_exchange_url(self.url, self.user).split("/", 3)[3]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def status(self) -> int:
        """The status the next answers carry (200: tokens; 401: the session ended; ...)."""
        return self._status

    @status.setter
    def status(self, value: int) -> None:
        with self._changed:
            self._status = value
            self._current = None  # a new session (or none): new tokens next time
            self._changed.notify_all()

    @property
    def exchange_count(self) -> int:
        """Exchange requests of every key."""
        with self._changed:
            return sum(self.exchanges.values())

    def _answer(self, path: str, auth: str) -> tuple[HubTokens | ExchangedToken | ErrorBody, int]:
        parts = urlsplit(path)
        if parts.path not in (self._path, self._exchange_path):
            return {"error": "not_found", "message": "not found"}, 404
        if auth != f"token {self.api_token}":
            return {"error": "forbidden", "message": "forbidden"}, 403
        query = parse_qs(parts.query)
        if parts.path == self._exchange_path:
            return self._exchange(query.get("audience", [""])[0], query.get("scope", [""])[0])
        if "wait" in query:
            return self._watch(float(query["wait"][0]), query.get("have", [""])[0])
        with self._changed:
            self.fetches += 1
        if self.delay:
            time.sleep(self.delay)
        return self._state(fresh=True)

    def _exchange(self, audience: str, scope: str) -> tuple[ExchangedToken | ErrorBody, int]:
        key = (audience, scope_key(scope))
        with self._changed:
            self.exchanges[key] = self.exchanges.get(key, 0) + 1
        if self.delay:
            time.sleep(self.delay)
        with self._changed:
            body, status = self._state(fresh=False)
        if status != 200:
            return body, status  # type: ignore[return-value]
        if audience in self.refused_audiences:
            message = f"the groups of {self.user} may not ask for {audience!r}"
            return {"error": ErrorCode.AUDIENCE_REFUSED, "message": message}, 403
        scopes = key[1].split() or list(self.exchange_scopes.get(audience, []))
        now = int(time.time())
        access = self.factory.mint(
            "access",
            iat=now,
            exp=now + self.exchange_lifetime,
            username=self.user,
            aud=audience,
            act={"sub": self.actor, "client_id": self.actor},
            scope=" ".join(scopes),
        )
        self.issued.append(access)
        return {
            "username": self.user,
            "audience": audience,
            "scope": scopes,
            "access_token": access,
            "access_token_expires_at": now + self.exchange_lifetime,
            "actor": self.actor,
        }, 200

    def _watch(self, wait: float, have: str) -> tuple[HubTokens | ErrorBody, int]:
        deadline = time.monotonic() + min(wait, 30.0)
        with self._changed:
            self.watches += 1
            if self.supersede_watches > 0:
                self.supersede_watches -= 1
                message = "A newer session watch of this user ended this one."
                return {"error": ERROR_WATCH_SUPERSEDED, "message": message}, 409
            while True:
                body, status = self._state(fresh=False)
                left = deadline - time.monotonic()
                if left <= 0 or self._fingerprint(body, status) != have:
                    return body, status
                self._changed.wait(left)

    @staticmethod
    def _fingerprint(body: HubTokens | ErrorBody, status: int) -> str:
        if status == 200:
            return fingerprint(body["access_token"])  # type: ignore[typeddict-item]
        return NO_TOKENS if status == 401 else ""

    def _state(self, *, fresh: bool) -> tuple[HubTokens | ErrorBody, int]:
        if self._status == 401:
            return {
                "error": ERROR_LOGIN_REQUIRED,
                "message": "Your JupyterHub session has ended.",
                "login_url": "https://hub.example.org/hub/login",
            }, 401
        if self._status != 200:
            return {
                "error": ERROR_IDP_UNAVAILABLE,
                "message": "Cognito cannot be reached.",
            }, self._status
        if fresh or self._current is None:
            self._current = self._mint()
        return self._current, 200

    def _mint(self) -> HubTokens:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iat": now,
            "exp": now + self.lifetime,
            "username": self.user,
            "cognito__groups": list(self.groups),
        }
        access = self.factory.mint("access", **claims)
        id_token = self.factory.mint(
            "id", **{**claims, "cognito__username": self.user, **self.id_claims}
        )
        self.issued.append(access)
        return {
            "username": self.user,
            "cognito_username": self.user,
            "refreshed_at": now,
            "groups": list(self.groups),
            "scope": ["openid", "ai-access/datasets.read"],
            "access_token": access,
            "access_token_expires_at": now + self.lifetime,
            "id_token": id_token,
            "id_token_expires_at": now + self.lifetime,
        }

    def stop(self) -> None:
        """Stop serving."""
        with self._changed:
            self._changed.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()
