"""What kernel code imports: the logged-in user's fresh tokens, and auth for HTTP clients.

    from jupyter_ai_access.client import get_token, RequestsAuth, HttpxAuth

    token = get_token()                       # valid for at least 60 s
    requests.get(url, auth=RequestsAuth())    # Authorization: Bearer ..., one retry on 401
    httpx.get(url, auth=HttpxAuth())
    get_token(audience="model-registry", scopes=["model-registry/read"])  # per-resource token
    requests.get(url, auth=RequestsAuth(audience="model-registry"))

Per-resource tokens (bound to one audience, RFC 8693 token exchange done by the Hub) come from
the server's loopback endpoint and are cached in this process per (audience, scopes). Without
an ``audience``, the auth helpers look the request's URL up in the deployment's map
(``KernelTokenStore.audiences``, in ``$JUPYTER_AI_ACCESS_AUDIENCES``; the longest matching
prefix of the same origin wins) and send the broad token only when no prefix matches (and none
when the deployment switched the broad token off).

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
from collections.abc import Generator, Iterable
from typing import Any
from urllib.parse import urlencode, urlsplit

from .audiences import audience_for as _audience_for
from .audiences import origin as _origin
from .cognito.oauth2 import token_expiry
from .errors import (
    AudienceRefusedError,
    AudienceRequiredError,
    ExchangeRefusedError,
    MachineTokenError,
    SessionEndedError,
    TokensUnavailableError,
)
from .machine import machine_tokens
from .net import is_loopback
from .protocol import ERROR_LOGIN_REQUIRED, ErrorCode, KernelEnv, scope_key

__all__ = [
    "AudienceRefusedError",
    "AudienceRequiredError",
    "ExchangeRefusedError",
    "HttpxAuth",
    "RequestsAuth",
    "get_id_token",
    "get_token",
    "token_expiry",
]

DEFAULT_MIN_VALID = 60.0
_cache: dict[str, tuple[int, int, str, float]] = {}  # path -> (mtime_ns, size, token, exp)
# (audience, scope_key) -> (token, exp, the session it belongs to: see _session)
_exchanged: dict[tuple[str, str], tuple[str, float, str | None]] = {}
_broad_off: list[bool] = []  # [True] once the endpoint answered audience_required
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


def _from_endpoint(
    kind: str, min_valid: float, force: bool, audience: str = "", scopes: str = ""
) -> tuple[str, float]:
    url = _env(KernelEnv.URL)
    parts = urlsplit(url)
    if parts.scheme != "http" or not is_loopback(parts.hostname):
        raise TokensUnavailableError(
            f"{KernelEnv.URL} must be the server's loopback endpoint (http://127.0.0.1:...)"
        )
    with open(_env(KernelEnv.SECRET_FILE), encoding="utf-8") as f:
        secret = f.read().strip()
    fields: dict[str, object] = {"kind": kind, "min_valid": int(min_valid), "force": int(force)}
    if audience:
        fields.update(audience=audience, scope=scopes)
    query = urlencode(fields)
    request = urllib.request.Request(  # noqa: S310 - checked above: loopback http only
        f"{url}?{query}",
        headers={"Authorization": f"Bearer {secret}"},
    )
    try:
        with _opener.open(request, timeout=30) as response:
            answer = json.loads(response.read())
            return str(answer["token"]), float(answer.get("expires_at", 0))
    except urllib.error.HTTPError as e:
        try:
            body = json.loads(e.read() or b"{}")
        except ValueError:
            body = {}
        message = str(body.get("message") or f"HTTP {e.code}")
        if e.code == 401 and body.get("error") == ERROR_LOGIN_REQUIRED:
            login = body.get("login_url") or os.environ.get(KernelEnv.LOGIN_URL, "")
            raise SessionEndedError(message.split(" Log in again")[0], login) from None
        error = body.get("error")
        if error == ErrorCode.AUDIENCE_REQUIRED:
            _broad_off[:] = [True]
            raise AudienceRequiredError(message) from None
        if error == ErrorCode.AUDIENCE_REFUSED:
            raise AudienceRefusedError(message) from None
        if error == ErrorCode.EXCHANGE_REFUSED:
            raise ExchangeRefusedError(str(body.get("code") or error), message) from None
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
        return _from_endpoint(kind, min_valid, force)[0]


def _get_exchanged(audience: str, scopes: str, min_valid: float, force: bool) -> str:
    if not os.environ.get(KernelEnv.URL):
        machine = machine_tokens()
        if machine is not None:  # a job: its machine token exchanged (no actor)
            return machine[0].get(
                machine[1], min_valid, force=force, audience=audience, scopes=tuple(scopes.split())
            )
    key = (audience, scopes)
    with _lock:
        session = _session()
        held = _exchanged.get(key)
        fresh = held is not None and held[1] - time.time() >= min_valid
        if held is not None and fresh and not force and session is not None and held[2] == session:
            return held[0]
        token, expires = _from_endpoint("access", min_valid, force, audience, scopes)
        _exchanged[key] = (token, expires or token_expiry(token), session)
        return token


def _session() -> str | None:
    """The server's current session (``<dir>/session``); None once it ended (withdrawn)."""
    try:
        with open(os.path.join(_env(KernelEnv.DIR), "session"), encoding="utf-8") as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def get_token(
    min_valid: float = DEFAULT_MIN_VALID,
    *,
    force: bool = False,
    audience: str | None = None,
    scopes: Iterable[str] | str | None = None,
) -> str:
    """The user's Cognito access token, valid for at least ``min_valid`` seconds when possible.

    With ``audience`` (a resource server identifier, e.g. ``"model-registry"``) and optionally
    ``scopes``: a token bound to that resource only (its ``aud``), narrowed to those scopes
    (none given: every scope the user's groups may have there), with the notebook platform
    named as actor (``act``); cached in this process per (audience, scopes).

    Raises SessionEndedError (log in again; the message has the URL), TokensUnavailableError
    (the Hub or Cognito is unreachable and the held token has expired), AudienceRefusedError
    (the user may not have that audience or those scopes), AudienceRequiredError (this
    deployment hands out per-resource tokens only: pass ``audience``), ExchangeRefusedError.
    """
    if audience:
        return _get_exchanged(audience, scope_key(scopes), min_valid, force)
    if scopes:
        raise ValueError("get_token(scopes=...) goes with an audience")
    return _get("access", min_valid, force)


