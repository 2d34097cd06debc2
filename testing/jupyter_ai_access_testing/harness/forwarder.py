"""A counting forwarder for Cognito's token endpoint, on loopback.

Point a Hub's ``CognitoOAuthenticator.token_url`` at :attr:`CountingForwarder.url`: every POST
goes on to the emulator's token endpoint, counted by ``grant_type`` (tests and benchmarks count
the exchanges that reach Cognito). Token-exchange grants can be slowed (``delay``: concurrent
callers overlap) or answered 503 (``down``: Cognito unreachable). Nothing is logged: the bodies
hold tokens and the headers client secrets.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx

__all__ = ["EXCHANGE_GRANT", "CountingForwarder"]

#: RFC 8693's grant type (as jupyter_ai_access.cognito.exchange.GRANT_TYPE).
EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"


class CountingForwarder:
    """Forwards POSTs to ``target``; counts grants; can slow or fail token exchanges."""

    def __init__(self, target: str, *, delay: float = 0.0) -> None:
        self.target = target
        self.grants: Counter[str] = Counter()
        self.down = False
        self.delay = delay
        self.lock = threading.Lock()
        forwarder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                grant = parse_qs(body.decode()).get("grant_type", [""])[0]
                with forwarder.lock:
                    forwarder.grants[grant] += 1
                if grant == EXCHANGE_GRANT:
                    if forwarder.delay:
                        time.sleep(forwarder.delay)
                    if forwarder.down:
                        self._answer(503, b'{"message": "down"}')
                        return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = httpx.post(forwarder.target, content=body, headers=headers, timeout=15)
                self._answer(answer.status_code, answer.content)

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/oauth2/token"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def exchanges(self) -> int:
        """Token-exchange grants received so far."""
        return self.grants[EXCHANGE_GRANT]

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
