"""What kernel code imports: the logged-in user's fresh tokens, and auth for HTTP clients.

    from jupyter_ai_access.client import get_token, RequestsAuth, HttpxAuth

    token = get_token()                       # valid for at least 60 s
    requests.get(url, auth=RequestsAuth())    # Authorization: Bearer ..., one retry on 401
    httpx.get(url, auth=HttpxAuth())

Reads the token file the server keeps fresh (no network on the fast path); when the file's token
would expire too soon, asks the server's loopback endpoint with this kernel's secret. When the
JupyterHub session is over it raises :class:`~jupyter_ai_access.errors.SessionEndedError`, whose
message says where to log in again. Imports only the standard library (requests/httpx lazily).

Outside Jupyter (no token file in the environment), a job with a machine app client configured
(``COGNITO_DOMAIN``, ``COGNITO_CLIENT_ID``, ``COGNITO_CLIENT_SECRET_FILE``; :mod:`.machine`) gets a
``client_credentials`` access token instead, through the same functions.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Generator
from typing import Any
from urllib.parse import urlencode, urlsplit

from .cognito.oauth2 import token_expiry
from .errors import MachineTokenError, SessionEndedError, TokensUnavailableError
from .machine import machine_tokens
from .net import is_loopback
from .protocol import ERROR_LOGIN_REQUIRED, KernelEnv

__all__ = ["HttpxAuth", "RequestsAuth", "get_id_token", "get_token", "token_expiry"]

DEFAULT_MIN_VALID = 60.0
_cache: dict[str, tuple[int, int, str, float]] = {}  # path -> (mtime_ns, size, token, exp)
_lock = threading.Lock()
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy


def _env(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise TokensUnavailableError(
            f"{name} is not set: this kernel was not started by a Jupyter server with "
            "jupyter_ai_access. For a job outside Jupyter, configure a machine app client: "
            "COGNITO_DOMAIN, COGNITO_CLIENT_ID and COGNITO_CLIENT_SECRET_FILE."
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
    if not os.environ.get(path_var):
        machine = machine_tokens()
        if machine is not None:  # a job outside Jupyter, with a machine app client
            if kind != "access":
                raise MachineTokenError(
                    "A machine app client (COGNITO_CLIENT_ID) gets access tokens only: "
                    "client_credentials has no ID token."
                )
            return machine[0].get(machine[1], min_valid, force=force)
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


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: object) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL: the unit a bearer token is bound to."""
    parts = urlsplit(str(url))
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def HttpxAuth(min_valid: float = DEFAULT_MIN_VALID) -> Any:
    """An ``httpx`` auth object: fresh bearer token per request, one retry on 401.

    The token goes only to the origin (scheme, host, port) first asked: httpx drops it on a
    redirect to another origin, and a 401 from another origin is not retried.
    """
    import httpx

    class _HttpxAuth(httpx.Auth):
        def auth_flow(self, request: Any) -> Generator[Any, Any, None]:
            request.headers["Authorization"] = f"Bearer {get_token(min_valid)}"
            response = yield request
            if response.status_code == 401 and _origin(response.request.url) == _origin(
                request.url
            ):
                request.headers["Authorization"] = f"Bearer {get_token(min_valid, force=True)}"
                yield request

    return _HttpxAuth()


def RequestsAuth(min_valid: float = DEFAULT_MIN_VALID) -> Any:
    """A ``requests`` auth object: fresh bearer token per request, one retry on 401.

    The token goes only to the origin (scheme, host, port) first asked: requests drops it on a
    redirect to another origin, and a 401 from another origin (the response hook travels with
    the redirected request) is not retried.
    """
    import requests

    class _RequestsAuth(requests.auth.AuthBase):
        def __call__(self, request: Any) -> Any:
            request.headers["Authorization"] = f"Bearer {get_token(min_valid)}"
            origin = _origin(request.url)

            def retry_on_401(response: Any, **kwargs: Any) -> Any:
                return self._retry_on_401(origin, response, **kwargs)

            request.register_hook("response", retry_on_401)
            return request

        def _retry_on_401(
            self, origin: tuple[str, str, int | None], response: Any, **kwargs: Any
        ) -> Any:
            if response.status_code != 401 or getattr(response.request, "_jaia_retried", False):
                return response
            if _origin(response.request.url) != origin:
                return response  # redirected elsewhere: never hand that host a token
            response.content  # noqa: B018 - release the connection
            retry = response.request.copy()
            retry._jaia_retried = True
            retry.headers["Authorization"] = f"Bearer {get_token(min_valid, force=True)}"
            new = response.connection.send(retry, **kwargs)
            new.history.append(response)
            new.request = retry
            return new

    return _RequestsAuth()
