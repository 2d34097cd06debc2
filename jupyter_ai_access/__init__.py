"""jupyter_ai_access: per-person, short-lived Amazon Cognito tokens for JupyterHub and kernels.

One subpackage per process the code runs in, in the order a request flows:

- ``hub/``: the JupyterHub process (authenticator, login handlers, the Hub's token endpoint);
- ``server/``: the user's Jupyter server (extension, broker, provisioner, kernel endpoint);
- ``client``: the kernel, or any Python job (``get_token()``, auth objects);
- ``resource/``: a protected resource (the verifier and its adapters);
- ``local_cognito/``: the local Cognito emulator, the embedded default identity provider.

Shared by all: ``protocol`` (the wire contract), ``errors`` (the one exception tree), ``net``,
``retry``, ``files``. Each part imports only what its process has.
"""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["__version__"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Tell jupyter_server where the extension app lives (imported lazily)."""
    from .server.app import AIAccessApp

    return [{"module": "jupyter_ai_access.server.app", "app": AIAccessApp}]
