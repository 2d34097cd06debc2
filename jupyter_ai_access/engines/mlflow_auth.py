"""MLflow's client sends the person's bearer token, through MLflow's own plugin mechanism.

Registered as the ``mlflow.request_header_provider`` entry point ``jupyter-ai-access``: MLflow
instantiates :class:`BearerTokenHeaderProvider` and, for every request to the tracking server,
asks it for headers when it is "in context" (a kernel of a server with jupyter_ai_access, or a
job with a machine app client). The token is the one the kernel's auth helpers would send to the
tracking server's URL (``mlflow.get_tracking_uri()``): the per-resource token when the deployment
maps that URL to an audience (``KernelTokenStore.audiences``), else the broad token. Nothing is
pasted into ``MLFLOW_TRACKING_TOKEN``; a session that ended raises ``SessionEndedError`` naming
where to log in again. Duck-typed (no import of MLflow here): MLflow calls ``in_context()`` and
``request_headers()``.
"""

from __future__ import annotations

import importlib
import os

from ..client import _token_for
from ..protocol import CognitoEnv, KernelEnv

__all__ = ["BearerTokenHeaderProvider"]

#: seconds the token sent must stay valid (a request, plus a large artifact upload)
MIN_VALID = 120.0


def _tracking_uri() -> str:
    try:
        mlflow = importlib.import_module("mlflow")
        return str(mlflow.get_tracking_uri())
    except ImportError:  # pragma: no cover - MLflow loads this plugin itself
        return os.environ.get("MLFLOW_TRACKING_URI", "")


class BearerTokenHeaderProvider:
    """``Authorization: Bearer <the person's current token>`` on MLflow's HTTP requests."""

    def in_context(self) -> bool:
        """In a kernel with tokens, or a job with a machine client, to an http(s) server."""
        uri = _tracking_uri()
        if not uri.startswith(("http://", "https://")):
            return False
        return bool(os.environ.get(KernelEnv.URL) or os.environ.get(CognitoEnv.CLIENT_ID))

    def request_headers(self) -> dict[str, str]:
        """The header, with a token valid for at least :data:`MIN_VALID` seconds."""
        token = _token_for(_tracking_uri(), MIN_VALID, False, None, None)
        return {"Authorization": f"Bearer {token}"} if token else {}
