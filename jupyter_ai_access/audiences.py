"""The deployment's URL map: which audience a request's URL gets (``KernelTokenStore.audiences``).

The server hands kernels ``$JUPYTER_AI_ACCESS_AUDIENCES`` (JSON, URL prefix -> audience or
``{"audience": ..., "scopes": [...]}``); :func:`audience_for` picks the longest prefix of the same
origin (scheme, host, port) whose path starts the request's path. Standard library only.
"""

from __future__ import annotations

import json
import os
from urllib.parse import urlsplit

from .errors import TokensUnavailableError
from .protocol import KernelEnv, scope_key

__all__ = ["audience_for", "origin"]

_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: object) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL: the unit a bearer token is bound to."""
    parts = urlsplit(str(url))
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def audience_for(url: object) -> tuple[str, str] | None:
    """(audience, scope_key) of the longest prefix of the same origin in the deployment's map."""
    raw = os.environ.get(KernelEnv.AUDIENCES, "")
    if not raw:
        return None
    try:
        mapping = json.loads(raw)
    except ValueError:
        raise TokensUnavailableError(f"{KernelEnv.AUDIENCES} is not a JSON object") from None
    target = str(url)
    here, path = origin(target), urlsplit(target).path or "/"
    best: tuple[int, str, str] | None = None
    for prefix, value in mapping.items() if isinstance(mapping, dict) else ():
        prefix_path = urlsplit(prefix).path or "/"
        if origin(prefix) != here or not path.startswith(prefix_path):
            continue
        if isinstance(value, dict):
            audience, scopes = str(value.get("audience", "")), scope_key(value.get("scopes"))
        else:
            audience, scopes = str(value), ""
        if audience and (best is None or len(prefix_path) > best[0]):
            best = (len(prefix_path), audience, scopes)
    return None if best is None else (best[1], best[2])