def get_id_token(min_valid: float = DEFAULT_MIN_VALID, *, force: bool = False) -> str:
    """The user's Cognito ID token (same rules as :func:`get_token`)."""
    return _get("id", min_valid, force)


def _token_for(
    url: object, min_valid: float, force: bool, audience: str | None, scopes: object
) -> str | None:
    """The token an auth helper sends to ``url`` (None: send none)."""
    if audience:
        return get_token(min_valid, force=force, audience=audience, scopes=scopes)  # type: ignore[arg-type]
    mapped = _audience_for(url)
    if mapped is not None:
        return _get_exchanged(mapped[0], mapped[1], min_valid, force)
    if _broad_off:
        return None  # per-resource tokens only, and no prefix of the map matches
    try:
        return get_token(min_valid, force=force)
    except AudienceRequiredError:
        return None


def _authorize(headers: Any, token: str | None) -> None:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    else:
        headers.pop("Authorization", None)


def HttpxAuth(
    min_valid: float = DEFAULT_MIN_VALID,
    audience: str | None = None,
    scopes: Iterable[str] | None = None,
) -> Any:
    """An ``httpx`` auth object: fresh bearer token per request, one retry on 401.

    With ``audience`` (and ``scopes``) the per-resource token of that audience; without, the
    token the deployment's URL map (``$JUPYTER_AI_ACCESS_AUDIENCES``) names for the request's
    URL, else the broad token (none when the broad token is switched off).
    The token goes only to the origin (scheme, host, port) first asked: httpx drops it on a
    redirect to another origin, and a 401 from another origin is not retried.
    """
    import httpx

    wanted = list(scopes or ())

    class _HttpxAuth(httpx.Auth):
        def auth_flow(self, request: Any) -> Generator[Any, Any, None]:
            token = _token_for(request.url, min_valid, False, audience, wanted)
            _authorize(request.headers, token)
            response = yield request
            if (
                token is not None
                and response.status_code == 401
                and _origin(response.request.url) == _origin(request.url)
            ):
                token = _token_for(request.url, min_valid, True, audience, wanted)
                _authorize(request.headers, token)
                yield request

    return _HttpxAuth()


def RequestsAuth(
    min_valid: float = DEFAULT_MIN_VALID,
    audience: str | None = None,
    scopes: Iterable[str] | None = None,
) -> Any:
    """A ``requests`` auth object: fresh bearer token per request, one retry on 401.

    The token is chosen as :func:`HttpxAuth` does (``audience``, else the URL map, else the
    broad token or none).
    The token goes only to the origin (scheme, host, port) first asked: requests drops it on a
    redirect to another origin, and a 401 from another origin (the response hook travels with
    the redirected request) is not retried.
    """
    import requests

    wanted = list(scopes or ())

    class _RequestsAuth(requests.auth.AuthBase):
        def __call__(self, request: Any) -> Any:
            token = _token_for(request.url, min_valid, False, audience, wanted)
            _authorize(request.headers, token)
            if token is None:
                return request
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
            _authorize(retry.headers, _token_for(retry.url, min_valid, True, audience, wanted))
            new = response.connection.send(retry, **kwargs)
            new.history.append(response)
            new.request = retry
            return new

    return _RequestsAuth()
