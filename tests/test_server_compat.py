"""Every private name of jupyter_server that ``server/_compat.py`` touches still works.

An upgrade that renames or changes one of them fails here, loudly and by name, rather than at a
server's start. The bound of ``jupyter-server`` in the ``server`` extra of ``pyproject.toml`` is
``_compat.SUPPORTED``, the versions these tests ran against; widen both only with this file green.
"""

from __future__ import annotations

import inspect
import signal
from pathlib import Path

import jupyter_server
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.extension.manager import ExtensionPoint
from jupyter_server.serverapp import ServerApp
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from jupyter_ai_access.server import _compat
from jupyter_ai_access.server.app import AIAccessApp

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (scripts/compat installs tomli)
    import tomli as tomllib


def test_the_installed_jupyter_server_is_in_the_bound_pyproject_declares():
    meta = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    bounds = {
        Requirement(r).name: Requirement(r).specifier
        for r in meta["project"]["optional-dependencies"]["server"]
    }
    assert bounds["jupyter-server"] == SpecifierSet(_compat.SUPPORTED)
    assert jupyter_server.__version__ in SpecifierSet(_compat.SUPPORTED)
    assert "<" in _compat.SUPPORTED, "an upper bound is required"


def test_the_extension_manager_still_links_apps_through_the_private_hook():
    hook = getattr(ExtensionApp, _compat.LINK_HOOK)  # AttributeError: renamed upstream
    assert list(inspect.signature(hook).parameters) == ["self", "serverapp"]
    assert f"self.app.{_compat.LINK_HOOK}" in inspect.getsource(ExtensionPoint._get_linker)
    # and it is where config reaches the extensions that link after this one
    source = inspect.getsource(hook)
    assert "self.serverapp.update_config(self.config)" in source


def test_before_link_runs_when_the_server_links_the_extension(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    calls: list[object] = []

    class Probe(_compat.LinkingExtensionApp):
        name = "probe"

        def before_link(self, serverapp: ServerApp) -> None:
            calls.append(serverapp)
            self.config.Probe.marker = "set before linking"

    serverapp = ServerApp()
    point = ExtensionPoint(metadata={"module": __name__, "app": Probe})
    point._get_linker()(serverapp)  # what ExtensionManager.link_extension does
    assert calls == [serverapp]
    assert serverapp.config.Probe.marker == "set before linking"  # passed upstream by linking
    assert AIAccessApp.before_link is not _compat.LinkingExtensionApp.before_link


def test_the_servers_signal_stop_still_stops_the_server():
    assert list(inspect.signature(ServerApp._signal_stop).parameters) == ["self", "sig", "frame"]
    assert "self._signal_stop" in inspect.getsource(ServerApp.init_signal)  # SIGTERM's handler
    stopped: list[int] = []
    fake = type("S", (), {"_signal_stop": lambda self, sig, frame: stopped.append(sig)})()
    previous = signal.getsignal(signal.SIGUSR1)
    try:
        _compat.stop_on_signal(fake, signal.SIGUSR1)
        signal.raise_signal(signal.SIGUSR1)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert stopped == [signal.SIGUSR1]
