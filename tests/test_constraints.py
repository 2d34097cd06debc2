"""The two README commands install what ``constraints.txt`` pins (reproducible installs).

``scripts/bootstrap`` installs with ``-c constraints.txt``; this checks the environment the suite
runs in against the file, both ways: every pinned package present is at its pinned version, and
every installed distribution (but this project's own) is pinned, so a new dependency cannot slip
in unpinned. ``scripts/drift`` reports newer versions; it is not part of the suite (it asks the
package registry).
"""

from __future__ import annotations

import re
from importlib import metadata

from jupyter_ai_access_testing.harness import ROOT

OWN = {"jupyter-ai-access", "jupyter-ai-access-testing"}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep, f"constraints.txt: {line!r} is not name==version"
            pins[norm(name)] = version
    return pins


def installed() -> dict[str, str]:
    return {norm(d.metadata["Name"]): d.version for d in metadata.distributions()}


def test_every_pinned_package_is_installed_at_its_pinned_version():
    have = installed()
    wrong = {
        name: (version, have[name])
        for name, version in pinned().items()
        if name in have and have[name] != version
    }
    assert not wrong, f"installed versions differ from constraints.txt (pinned, installed): {wrong}"


def test_every_installed_distribution_is_pinned():
    unpinned = sorted(set(installed()) - set(pinned()) - OWN - {"pip"})
    assert not unpinned, f"installed but not in constraints.txt: {unpinned} (scripts/drift --write)"


def test_the_test_and_demo_installs_use_the_constraints():
    bootstrap = (ROOT / "scripts/bootstrap").read_text()
    installs = [line for line in bootstrap.splitlines() if "pip install" in line and " -e " in line]
    assert len(installs) == 2, installs  # the test install and the demo install
    assert all('"${pinned[@]}"' in line for line in installs), installs
    assert "pinned=(-c constraints.txt --build-constraint constraints.txt)" in bootstrap
