"""What the leak check searches: every log record, process output, HTTP answer and file written.

:class:`LeakWatcher` collects, between two calls of :meth:`LeakWatcher.take`:

- **log records of every logger in this process**, at whatever level the logger lets through, with
  their exception text. It hooks :func:`logging.setLogRecordFactory`, so loggers that do not
  propagate to the root (traitlets applications: ``ServerApp``, the extension's ``AIAccessApp``,
  which the token broker and store log through) and loggers with handlers of their own are seen
  as well as everything that reaches the root;
- **log files of child processes** (:meth:`watch_file`: the Hub and everything it spawns, the
  emulator), from the offset already searched;
- **folders that processes write** (:meth:`watch_tree`: the Hub's database, a user's home), every
  file that changed since the last search, whole;
- **text handed in by test helpers** (:meth:`see`, or the module-level :func:`observe` that finds
  the running watcher): HTTP answers seen by the test clients, kernel outputs.

What the test process and its children (kernels of in-process servers) print to stdout/stderr is
searched by the pytest plugin in pytest's captured output. Module-level :func:`observe`,
:func:`watch_file` and :func:`watch_tree` do nothing when no watcher runs (helpers outside tests).
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

__all__ = ["LeakWatcher", "observe", "watch_file", "watch_tree"]

LOG_RECORDS = "log records"


def _record_text(record: logging.LogRecord) -> str:
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: search what was passed
        message = f"{record.msg!s} {record.args!r}"
    parts = [f"{record.name} {record.levelname} {message}"]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append("".join(traceback.format_exception(*record.exc_info)))
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


class _Tree:
    def __init__(self, folder: Path, exclude: Iterable[str]) -> None:
        self.folder = folder
        self.exclude = frozenset(exclude)
        self.seen: dict[Path, tuple[int, int]] = {}  # path -> (size, mtime_ns) already searched

    def changed(self) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if not self.folder.is_dir():
            return found
        for path in sorted(self.folder.rglob("*")):
            if path.name in self.exclude or not path.is_file() or path.is_symlink():
                continue
            try:
                info = path.stat()
                stamp = (info.st_size, info.st_mtime_ns)
                if self.seen.get(path) == stamp:
                    continue
                data = path.read_bytes()
            except OSError:  # removed meanwhile (journals, token files of ended kernels)
                continue
            self.seen[path] = stamp
            found.append((str(path), data.decode("latin-1")))
        return found


class LeakWatcher:
    """Collects the text the leak check searches for canaries; see the module docstring."""

    #: The watcher of the running test session (module-level helpers report to it).
    active: ClassVar[LeakWatcher | None] = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._texts: list[tuple[str, str]] = []
        self.files: dict[Path, int] = {}  # watched log files -> offset already searched
        self.trees: dict[Path, _Tree] = {}
        self._previous_factory: Callable[..., logging.LogRecord] | None = None
        self._previous_active: LeakWatcher | None = None

    # ---------------------------------------------------------------- installing
    def install(self) -> LeakWatcher:
        """Start seeing every log record of this process; become the active watcher."""
        previous = logging.getLogRecordFactory()
        self._previous_factory = previous

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            self.see(LOG_RECORDS, _record_text(record))
            return record

        logging.setLogRecordFactory(factory)
        self._previous_active, LeakWatcher.active = LeakWatcher.active, self
        return self

    def uninstall(self) -> None:
        """Stop watching log records; the previous watcher (if any) is active again."""
        if self._previous_factory is not None:
            logging.setLogRecordFactory(self._previous_factory)
            self._previous_factory = None
        if LeakWatcher.active is self:
            LeakWatcher.active = self._previous_active

    # ---------------------------------------------------------------- sources
    def see(self, where: str, text: str | bytes) -> None:
        """Search ``text`` at the next check; ``where`` names it in the report."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if text:
            with self._lock:
                self._texts.append((where, text))

    def watch_file(self, path: Path) -> None:
        """Also search a log file written by a child process (from its current end)."""
        with self._lock:
            self.files.setdefault(path, path.stat().st_size if path.exists() else 0)

    def watch_tree(self, folder: Path, *, exclude: Iterable[str] = ()) -> None:
        """Also search every file under ``folder`` that changed (names in ``exclude`` skipped).

        Files already there are searched at the next check too: whoever wrote them ran in this
        session.
        """
        with self._lock:
            self.trees.setdefault(folder, _Tree(folder, exclude))

    # ---------------------------------------------------------------- checking
    def take(self) -> list[tuple[str, str]]:
        """Everything new since the last call, as (where, text) pairs."""
        with self._lock:
            texts, self._texts = self._texts, []
            files = list(self.files.items())
            trees = list(self.trees.values())
        merged: dict[str, list[str]] = {}
        for where, text in texts:
            merged.setdefault(where, []).append(text)
        found = [(where, "\n".join(parts)) for where, parts in merged.items()]
        for path, offset in files:
            if path.exists():
                with path.open("rb") as f:
                    f.seek(offset)
                    data = f.read()
                with self._lock:
                    self.files[path] = offset + len(data)
                found.append((str(path), data.decode("utf-8", "replace")))
        for tree in trees:
            found.extend(tree.changed())
        return found


def observe(where: str, text: str | bytes) -> None:
    """Hand ``text`` to the running leak check (nothing happens outside a test session)."""
    watcher = LeakWatcher.active
    if watcher is not None:
        watcher.see(where, text)


def watch_file(path: Path) -> None:
    """:meth:`LeakWatcher.watch_file` on the running watcher, if any."""
    watcher = LeakWatcher.active
    if watcher is not None:
        watcher.watch_file(path)


def watch_tree(folder: Path, *, exclude: Iterable[str] = ()) -> None:
    """:meth:`LeakWatcher.watch_tree` on the running watcher, if any."""
    watcher = LeakWatcher.active
    if watcher is not None:
        watcher.watch_tree(folder, exclude=exclude)
