"""Every private name of jupyter_server this package touches, in one place.

The extension uses jupyter_server's documented ``ExtensionApp`` API; these two things have no
public equivalent. ``tests/test_server_compat.py`` checks each against the installed version, so
an upgrade that renames or changes one fails loudly there rather than quietly at start-up; the
version bounds of the ``server`` extra in ``pyproject.toml`` are the versions those tests ran
against (:data:`SUPPORTED`): the newest by the main suite (constraints.txt), the oldest by
``scripts/compat`` (tests/test_compat_range.py). Both names are the same on every version of the
range: no per-version branch is needed.

- ``ExtensionApp._link_jupyter_server_extension(serverapp)``: where an extension's config is
  exchanged with the server's, before the extensions that link after it read theirs. The
  extension sets the terminal manager there (jupyter_server reads only the on/off switch from
  ``jupyter_server_config.d/*.json``): :class:`LinkingExtensionApp` turns it into the public
  :meth:`~LinkingExtensionApp.before_link` hook;
- ``ServerApp._signal_stop(sig, frame)``: the handler that stops the server cleanly on SIGTERM
  (JupyterHub's singleuser uses it for SIGINT too): :func:`stop_on_signal`.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

from jupyter_server.extension.application import ExtensionApp

if TYPE_CHECKING:
    from jupyter_server.serverapp import ServerApp

__all__ = ["LINK_HOOK", "SUPPORTED", "LinkingExtensionApp", "stop_on_signal"]

#: The versions of jupyter_server these names were checked against (the ``server`` extra's bound:
#: 2.14.0 in scripts/compat, 2.21.1 in the main suite).
SUPPORTED = ">=2.14.0,<2.22"
#: The private method of ``ExtensionApp`` that links an extension to the server.
LINK_HOOK = "_link_jupyter_server_extension"


class LinkingExtensionApp(ExtensionApp):
    """An ``ExtensionApp`` with a hook run as it links, before the extensions after it link."""

    def before_link(self, serverapp: ServerApp) -> None:
        """Override: runs before this extension's config is exchanged with the server's."""

    def _link_jupyter_server_extension(self, serverapp: ServerApp) -> None:
        self.before_link(serverapp)
        super()._link_jupyter_server_extension(serverapp)


def stop_on_signal(serverapp: ServerApp, signum: int = signal.SIGINT) -> None:
    """Make ``signum`` stop ``serverapp`` cleanly, as SIGTERM does."""
    signal.signal(signum, serverapp._signal_stop)
