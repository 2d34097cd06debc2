"""A loopback stand-in for the Hub's token endpoint (``hub_api.py``), for server-side tests.

Serves ``GET /hub/api/ai-access/users/<user>/tokens`` like the real Hub: tokens minted by a
:class:`TokenFactory` with a chosen lifetime, or 401 ``login_required`` / 503 / any status when
told. Counts requests. Runs in its own thread.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from jupyter_ai_access.protocol import (
    ERROR_IDP_UNAVAILABLE,
    ERROR_LOGIN_REQUIRED,
    ErrorBody,
    HubTokens,
    hub_tokens_url,
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
        self.status = 200
        self.delay = 0.0
        self.fetches = 0
        self.issued: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body, status = server._answer(self.path, self.headers.get("Authorization", ""))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hub/api"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _answer(self, path: str, auth: str) -> tuple[HubTokens | ErrorBody, int]:
        with self._lock:
            self.fetches += 1
        if self.delay:
            time.sleep(self.delay)
        if path != "/" + hub_tokens_url(self.url, self.user).split("/", 3)[3]:
            return {"error": "not_found", "message": "not found"}, 404
        if auth != f"token {self.api_token}":
            return {"error": "forbidden", "message": "forbidden"}, 403
        if self.status == 401:
            return {
                "error": ERROR_LOGIN_REQUIRED,
                "message": "Your JupyterHub session has ended.",
                "login_url": "/hub/login",
            }, 401
        if self.status != 200:
            return {
                "error": ERROR_IDP_UNAVAILABLE,
                "message": "Cognito cannot be reached.",
            }, self.status
        now = int(time.time())
        claims: dict[str, Any] = {
            "iat": now,
            "exp": now + self.lifetime,
            "username": self.user,
            "cognito__groups": ["ml-training"],
        }
        access = self.factory.mint("access", **claims)
        id_token = self.factory.mint("id", **{**claims, "cognito__username": self.user})
        with self._lock:
            self.issued.append(access)
        return {
            "username": self.user,
            "cognito_username": self.user,
            "refreshed_at": now,
            "groups": ["ml-training"],
            "scope": ["openid", "ai-access/datasets.read"],
            "access_token": access,
            "access_token_expires_at": now + self.lifetime,
            "id_token": id_token,
            "id_token_expires_at": now + self.lifetime,
        }, 200

    def stop(self) -> None:
        """Stop serving."""
        self.httpd.shutdown()
        self.httpd.server_close()
