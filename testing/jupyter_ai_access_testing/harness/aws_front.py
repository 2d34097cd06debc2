"""A front for the local AWS that does what moto does not: credentials expire.

:class:`AWSFront` listens on loopback and forwards every request, unchanged (Host kept, so
SigV4 signatures still match), to the local AWS emulator. On the way it:

- shortens STS sessions: ``DurationSeconds`` of ``AssumeRoleWithWebIdentity`` becomes
  :attr:`AWSFront.lifetime` (a role whose maximum session is that short; the server's own
  validation keeps it at 60 s or more, too long for a test to wait out twice);
- reads each issued key's ``Expiration`` from STS's answer, and refuses a request signed with
  a key past it, as AWS does (400 ``ExpiredToken``): moto accepts expired keys forever;
- records which access key id signed each request (:attr:`AWSFront.requests`), so a test can
  tell which credentials an engine used, and when.

Nothing secret is recorded: access key ids only (an id is not a secret; the secret key and the
session token are never read from the answers).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx

__all__ = ["AWSFront", "Signed"]

_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")
_ISSUED = re.compile(
    rb"<AccessKeyId>([A-Z0-9]+)</AccessKeyId>.*?<Expiration>([^<]+)</Expiration>", re.S
)
_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}


@dataclass(frozen=True)
class Signed:
    """One request through the front."""

    at: float  # time.time()
    key: str  # the access key id that signed it ("" unsigned)
    method: str
    path: str
    status: int


class AWSFront:
    """Forwards to ``target`` (the emulator's URL); shortens, expires and records credentials."""

    def __init__(self, target: str, *, lifetime: int = 20) -> None:
        self.target = target.rstrip("/")
        self.lifetime = lifetime
        self.expiry: dict[str, float] = {}  # access key id -> expiry (epoch seconds)
        self.issued: dict[str, float] = {}  # access key id -> when STS issued it
        self.requests: list[Signed] = []
        self.lock = threading.Lock()
        self._client = httpx.Client(timeout=30, trust_env=False)
        front = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                front._handle(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- what tests ask
    def keys_used(self, since: float = 0.0, path_part: str = "") -> list[str]:
        """Distinct access key ids that signed requests (after ``since``, path containing
        ``path_part``), in first-use order."""
        with self.lock:
            seen = [r.key for r in self.requests if r.at >= since and path_part in r.path]
        return list(dict.fromkeys(k for k in seen if k))

    def latest_expiry(self, since: float = 0.0) -> float:
        """When the last key STS issued through the front (after ``since``) expires (0: none)."""
        with self.lock:
            return max((e for k, e in self.expiry.items() if self.issued[k] >= since), default=0.0)

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)
        self._client.close()

    # ---------------------------------------------------------------- forwarding
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = _read_body(h)
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP}
        if "chunked" in h.headers.get("Transfer-Encoding", "").lower():
            headers["Content-Length"] = str(len(body))
        body = self._shorten(h, headers, body)
        key = _signing_key(h.path, h.headers.get("Authorization", ""))
        expires = self.expiry.get(key)
        if expires is not None and time.time() >= expires:
            self._record(key, h, 400)
            _answer(h, 400, _EXPIRED, {"Content-Type": "application/xml"})
            return
        answer = self._client.request(
            h.command, self.target + h.path, headers=headers, content=body
        )
        if b"<AssumeRoleWithWebIdentityResult" in answer.content[:400]:
            for issued, expiration in _ISSUED.findall(answer.content):
                stamp = datetime.fromisoformat(expiration.decode().replace("Z", "+00:00"))
                with self.lock:
                    self.expiry[issued.decode()] = stamp.timestamp()
                    self.issued[issued.decode()] = time.time()
        self._record(key, h, answer.status_code)
        out = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
        if h.command != "HEAD":  # a HEAD answer's length is the object's
            out.pop("content-length", None)
            out["Content-Length"] = str(len(answer.content))
        out.pop("content-encoding", None)  # httpx decoded the body
        _answer(h, answer.status_code, answer.content, out)

    def _shorten(self, h: BaseHTTPRequestHandler, headers: dict[str, str], body: bytes) -> bytes:
        """``DurationSeconds`` of an unsigned form ``AssumeRoleWithWebIdentity`` → lifetime."""
        if h.command != "POST" or b"AssumeRoleWithWebIdentity" not in body:
            return body
        form = parse_qs(body.decode(), keep_blank_values=True)
        form["DurationSeconds"] = [str(self.lifetime)]
        new = urlencode({k: v[0] for k, v in form.items()}).encode()
        for name in list(headers):
            if name.lower() == "content-length":
                headers[name] = str(len(new))
        return new

    def _record(self, key: str, h: BaseHTTPRequestHandler, status: int) -> None:
        with self.lock:
            self.requests.append(Signed(time.time(), key, h.command, h.path, status))


_EXPIRED = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>ExpiredToken</Code>'
    b"<Message>The provided token has expired.</Message></Error>"
)


def _signing_key(path: str, authorization: str) -> str:
    found = _CREDENTIAL.search(authorization)
    if found:
        return found.group(1)
    query = parse_qs(path.partition("?")[2])
    credential = query.get("X-Amz-Credential", [""])[0]
    return credential.split("/", 1)[0]


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in h.headers.get("Transfer-Encoding", "").lower():
        chunks: list[bytes] = []
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            chunks.append(h.rfile.read(size))
            h.rfile.readline()
    return h.rfile.read(int(h.headers.get("Content-Length") or 0))


def _answer(h: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
    h.send_response(status)
    if not any(name.lower() == "content-length" for name in headers):
        headers = {"Content-Length": str(len(body)), **headers}
    for name, value in headers.items():
        h.send_header(name, value)
    h.end_headers()
    if h.command != "HEAD":
        h.wfile.write(body)
