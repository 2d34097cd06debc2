"""The benchmark figures shown are the benchmarks' own output, not a hand copy.

``benchmarks/bench_verify.py --write`` stores its figures in ``benchmarks/results/verify.json``;
``scripts/figures`` renders the README's one-paragraph block from it (these tests run that
command as a maintainer does, on the committed files and on altered copies), and the
documentation site renders the full figures from the same file at every build (the
``jaia-figures`` directive; tests/test_docs.py checks the built page), so no page holds a copy.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "scripts" / "figures"
RESULTS = ROOT / "benchmarks" / "results" / "verify.json"


def check(readme: Path, results: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            str(FIGURES),
            "--check",
            "--readme",
            str(readme),
            "--results",
            str(results),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def verify_block(readme: str) -> str:
    start = readme.index("<!-- figures:verify begin")
    return readme[start : readme.index("<!-- figures:verify end -->", start)]


def test_the_readme_shows_the_committed_verification_figures():
    result = check(ROOT / "README.md", RESULTS.parent)
    assert result.returncode == 0, result.stderr
    results = json.loads(RESULTS.read_text(encoding="utf-8"))
    first = next(row for row in results["rows"] if row["name"] == "ours, first-seen token")
    assert f"**{first['ratio']:.2f}\N{MULTIPLICATION SIGN}**" in verify_block(
        (ROOT / "README.md").read_text()
    )


def test_the_results_file_is_the_benchmarks_output():
    results = json.loads(RESULTS.read_text(encoding="utf-8"))
    assert results["benchmark"] == "benchmarks/bench_verify.py"
    names = {row["name"] for row in results["rows"]}
    assert {
        "PyJWT decode (baseline)",
        "RSA signature check alone",
        "ours, first-seen token",
    } <= names
    for row in results["rows"]:
        assert len(row["runs"]) == results["runs"] >= 3
        assert min(row["runs"]) <= row["ratio"] <= max(row["runs"])


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda text: text.replace("**0.", "**0.0", 1), id="a ratio edited by hand"),
        pytest.param(lambda text: text.replace(" µs)", "0 µs)", 1), id="a time edited by hand"),
        pytest.param(
            lambda text: text.replace("<!-- figures:verify end -->", ""), id="marker removed"
        ),
    ],
)
def test_a_readme_that_disagrees_with_the_results_fails(tmp_path, change):
    readme = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = verify_block(text) + "<!-- figures:verify end -->"
    altered = text.replace(block, change(block))
    assert altered != text
    readme.write_text(altered, encoding="utf-8")
    result = check(readme, RESULTS.parent)
    assert result.returncode == 1
    assert "figures" in result.stderr


def test_new_results_without_the_readme_rewritten_fail(tmp_path):
    results = json.loads(RESULTS.read_text(encoding="utf-8"))
    for row in results["rows"]:
        row["ratio"] *= 1.5
    (tmp_path / "verify.json").write_text(json.dumps(results), encoding="utf-8")
    assert check(ROOT / "README.md", tmp_path).returncode == 1
    shutil.copy(ROOT / "README.md", tmp_path / "README.md")
    rewrite = subprocess.run(
        [
            sys.executable,
            str(FIGURES),
            "--readme",
            str(tmp_path / "README.md"),
            "--results",
            tmp_path,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "rewrote" in rewrite.stdout
    assert check(tmp_path / "README.md", tmp_path).returncode == 0


def figures_module():
    loader = SourceFileLoader("figures", str(FIGURES))
    module = ModuleType(loader.name)
    module.__file__ = str(FIGURES)
    loader.exec_module(module)
    return module


def test_no_page_holds_a_copy_of_the_figures():
    """The pages show the verify figures only through the directive that reads the results."""
    pages = {p: p.read_text(encoding="utf-8") for p in (ROOT / "docs").rglob("*.md")}
    pages[ROOT / "README.md"] = (ROOT / "README.md").read_text(encoding="utf-8")
    copies = [str(p) for p, text in pages.items() if "| verifier | time per token |" in text]
    assert copies == []
    uses = [p.name for p, text in pages.items() if "{jaia-figures} verify" in text]
    assert uses == ["performance.md"]


def test_the_page_block_follows_the_results():
    figures = figures_module()
    results = json.loads(RESULTS.read_text(encoding="utf-8"))
    first = next(row for row in results["rows"] if row["name"] == "ours, first-seen token")
    assert f"**{first['ratio']:.2f}\N{MULTIPLICATION SIGN}**" in figures.render_verify(results)
    first["ratio"] = 0.123
    assert "**0.12\N{MULTIPLICATION SIGN}**" in figures.PAGE_BLOCKS["verify"](results)
