"""The benchmark figures shown are the benchmarks' own output, not a hand copy.

Each benchmark's ``--write`` stores its figures in ``benchmarks/results/NAME.json``
(``benchmarks/bench_verify.py``: ``verify.json``; the others through
``benchmarks/results_file.py``). ``scripts/figures`` renders the README's one-paragraph verify
block from it (these tests run that command as a maintainer does, on the committed files and on
altered copies), and the documentation site renders every block from the same files at every
build (the ``jaia-figures`` directive and the ``jaia-figure`` role; tests/test_docs.py checks a
built page). Here: every renderer renders its committed results file, every block or role a page
names exists, and no docs page holds a measured figure (a time, a ratio, a size) outside them.
"""

from __future__ import annotations

import json
import re
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


# -- every page's figures come from a results file ---------------------------------------------

DOCS = ROOT / "docs"
#: Pages whose figures other work owns; they are checked once they render from a results file.
OTHERS: set[str] = set()
#: ``<!-- figures:pending NAME -->`` regions allowed, by NAME: a section whose benchmark writes
#: no results file yet. None is left; a new pending region fails until it is named here.
PENDING: set[str] = set()
#: A measured figure: a time (ms, µs, a decimal number of seconds), a ratio or a size (MB).
TIMES = "\N{MULTIPLICATION SIGN}"
FIGURE = re.compile(
    r"(?<![\w.])(\d[\d,]*(?:\.\d+)?\s?(?:ms|µs|MB)(?!\w)"
    rf"|\d[\d,]*(?:\.\d+)?\s?{TIMES}"
    r"|\d+\.\d+\s?s(?!\w))"
)
FENCE = re.compile(r"^(```+|~~~+).*?^\1[ \t]*$", re.S | re.M)
PENDING_REGION = re.compile(r"<!-- figures:pending (\S+) -->.*?<!-- figures:pending end -->", re.S)
BLOCK = re.compile(r"^```\{jaia-figures\}\s+(\S+)\s*$", re.M)
ROLE = re.compile(r"\{jaia-figure\}`([^`.]+)\.([^`]+)`")


def figures_outside_blocks(text: str) -> list[str]:
    """The figures of a Markdown page that are not rendered from a results file.

    Code (fenced blocks, which include the ``{jaia-figures}`` directives, and inline code) and
    the pending regions named in PENDING are left out; what remains must hold no figure.
    """
    text = FENCE.sub("", text)
    pending = PENDING_REGION.findall(text)
    assert set(pending) <= PENDING, f"pending figures regions not allowed: {set(pending) - PENDING}"
    text = PENDING_REGION.sub("", text)
    text = re.sub(r"`[^`\n]+`", "", text)
    return [
        f"line {text.count(chr(10), 0, m.start()) + 1}: {m.group(0)!r}"
        for m in FIGURE.finditer(text)
    ]


def docs_pages() -> dict[str, str]:
    return {
        p.relative_to(DOCS).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(DOCS.rglob("*.md"))
        if "_build" not in p.parts
    }


def test_no_docs_page_holds_a_figure_outside_a_figures_block():
    found = {
        page: figures
        for page, text in docs_pages().items()
        if page not in OTHERS and (figures := figures_outside_blocks(text))
    }
    assert found == {}, (
        "figures copied by hand into docs pages: let the benchmark write them "
        "(benchmarks/results/NAME.json) and show them with a {jaia-figures} block or the "
        f"{{jaia-figure}} role (scripts/figures): {found}"
    )


#: A template's placeholder left in a page (``{F('memory')}``, ``{results[...]}``): the page
#: shows it verbatim.
PLACEHOLDER = re.compile(r"\{[A-Za-z_][\w.]*(?:\(|\[)[^{}\n]*\}")


def test_no_docs_page_shows_an_unrendered_placeholder():
    found = {
        page: PLACEHOLDER.findall(re.sub(r"`[^`\n]+`", "", FENCE.sub("", text)))
        for page, text in docs_pages().items()
    }
    found = {page: hits for page, hits in found.items() if hits}
    assert found == {}, f"write these with the {{jaia-figure}} role: {found}"
    assert PLACEHOLDER.findall("the memory ({F('memory')}; 10,000 descriptors)")
    assert not PLACEHOLDER.findall("a mapping {group: {audience: [scopes]}} and {jaia-figure}")


def test_the_check_finds_each_kind_of_hand_copy():
    """Each renderer's output, pasted into a page, is caught; prose and settings are not."""
    figures = figures_module()
    for name, render in figures.PAGE_BLOCKS.items():
        results = json.loads((RESULTS.parent / f"{name}.json").read_text(encoding="utf-8"))
        assert figures_outside_blocks(render(results)), f"a pasted {name} block goes unnoticed"
    for copy in [
        f"| kernel start | 555 ms vs 567 ms: **0.98{TIMES}** |",
        "refused in median 31 ms, worst 51 ms",
        "verifies again in about 2 µs.",
        "the item first shows fresh 1.87 s after navigation starts",
        "| Hub peak memory (RSS) | 144 MB |",
    ]:
        assert figures_outside_blocks(copy), copy
    for prose in [
        "`recheck_interval` (300 s), backs off 2 s doubling to 60 s; a 5-15 minute lifetime",
        "```{jaia-figures} login\n```\n",
        "| 900 s | 11.1 | 9 % |",
    ]:
        assert figures_outside_blocks(prose) == [], prose
    with pytest.raises(AssertionError, match="not allowed"):
        figures_outside_blocks("<!-- figures:pending mine -->1 ms<!-- figures:pending end -->")


def test_every_results_file_renders_and_every_block_has_one():
    """Each renderer renders its committed results file; each block and role a page names exists."""
    figures = figures_module()
    for name, render in figures.PAGE_BLOCKS.items():
        path = RESULTS.parent / f"{name}.json"
        assert path.is_file(), f"{name}: no {path}: run its benchmark with --write"
        results = json.loads(path.read_text(encoding="utf-8"))
        assert results["benchmark"].startswith("benchmarks/bench_"), name
        text = render(results)
        assert results["measured"] in text and results["benchmark"] in text, name
        if name != "verify":  # the older frame (bench_verify.py writes no load yet)
            assert {"measured_at", "load", "sizes", "how", "cpus"} <= set(results), name
            assert results["how"] in text.replace("\n", " "), name
    shown = []
    for page, text in docs_pages().items():
        for name in BLOCK.findall(text):
            assert name in figures.PAGE_BLOCKS, f"{page}: no renderer for {{jaia-figures}} {name}"
            shown.append(name)
        for name, key in ROLE.findall(text):
            assert key in figures.INLINE.get(name, {}), f"{page}: no INLINE[{name}][{key}]"
            results = json.loads((RESULTS.parent / f"{name}.json").read_text(encoding="utf-8"))
            assert figures.INLINE[name][key](results), (page, name, key)
    assert set(shown) == set(figures.PAGE_BLOCKS), "every block is shown on a page"


def test_a_broken_or_missing_results_file_fails(tmp_path):
    figures = figures_module()
    results = json.loads((RESULTS.parent / "login.json").read_text(encoding="utf-8"))
    del results["ratio"]
    with pytest.raises(KeyError):
        figures.PAGE_BLOCKS["login"](results)
