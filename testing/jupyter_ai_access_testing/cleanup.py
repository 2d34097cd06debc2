"""pytest hooks: whatever the tests start, they stop, however the suite is run.

Loaded with :mod:`jupyter_ai_access_testing.pytest_plugin`. Children get SIGINT at its default
even when the run inherited it ignored (a script's background job); SIGTERM unwinds the session
as Ctrl-C does, so every fixture's teardown stops what it started; after the last teardown (and
at exit, should the session end without it) :func:`.processes.sweep` stops whatever still runs
under pytest and removes the run's system accounts, and the run's output names what it found.
"""

from __future__ import annotations

import atexit
import signal

import pytest

from .processes import default_sigint, sweep


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """Children get SIGINT at its default; SIGTERM unwinds the session like Ctrl-C does."""
    default_sigint()
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)  # fixtures' teardown then stops their processes
    atexit.register(sweep)  # should the session end without its finish hook


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """After every fixture's teardown: stop what still runs, remove this run's accounts."""
    left = sweep()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if left and reporter is not None:
        reporter.write_line(
            f"\njupyter_ai_access_testing: still running at the end, stopped: {'; '.join(left)}"
        )
