"""A real HTTP server on 127.0.0.1 that plays a Cognito issuer with crafted answers.

Serves discovery and JWKS, and the user-pool domain endpoints a relying party calls:
``/oauth2/authorize`` redirects straight back with a code (and the same ``state``),
``/oauth2/token`` answers whatever ``token_handler`` returns, ``/oauth2/revoke`` answers
``revoke_status`` and ``/logout`` redirects to ``logout_uri``. Runs in its own thread (so blocking
and event-loop clients both work against it), records every request, and can be told to fail,
answer slowly, serve any body, or stream a huge discovery/JWKS body (``huge_body`` bytes, with or
without ``Content-Length``) while counting how much of it the client took (``huge_sent``).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = ["IssuerServer"]

TokenHandler = Callable[[dict[str, str], dict[str, str]], tuple[int, dict[str, Any]]]


class IssuerServer:
    """An issuer at ``http://127.0.0.1:<port>/<pool_id>`` with its domain endpoints."""

    def __init__(self, pool_id: str = "us-east-1_TestPool1") -> None:
        self.pool_id = pool_id
        self.jwks: dict[str, Any] = {"keys": []}
        self.status = 200
        self.raw_body: bytes | None = None
        self.delay = 0.0
        self.discovery_overrides: dict[str, Any] = {}
        self.factory: Any = None  # the TokenFactory whose keys are served (set by the fixture)
        self.token_handler: TokenHandler | None = None
        self.authorizations: list[dict[str, str]] = []
        self.token_requests: list[tuple[dict[str, str], dict[str, str]]] = []
        self.revocations: list[dict[str, str]] = []
        self.revoke_status = 200
        self.hits: Counter[str] = Counter()
        self.huge_body = 0  # > 0: discovery and JWKS answer with a body of this many bytes
        self.huge_declared = True  # send Content-Length with it (else: delimited by closing)
        self.huge_sent = 0  # bytes of it the client accepted before it hung up
        self.huge_done = threading.Event()
        self._lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.issuer = f"http://127.0.0.1:{self.port}/{pool_id}"
        self.jwks_path = f"/{pool_id}/.well-known/jwks.json"
        self.jwks_uri = f"http://127.0.0.1:{self.port}{self.jwks_path}"
        self.discovery_path = f"/{pool_id}/.well-known/openid-configuration"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                server._count(parts.path)
                if parts.path in ("/oauth2/authorize", "/logout") and server.status == 200:
                    self._send(
                        302,
                        b"",
                        location=server._redirect(parts.path, dict(parse_qsl(parts.query))),
                    )
                    return
                if server.huge_body and parts.path in (server.jwks_path, server.discovery_path):
                    self._send_huge(server.huge_body, server.huge_declared)
                    return
                body, status = server._answer(parts.path)
                self._send(status, body)

            def _send_huge(self, size: int, declared: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                if declared:
                    self.send_header("Content-Length", str(size))
                self.end_headers()
                self.close_connection = True
                chunk = b" " * 65536
                sent = 0
                try:
                    while sent < size:
                        sent += self.wfile.write(chunk[: size - sent]) or 0
                except OSError:
                    pass  # the client hung up: what we are here to see
                finally:
                    server.huge_sent = sent
                    server.huge_done.set()

            def do_POST(self) -> None:
                path = urlsplit(self.path).path
                length = int(self.headers.get("Content-Length") or 0)
                form = dict(parse_qsl(self.rfile.read(length).decode()))
                server._count(path)
                if path == "/oauth2/token":
                    with server._lock:
                        server.token_requests.append((dict(self.headers), form))
                    status, answer = server._token(form)
                    self._send(status, json.dumps(answer).encode())
                elif path == "/oauth2/revoke":
                    with server._lock:
                        server.revocations.append(form)
                    self._send(server.revoke_status, b"")
                else:
                    self._send(404, b'{"error": "not_found"}')

            def _send(self, status: int, body: bytes, location: str | None = None) -> None:
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def _count(self, path: str) -> None:
        with self._lock:
            self.hits[path] += 1
        if self.delay:
            time.sleep(self.delay)

    def _answer(self, path: str) -> tuple[bytes, int]:
        if self.status != 200:
            return b'{"message": "unavailable"}', self.status
        if path == self.jwks_path:
            body = self.raw_body if self.raw_body is not None else json.dumps(self.jwks).encode()
            return body, 200
        if path == self.discovery_path:
            base = f"http://127.0.0.1:{self.port}"
            doc = {
                "issuer": self.issuer,
                "jwks_uri": self.jwks_uri,
                "authorization_endpoint": f"{base}/oauth2/authorize",
                "token_endpoint": f"{base}/oauth2/token",
                "userinfo_endpoint": f"{base}/oauth2/userInfo",
                "revocation_endpoint": f"{base}/oauth2/revoke",
                **self.discovery_overrides,
            }
            return json.dumps(doc).encode(), 200
        return b'{"message": "not found"}', 404

    def _redirect(self, path: str, query: dict[str, str]) -> str:
        if path == "/logout":
            return query.get("logout_uri", "/")
        with self._lock:
            self.authorizations.append(query)
        back = {"code": f"code-{secrets.token_urlsafe(8)}", "state": query.get("state", "")}
        return f"{query.get('redirect_uri', '/')}?{urlencode(back)}"

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if self.status != 200:
            return self.status, {"message": "unavailable"}
        if self.token_handler is None:
            return 400, {"error": "invalid_grant"}
        last = self.authorizations[-1] if self.authorizations else {}
        return self.token_handler(form, last)

    @property
    def jwks_fetches(self) -> int:
        """How many times the JWKS was requested."""
        return self.hits[self.jwks_path]

    def reset(self) -> None:
        """Back to serving normally, records and counters empty."""
        self.status, self.raw_body, self.delay = 200, None, 0.0
        self.discovery_overrides = {}
        self.token_handler = None
        self.revoke_status = 200
        self.huge_body, self.huge_declared, self.huge_sent = 0, True, 0
        self.huge_done.clear()
        with self._lock:
            self.authorizations.clear()
            self.token_requests.clear()
            self.revocations.clear()
            self.hits.clear()

    def start(self) -> IssuerServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()
