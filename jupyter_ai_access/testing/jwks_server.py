"""A real HTTP server on 127.0.0.1 that plays an issuer: discovery document and JWKS.

Runs in its own thread (so blocking and event-loop clients both work against it), counts the
requests per path, and can be told to fail, answer slowly, or serve any body.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["IssuerServer"]


class IssuerServer:
    """An issuer at ``http://127.0.0.1:<port>/<pool_id>`` serving discovery and JWKS."""

    def __init__(self, pool_id: str = "us-east-1_TestPool1") -> None:
        self.pool_id = pool_id
        self.jwks: dict[str, Any] = {"keys": []}
        self.status = 200
        self.raw_body: bytes | None = None
        self.delay = 0.0
        self.discovery_overrides: dict[str, Any] = {}
        self.factory: Any = None  # the TokenFactory whose keys are served (set by the fixture)
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.hits[self.path] += 1
                if server.delay:
                    time.sleep(server.delay)
                body, status = server._answer(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.issuer = f"http://127.0.0.1:{self.port}/{pool_id}"
        self.jwks_path = f"/{pool_id}/.well-known/jwks.json"
        self.jwks_uri = f"http://127.0.0.1:{self.port}{self.jwks_path}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _answer(self, path: str) -> tuple[bytes, int]:
        if self.status != 200:
            return b'{"message": "unavailable"}', self.status
        if path == self.jwks_path:
            return self.raw_body if self.raw_body is not None else json.dumps(
                self.jwks
            ).encode(), 200
        if path == f"/{self.pool_id}/.well-known/openid-configuration":
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

    @property
    def jwks_fetches(self) -> int:
        """How many times the JWKS was requested."""
        return self.hits[self.jwks_path]

    def reset(self) -> None:
        """Back to serving normally, counters at zero."""
        self.status, self.raw_body, self.delay = 200, None, 0.0
        self.discovery_overrides = {}
        self.hits.clear()

    def start(self) -> IssuerServer:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.httpd.shutdown()
        self.httpd.server_close()
