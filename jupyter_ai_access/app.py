"""The jupyter_ai_access server extension.

Auto-enabled by ``jupyter-config/jupyter_server_config.d/jupyter_ai_access.json``. At this stage it
answers ``GET /ai-access/api/info`` (who serves this extension, which version, whether it runs
under JupyterHub); the token broker and kernel provisioner plug in here.
"""

from __future__ import annotations

import os

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.application import ExtensionApp
from tornado import web
from traitlets import Unicode, default

from ._version import __version__

__all__ = ["AIAccessApp", "InfoHandler"]

AUTH_RESOURCE = "ai_access"


class InfoHandler(APIHandler):
    """``GET /ai-access/api/info``: version and hub detection; never a token."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    def get(self) -> None:
        """Return what the extension knows about its surroundings."""
        app: AIAccessApp = self.settings["jupyter_ai_access"]
        self.finish(
            {
                "version": __version__,
                "under_jupyterhub": bool(app.hub_api_url),
                "hub_api_url": app.hub_api_url or None,
            }
        )


class AIAccessApp(ExtensionApp):
    """Server extension that delivers the logged-in user's Cognito tokens to kernels."""

    name = "jupyter_ai_access"
    load_other_extensions = True

    hub_api_url = Unicode(
        config=True,
        help="""URL of the JupyterHub API the tokens come from. Default: $JUPYTERHUB_API_URL (set
        by JupyterHub when it spawns the server); empty outside JupyterHub.""",
    )

    @default("hub_api_url")
    def _default_hub_api_url(self) -> str:
        return os.environ.get("JUPYTERHUB_API_URL", "")

    def initialize_settings(self) -> None:
        """Expose the app to its handlers."""
        self.settings["jupyter_ai_access"] = self

    def initialize_handlers(self) -> None:
        """Register the REST handlers under ``/ai-access``."""
        self.handlers.extend([(r"/ai-access/api/info", InfoHandler)])
