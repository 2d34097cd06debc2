"""The one way this package talks HTTP to Cognito: no redirects, a bounded answer.

Standard library at import time (the kernel's machine tokens use :func:`post_sync`); tornado's
``AsyncHTTPClient`` is imported when :func:`post_async` or :func:`get_async` first runs.

- :data:`MAX_RESPONSE_BYTES` — the one cap on every answer read from Cognito (discovery, JWKS,
  token, revocation) and from the Hub's revocation feed: a larger body is refused before it is
  parsed (tornado stops reading past it; urllib reads at most one byte more);
- :class:`NoRedirect` — an endpoint that answers with a redirect is refused, never followed (a
  redirect would replay the client's credentials or the code to another host);
- :func:`post_async` / :func:`post_sync` — ``(status, body)`` of a form POST; transport failures
  raise :class:`OSError` (callers map them onto :class:`~jupyter_ai_access.errors.
  IdPUnavailableError` with their own words).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MAX_RESPONSE_BYTES",
    "NoRedirect",
    "ResponseTooLarge",
    "get_async",
    "get_sync",
    "post_async",
    "post_sync",
]

#: Bytes: the largest answer read from Cognito or the Hub's feed (Cognito's are a few kilobytes).
MAX_RESPONSE_BYTES = 256 * 1024


class ResponseTooLarge(ValueError):
    """An answer went past :data:`MAX_RESPONSE_BYTES` (or the caller's smaller cap)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is larger than {limit} bytes")


class NoRedirect(urllib.request.HTTPRedirectHandler):
    """urllib handler that turns every redirect into the 3xx answer itself (never followed)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


#: urllib opener without redirects and without environment proxies for loopback.
OPENER = urllib.request.build_opener(NoRedirect)


def _bounded(body: bytes, limit: int) -> bytes:
    if len(body) > limit:
        raise ResponseTooLarge(limit)
    return bytes(body)


def get_sync(url: str, timeout: float, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """GET ``url`` (JSON) with the standard library; raises on a non-2xx answer."""
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    with OPENER.open(request, timeout=timeout) as response:
        return _bounded(response.read(limit + 1), limit)


def post_sync(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    limit: int = MAX_RESPONSE_BYTES,
) -> tuple[int, bytes]:
    """POST with the standard library: ``(status, body)``, whatever the status."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310
    try:
        with OPENER.open(request, timeout=timeout) as response:
            return int(response.status), _bounded(response.read(limit + 1), limit)
    except urllib.error.HTTPError as e:
        return int(e.code), _bounded(e.read(limit + 1), limit)


def _client(limit: int) -> Any:
    from tornado.httpclient import AsyncHTTPClient

    # Not the shared, 10-slot client; max_body_size stops reading past the cap (a declared
    # Content-Length beyond it is refused before the body is read) instead of buffering it.
    return AsyncHTTPClient(force_instance=True, max_body_size=limit)


async def get_async(url: str, timeout: float, limit: int = MAX_RESPONSE_BYTES) -> bytes:
    """GET ``url`` (JSON) with tornado; raises on a non-2xx answer."""
    client = _client(limit)
    try:
        response = await client.fetch(
            url,
            request_timeout=timeout,
            connect_timeout=timeout,
            follow_redirects=False,
            headers={"Accept": "application/json"},
        )
    finally:
        client.close()
    return _bounded(response.body, limit)


async def post_async(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    limit: int = MAX_RESPONSE_BYTES,
    validate_cert: bool = True,
) -> tuple[int, bytes]:
    """POST with tornado: ``(status, body)``, whatever the status (599 for a transport error
    tornado reports as an answer). Unreachable hosts raise :class:`OSError`."""
    from tornado.httpclient import HTTPClientError, HTTPRequest
    from tornado.httputil import HTTPInputError

    declared = 0
    chunks: list[bytes] = []
    received = 0

    def on_header(line: str) -> None:
        nonlocal declared
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length" and value.strip().isdigit():
            declared = int(value.strip())

    def on_chunk(chunk: bytes) -> None:
        nonlocal received
        received += len(chunk)
        if received <= limit:
            chunks.append(chunk)  # past it, tornado's own cap stops reading a little later

    request = HTTPRequest(
        url,
        method="POST",
        headers=dict(headers),
        body=body,
        request_timeout=timeout,
        connect_timeout=timeout,
        validate_cert=validate_cert,
        follow_redirects=False,
        header_callback=on_header,
        streaming_callback=on_chunk,
    )
    # tornado refuses a declared Content-Length past its cap before reading, and stops reading
    # past it; its own cap sits above ours so that on_chunk names an undeclared oversized body
    client = _client(limit + 64 * 1024)
    try:
        response = await client.fetch(request, raise_error=False)
    except (HTTPInputError, HTTPClientError, OSError) as e:
        if declared > limit or received > limit:
            raise ResponseTooLarge(limit) from None  # tornado stopped reading past its cap
        if isinstance(e, OSError):
            raise
        raise OSError(f"{type(e).__name__}") from None
    finally:
        client.close()
    if declared > limit or received > limit:
        raise ResponseTooLarge(limit)
    return int(response.code), b"".join(chunks)
