"""The server's end of the streamed session watch (the Hub's end: ``hub/watch_streams.py``).

:func:`open_watch` sends one ``GET`` (HTTP/1.1, the server's API token) and returns either a
plain answer (``status``, JSON ``body``: a Hub without streams, or a refusal given at once) or a
:class:`WatchStream` whose :meth:`WatchStream.answers` yields each ``(status, body)`` line the
Hub writes, skipping keep-alives. Silence longer than three keep-alive intervals (plus the HTTP
timeout) ends the stream as a lost Hub: a Hub replaced without closing its connections is
noticed in minutes, not after the TCP timeout. The connection is plain asyncio, so that it can
be closed at once (tornado's client cannot drop one request's connection).
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

__all__ = ["HubGone", "WatchStream", "open_watch"]

STREAM_TYPE = "application/x-ndjson"
MAX_LINE = 1 << 20  # an answer line holds two JWTs and a few fields


class HubGone(Exception):
    """The connection to the Hub failed, closed or went silent."""


class WatchStream:
    """An open stream of answer lines from the Hub."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        headers: dict[str, str],
        timeout: float,
    ) -> None:
        self.reader, self.writer, self.headers = reader, writer, headers
        self.keepalive = _number(headers.get("x-ai-access-keepalive"), 60.0)
        #: seconds over which to spread the reconnection after losing this stream
        self.spread = _number(headers.get("x-ai-access-reconnect-spread"), 1.0)
        self.silence = 3 * self.keepalive + timeout
        self.chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self._buffer = b""

    async def answers(self) -> AsyncIterator[tuple[int, dict[str, Any]]]:
        """Each answer line as ``(status, body)``; raises :class:`HubGone` on a lost stream."""
        while True:
            line = await self._line()
            if not line.strip():
                continue  # a keep-alive
            try:
                item = json.loads(line)
                status, body = int(item["status"]), item.get("body") or {}
            except (ValueError, KeyError, TypeError):
                raise HubGone("unreadable line in the watch stream") from None
            yield status, body if isinstance(body, dict) else {}

    async def _line(self) -> bytes:
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_LINE:
                raise HubGone("watch stream line too long")
            self._buffer += await self._read()
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    async def _read(self) -> bytes:
        try:
            if not self.chunked:
                data = await asyncio.wait_for(self.reader.read(65536), self.silence)
            else:
                size_line = await asyncio.wait_for(self.reader.readline(), self.silence)
                size = int(size_line.split(b";", 1)[0].strip() or b"x", 16)
                data = await asyncio.wait_for(self.reader.readexactly(size + 2), self.silence)
                data = data[:-2]
                if size == 0:
                    data = b""
        except (asyncio.TimeoutError, OSError, ValueError, asyncio.IncompleteReadError) as e:
            raise HubGone(f"watch stream lost ({type(e).__name__})") from None
        if not data:
            raise HubGone("watch stream closed by the Hub")
        return data

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self.writer.close()


async def open_watch(
    url: str, token: str, *, timeout: float, wait: float, ssl_options: Any = None
) -> tuple[int, dict[str, Any]] | WatchStream:
    """GET ``url``: a plain ``(status, body)`` answer, or the :class:`WatchStream` (200 ndjson).

    A Hub without streams holds the request as a long-poll: its answer may take ``wait`` s.
    """
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    context = None
    if secure:
        context = ssl_options if isinstance(ssl_options, ssl.SSLContext) else None
        context = context or ssl.create_default_context()
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(parts.hostname, port, ssl=context, limit=MAX_LINE), timeout
        )
    except (OSError, asyncio.TimeoutError) as e:
        raise HubGone(f"cannot connect ({type(e).__name__})") from None
    try:
        writer.write(
            (
                f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                f"Authorization: token {token}\r\nAccept: {STREAM_TYPE}, application/json\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout + wait)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        stream = WatchStream(reader, writer, headers, timeout)
        if status == 200 and headers.get("content-type", "").startswith(STREAM_TYPE):
            return stream
        body = await _whole_body(stream, headers, timeout)
    except (OSError, asyncio.TimeoutError, ValueError, IndexError, asyncio.IncompleteReadError):
        writer.close()
        raise HubGone("the Hub's answer could not be read") from None
    except BaseException:
        writer.close()
        raise
    writer.close()
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        parsed = {}
    return status, parsed if isinstance(parsed, dict) else {}


async def _whole_body(stream: WatchStream, headers: dict[str, str], timeout: float) -> bytes:
    if stream.chunked:
        out = b""
        while True:
            try:
                out += await stream._read()
            except HubGone:
                return out
    length = headers.get("content-length")
    if length is not None:
        return await asyncio.wait_for(stream.reader.readexactly(int(length)), timeout)
    return await asyncio.wait_for(stream.reader.read(MAX_LINE), timeout)


def _number(value: str | None, default: float) -> float:
    try:
        number = float(value) if value is not None else default
    except ValueError:
        return default
    return number if 0 < number < 86400 else default
