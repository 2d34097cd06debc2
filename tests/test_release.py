"""Release hygiene: ``python -m build`` makes the sdist and, from it, the wheel, offline.

The build runs as a release manager runs it (``python -m build --no-isolation``: the installed
hatchling and hatch-jupyter-builder, nothing downloaded) with no Node.js on ``PATH``: the sdist
carries the prebuilt JupyterLab extension (``build/labextension``, an sdist artifact) and the
wheel built from that sdist takes it as it is. Then ``twine check`` on both, and one version
everywhere (``labextension/package.json`` is the source). The release documents exist.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAB = "share/jupyter/labextensions/jupyter-ai-access"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert (ROOT / "build/labextension/package.json").is_file(), (
        "the prebuilt JupyterLab extension is missing: run scripts/bootstrap"
    )
    out = tmp_path_factory.mktemp("dist")
    # PATH without Node.js or npm: only this interpreter's folder (python, twine).
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "PIP_NO_INDEX": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=env,
        cwd=out,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    # both made in one command: the sdist first, then the wheel from the unpacked sdist
    assert "Building wheel from sdist" in result.stdout + result.stderr
    return out


def version() -> str:
    return json.loads((ROOT / "labextension/package.json").read_text(encoding="utf-8"))["version"]


def test_the_sdist_carries_the_prebuilt_extension_and_the_sources(dist):
    (sdist,) = dist.glob("*.tar.gz")
    prefix = f"jupyter_ai_access-{version()}/"
    with tarfile.open(sdist) as archive:
        names = {n.removeprefix(prefix) for n in archive.getnames()}
    assert "build/labextension/package.json" in names
    assert "build/labextension/static/style.js" in names
    for name in ("pyproject.toml", "README.md", "LICENSE", "CHANGELOG.md", "SECURITY.md",
                 "labextension/package.json", "labextension/src/index.ts", "docs/conf.py"):
        assert name in names, name
    assert not [n for n in names if "node_modules" in n or n.startswith((".venv", ".state"))]


def test_the_wheel_from_the_sdist_carries_the_lab_extension(dist):
    (wheel,) = dist.glob("*.whl")
    data = f"jupyter_ai_access-{version()}.data/data/"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        built = json.loads(archive.read(f"{data}{LAB}/package.json"))
        metadata = archive.read(f"jupyter_ai_access-{version()}.dist-info/METADATA").decode()
        version_py = archive.read("jupyter_ai_access/_version.py").decode()
    assert f"{data}{LAB}/install.json" in names
    assert any(re.fullmatch(rf"{data}{LAB}/static/remoteEntry\.\w+\.js", n) for n in names)
    assert f"{data}etc/jupyter/jupyter_server_config.d/jupyter_ai_access.json" in names
    # one version: labextension/package.json → the wheel, its _version.py, the built extension
    assert re.search(rf"^Version: {re.escape(version())}$", metadata, re.M)
    assert f'__version__ = "{version()}"' in version_py
    assert built["version"] == version()
    assert not [n for n in names if n.startswith(("tests/", "testing/", "jupyter_ai_access_testing"))]


def test_twine_check_passes(dist):
    files = sorted(str(p) for p in dist.iterdir() if p.suffix in {".whl", ".gz"})
    assert len(files) == 2
    result = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2


def test_the_release_documents_exist():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "keepachangelog.com" in changelog and "## [Unreleased]" in changelog
    versions = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", changelog, re.M)
    assert versions and versions[0] == version(), "CHANGELOG.md names the current version"
    security = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    for words in ("Reporting", "Scope", "Threat model"):
        assert f"## {words}" in security, words
    contributing = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for words in ("./run-tests -m quick", "./run-tests", "run-mutants", "local_cognito/"):
        assert words in contributing, words
