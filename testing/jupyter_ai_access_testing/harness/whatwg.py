"""Resolve URLs the way a browser does: the WHATWG URL parser, through Node's global ``URL``.

Python's ``urljoin`` follows RFC 3986, where ``/\\evil.example`` is a path; a browser's parser
turns the backslash into a slash, strips tabs and newlines, and lands on ``evil.example``. Tests
that judge where a ``Location`` leads must use the browser's rules, so this module keeps one Node
process per test process (``new URL(input, base)``, one JSON line in and out) and asks it.

    resolve("/\\\\evil.example", "http://127.0.0.1:8000/hub/")["origin"]  # 'http://evil.example'
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shutil
import subprocess
import threading
from typing import Any

__all__ = ["WhatwgURLs", "resolve"]

_SCRIPT = r"""
const rl = require("readline").createInterface({ input: process.stdin });
rl.on("line", (line) => {
  let out;
  try {
    const [input, base] = JSON.parse(line);
    const u = base === null ? new URL(input) : new URL(input, base);
    out = { href: u.href, origin: u.origin, protocol: u.protocol, hostname: u.hostname,
            port: u.port, pathname: u.pathname };
  } catch (e) {
    out = { error: String((e && e.code) || e) };
  }
  process.stdout.write(JSON.stringify(out) + "\n");
});
"""


class WhatwgURLs:
    """A Node process that resolves URLs with the WHATWG URL parser (thread-safe, bounded)."""

    def __init__(self, node: str | None = None, timeout: float = 10.0) -> None:
        self.node = node or os.environ.get("JUPYTER_AI_ACCESS_NODE") or shutil.which("node") or ""
        self.timeout = timeout
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            if not self.node:
                raise FileNotFoundError("Node.js not found: set JUPYTER_AI_ACCESS_NODE")
            self._proc = subprocess.Popen(
                [self.node, "-e", _SCRIPT],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        return self._proc

    def resolve(self, url: str, base: str | None = None) -> dict[str, Any]:
        """``new URL(url, base)``: href, origin, protocol, hostname, port, pathname.

        Raises ValueError when the parser refuses the URL (as a browser would not navigate).
        """
        with self._lock:
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps([url, base]) + "\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], self.timeout)
            line = proc.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"Node's URL parser did not answer within {self.timeout} s")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise ValueError(f"not a URL to a browser: {answer['error']}")
        return answer

    def close(self) -> None:
        """Stop the Node process."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


_shared = WhatwgURLs()
atexit.register(_shared.close)


def close_shared() -> None:
    """Stop the shared Node process (the next :func:`resolve` starts it again)."""
    _shared.close()


def resolve(url: str, base: str | None = None) -> dict[str, Any]:
    """Resolve ``url`` against ``base`` with the WHATWG URL parser (one shared Node process)."""
    return _shared.resolve(url, base)
