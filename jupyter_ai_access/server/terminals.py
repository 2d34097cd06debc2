"""Tokens in JupyterLab terminals, as in kernels.

``AIAccessTerminalManager`` (made the terminal manager by the extension's configuration) gives
each new terminal its own token folder, endpoint URL and secret — the same environment a kernel
gets — and puts the server's Python environment first on ``PATH``, so ``python`` in a terminal
is the one that has ``jupyter_ai_access`` and ``jupyter-ai-access token`` prints the current
access token for shell tools (``curl -H "Authorization: Bearer $(jupyter-ai-access token)"``).
The folder goes when the terminal is closed, or with the server.
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import Any, cast

from jupyter_server_terminals.terminalmanager import TerminalManager

from .provisioner import AIAccessProvisioner

__all__ = ["AIAccessTerminalManager"]


def _slot(name: str) -> str:
    return f"terminal-{name}"


class AIAccessTerminalManager(TerminalManager):
    """A TerminalManager whose terminals get the user's tokens like kernels do."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        command = list(self.shell_command)
        if len(command) == 2 and command[1] == "-l":
            # A login shell (what jupyter_server_terminals runs under JupyterHub) reads
            # /etc/profile, which resets PATH: put the server's environment first after that.
            shell = shlex.quote(command[0])
            bin_dir = shlex.quote(os.path.dirname(sys.executable))
            wrapped = [
                command[0],
                "-l",
                "-c",
                f'PATH={bin_dir}:"$PATH"; export PATH; exec {shell} -i',
            ]
            self.shell_command = cast(Any, wrapped)  # terminado's annotation says str; it is a list

    def new_named_terminal(self, **kwargs: Any) -> Any:
        """Create the terminal with its token folder and the server's environment on PATH."""
        name = str(kwargs.pop("name", None) or self._next_available_name())
        extra = dict(kwargs.pop("extra_env", None) or {})
        bin_dir = os.path.dirname(sys.executable)
        extra["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
        delivery = AIAccessProvisioner.delivery
        if delivery is not None:
            tokens = delivery.broker.tokens
            extra.update(delivery.store.add_kernel(_slot(name), tokens))
            if delivery.broker.enabled:
                delivery.broker.start()
        return super().new_named_terminal(name=name, extra_env=extra, **kwargs)

    async def terminate(self, name: str, force: bool = False) -> None:
        """Close the terminal; its token folder and secret go with it."""
        await super().terminate(name, force=force)
        delivery = AIAccessProvisioner.delivery
        if delivery is not None:
            delivery.store.remove_kernel(_slot(name))
