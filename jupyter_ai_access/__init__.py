"""jupyter_ai_access: per-person, short-lived Amazon Cognito tokens for JupyterHub and kernels.

Parts (each importable on its own, so a resource server does not pull in Jupyter):

- ``jupyter_ai_access.errors``: the exception tree.
- ``jupyter_ai_access.devidp``: the local Cognito emulator and the pool description.
- ``jupyter_ai_access.app``: the Jupyter server extension (auto-enabled by jupyter-config/).
"""

from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["__version__"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """Tell jupyter_server where the extension app lives (imported lazily)."""
    from .app import AIAccessApp

    return [{"module": "jupyter_ai_access.app", "app": AIAccessApp}]
