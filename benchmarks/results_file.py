"""Where a benchmark's ``--write`` puts its figures: ``benchmarks/results/NAME.json``.

Every results file has the same frame (the figures themselves are the benchmark's own keys):
``benchmark`` (the script), ``measured`` (UTC date) and ``measured_at`` (UTC time), ``cpus``,
``load`` (the machine's 1-minute load average when the run started and when it ended: the
machines are shared, so the ratios, each against a baseline measured in the same run, are what
to compare), ``versions``, ``sizes`` (the arguments the run was given) and ``how`` (how it was
measured, one sentence the docs page shows). ``scripts/figures`` renders each file on the docs
pages (the ``jaia-figures`` directive) so no page holds a copy.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
PACKAGES = ("jupyterhub", "oauthenticator", "jupyter_server", "jupyter_client", "ipykernel")


class Run:
    """One benchmark run: started when made (the load then), written by :meth:`write`."""

    def __init__(self, name: str, sizes: dict[str, Any]) -> None:
        self.name = name
        self.sizes = sizes
        self.load_start = round(os.getloadavg()[0], 2)
        self.started = time.time()

    @property
    def path(self) -> Path:
        return RESULTS / f"{self.name}.json"

    def write(self, how: str, figures: dict[str, Any], script: str | None = None) -> Path:
        """Store ``figures`` with the frame above; returns the file written."""
        versions = {"python": platform.python_version()}
        for package in PACKAGES:
            with contextlib.suppress(PackageNotFoundError):
                versions[package] = version(package)
        results = {
            "benchmark": script or f"benchmarks/bench_{self.name}.py",
            "measured": time.strftime("%Y-%m-%d", time.gmtime()),
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "seconds": round(time.time() - self.started, 1),
            "cpus": os.cpu_count(),
            "load": {"start": self.load_start, "end": round(os.getloadavg()[0], 2)},
            "versions": versions,
            "sizes": self.sizes,
            "how": how,
            **figures,
        }
        RESULTS.mkdir(exist_ok=True)
        self.path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {self.path}")
        return self.path
