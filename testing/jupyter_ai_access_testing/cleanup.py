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

#: How many test sessions run in this process: pytester runs a session inside a test's (the
#: canary and harness tests), and that inner session's processes are all it may stop.
_sessions: list[pytest.Config] = []


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """Children get SIGINT at its default; SIGTERM unwinds the session like Ctrl-C does."""
    _sessions.append(config)
    if len(_sessions) > 1:
        return  # a session inside a test: the outer one set this up
    default_sigint()
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)  # fixtures' teardown then stops their processes
    atexit.register(sweep)  # should the session end without its finish hook


def pytest_unconfigure(config: pytest.Config) -> None:
    """The session is over (inner sessions end before the outer one)."""
    if config in _sessions:
        _sessions.remove(config)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """After every fixture's teardown: stop what still runs, remove this run's accounts.

    Only for the outermost session: a session that pytester runs inside a test shares this
    process, whose other children (the outer session's emulators and Hubs) are not its own."""
    if _sessions and _sessions[0] is not session.config:
        return
    left = sweep()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if left and reporter is not None:
        reporter.write_line(
            f"\njupyter_ai_access_testing: still running at the end, stopped: {'; '.join(left)}"
        )
