"""What kernel code imports: the logged-in user's fresh tokens, and auth for HTTP clients.

    from jupyter_ai_access.client import get_token, RequestsAuth, HttpxAuth

    token = get_token()                       # valid for at least 60 s
    requests.get(url, auth=RequestsAuth())    # Authorization: Bearer ..., one retry on 401
    httpx.get(url, auth=HttpxAuth())

Reads the token file the server keeps fresh (no network on the fast path); when the file's token
would expire too soon, asks the server's loopback endpoint with this kernel's secret. When the
JupyterHub session is over it raises :class:`~jupyter_ai_access.errors.SessionEndedError`, whose
message says where to log in again. Imports only the standard library (requests/httpx lazily).
"""

from __future__ import annotations

import base64
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Generator
from typing import Any
from urllib.parse import urlencode, urlsplit

from .errors import SessionEndedError, TokensUnavailableError
from .net import is_loopback
from .protocol import ERROR_LOGIN_REQUIRED, KernelEnv

__all__ = ["HttpxAuth", "RequestsAuth", "get_id_token", "get_token", "token_expiry"]

DEFAULT_MIN_VALID = 60.0
_cache: dict[str, tuple[int, int, str, float]] = {}  # path -> (mtime_ns, size, token, exp)
_lock = threading.Lock()
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def token_expiry(token: str) -> float:
    """The ``exp`` of a JWT, read without verification (the server verified its source)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return 0.0


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise TokensUnavailableError(
            f"{name} is not set: this kernel was not started by a Jupyter server with "
            "jupyter_ai_access (under JupyterHub with the Cognito authenticator)."
        )
    return value


def _from_file(path: str) -> tuple[str, float] | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    cached = _cache.get(path)
    if cached and cached[0] == info.st_mtime_ns and cached[1] == info.st_size:
        return cached[2], cached[3]
    with open(path, encoding="utf-8") as f:
        token = f.read().strip()
    expires = token_expiry(token)
    _cache[path] = (info.st_mtime_ns, info.st_size, token, expires)
    return token, expires


def _from_endpoint(kind: str, min_valid: float, force: bool) -> str:
    url = _env(KernelEnv.URL)
    parts = urlsplit(url)
    if parts.scheme != "http" or not is_loopback(parts.hostname):
        raise TokensUnavailableError(
            f"{KernelEnv.URL} must be the server's loopback endpoint (http://127.0.0.1:...)"
        )
    with open(_env(KernelEnv.SECRET_FILE), encoding="utf-8") as f:
        secret = f.read().strip()
    query = urlencode({"kind": kind, "min_valid": int(min_valid), "force": int(force)})
    request = urllib.request.Request(  # noqa: S310 - checked above: loopback http only
        f"{url}?{query}",
        headers={"Authorization": f"Bearer {secret}"},
    )
    try:
        with _opener.open(request, timeout=30) as response:
            return str(json.loads(response.read())["token"])
    except urllib.error.HTTPError as e:
        try:
            body = json.loads(e.read() or b"{}")
        except ValueError:
            body = {}
        message = str(body.get("message") or f"HTTP {e.code}")
        if e.code == 401 and body.get("error") == ERROR_LOGIN_REQUIRED:
            login = body.get("login_url") or os.environ.get(KernelEnv.LOGIN_URL, "")
            raise SessionEndedError(message.split(" Log in again")[0], login) from None
        raise TokensUnavailableError(message) from None
    except OSError as e:
        raise TokensUnavailableError(
            "The Jupyter server's token endpoint cannot be reached: is the server still "
            f"running? ({type(e).__name__})"
        ) from None


def _get(kind: str, min_valid: float, force: bool) -> str:
    path_var = KernelEnv.TOKEN_FILE if kind == "access" else KernelEnv.ID_TOKEN_FILE
    if not force:
        found = _from_file(_env(path_var))
        if found is not None and found[1] - time.time() >= min_valid:
            return found[0]
    with _lock:
        return _from_endpoint(kind, min_valid, force)


def get_token(min_valid: float = DEFAULT_MIN_VALID, *, force: bool = False) -> str:
    """The user's Cognito access token, valid for at least ``min_valid`` seconds when possible.

    Raises SessionEndedError (log in again; the message has the URL) or TokensUnavailableError
    (the Hub or Cognito is unreachable and the held token has expired).
    """
    return _get("access", min_valid, force)


def get_id_token(min_valid: float = DEFAULT_MIN_VALID, *, force: bool = False) -> str:
    """The user's Cognito ID token (same rules as :func:`get_token`)."""
    return _get("id", min_valid, force)


def HttpxAuth(min_valid: float = DEFAULT_MIN_VALID) -> Any:
    """An ``httpx`` auth object: fresh bearer token per request, one retry on 401."""
    import httpx

    class _HttpxAuth(httpx.Auth):
        def auth_flow(self, request: Any) -> Generator[Any, Any, None]:
            request.headers["Authorization"] = f"Bearer {get_token(min_valid)}"
            response = yield request
            if response.status_code == 401:
                request.headers["Authorization"] = f"Bearer {get_token(min_valid, force=True)}"
                yield request

    return _HttpxAuth()


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def RequestsAuth(min_valid: float = DEFAULT_MIN_VALID) -> Any:
    """A ``requests`` auth object: fresh bearer token per request, one retry on 401.

    The retry goes only to the origin the token was first sent to: after a redirect to another
    host (where requests drops the header), a 401 there is returned as it is.
    """
    import requests

    class _RequestsAuth(requests.auth.AuthBase):
        def __call__(self, request: Any) -> Any:
            request.headers["Authorization"] = f"Bearer {get_token(min_valid)}"
            # Redirected requests copy the hooks: the hook keeps the first request's origin.
            origin = _origin(request.url)
            request.register_hook(
                "response", lambda response, **kw: self._retry_on_401(response, origin, **kw)
            )
            return request

        def _retry_on_401(self, response: Any, origin: tuple[Any, ...], **kwargs: Any) -> Any:
            if response.status_code != 401 or getattr(response.request, "_jaia_retried", False):
                return response
            if _origin(response.request.url) != origin:
                return response  # never send the token to a host other than the one asked
            response.content  # noqa: B018 - release the connection
            retry = response.request.copy()
            retry._jaia_retried = True
            retry.headers["Authorization"] = f"Bearer {get_token(min_valid, force=True)}"
            new = response.connection.send(retry, **kwargs)
            new.history.append(response)
            new.request = retry
            return new

    return _RequestsAuth()
