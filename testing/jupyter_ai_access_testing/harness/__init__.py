"""This repository's test harness: not part of the public plugin, no compatibility promise.

What ``tests/`` and ``benchmarks/`` of jupyter_ai_access share and a user of the package does not
need: real JupyterHub processes and a browser-like client (:mod:`.hub`), the README's deployment
on free ports (:mod:`.deployment`), a standalone ``jupyter lab`` (:mod:`.lab`), kernels driven
over the REST API (:mod:`.notebooks`), Kubernetes and z2jh without a cluster (:mod:`.kubernetes`,
:mod:`.z2jh`), the local AWS as a process (:mod:`.local_aws`), pool-description edits
(:mod:`.descriptions`), skips that fail under CI (:mod:`.ci`), the browser's URL rules
(:mod:`.whatwg`), and the fixtures the test modules share (:mod:`.plugin`, loaded by
``tests/conftest.py``).

The public plugin is the package above (:mod:`jupyter_ai_access_testing.pytest_plugin`).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ROOT"]

ROOT = Path(__file__).resolve().parents[3]
"""The repository's checkout (the harness runs from it: ``pip install -e ./testing``)."""
