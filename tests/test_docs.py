"""The documentation site builds without a warning, and its reference lists every setting.

The site (docs/, Sphinx with MyST and pydata-sphinx-theme) is built as a person builds it
(``python -m sphinx -W --keep-going -n``: warnings are errors, internal references checked,
nothing fetched). Then the reference is compared with the package itself: every ``config=True``
trait of every traitlets class found by walking ``jupyter_ai_access`` must be documented under
that class or a class of the package that inherits it, and the pages must show the figures of
``benchmarks/results/`` as the build rendered them.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import posixpath
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest
from sphinx.util.inventory import InventoryFile
from traitlets import HasTraits

import jupyter_ai_access

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build = ["-b", "html", "-d", str(out / "doctrees"), str(DOCS), str(out / "html")]
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-n", "-q", "-E", *build],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-6000:]
    assert "WARNING" not in result.stderr and "ERROR" not in result.stderr, result.stderr
    return out / "html"


def package_classes() -> list[type[HasTraits]]:
    """Every traitlets class defined in the package (``__main__`` modules run, so not those)."""
    found: dict[str, type[HasTraits]] = {}
    prefix = jupyter_ai_access.__name__ + "."
    names = [jupyter_ai_access.__name__] + [
        info.name
        for info in pkgutil.walk_packages(jupyter_ai_access.__path__, prefix)
        if not info.name.endswith(".__main__")
    ]
    for name in names:
        module = importlib.import_module(name)
        for obj in vars(module).values():
            if inspect.isclass(obj) and issubclass(obj, HasTraits) and obj.__module__ == name:
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(found.values())


def text(page: Path) -> str:
    """A built page's text, without its markup."""
    return unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


def documented(site: Path) -> dict[str, str]:
    with (site / "objects.inv").open("rb") as stream:
        inventory = InventoryFile.load(stream, "", posixpath.join)
    return {name: entry[2] for name, entry in inventory.get("py:attribute", {}).items()}


def test_the_site_builds_and_lists_every_configurable_trait(site):
    attributes = documented(site)
    classes = package_classes()
    assert len(classes) >= 15  # the walk found the package (authenticator, broker, spawner, ...)
    missing = []
    total = 0
    for cls in classes:
        for trait in cls.class_own_traits(config=True):
            total += 1
            holders = [
                c for c in classes
                if issubclass(c, cls)
                and f"{c.__module__}.{c.__qualname__}.{trait}" in attributes
            ]
            if not holders:
                missing.append(f"{cls.__qualname__}.{trait}")
    assert total >= 100
    assert missing == [], f"settings missing from docs/reference/configuration: {missing}"
    # documented with their help and default, where people look for them
    uri = attributes["jupyter_ai_access.hub.authenticator.CognitoOAuthenticator.exchange_policy"]
    page = text(site / uri.split("#")[0])
    assert "c.CognitoOAuthenticator.exchange_policy = Dict(" in page
    assert "c.KernelTokenStore.broad_token = Bool(True)" in page
    # a default the class computes at start is not shown as the trait's static placeholder
    assert "c.HubSource.watch_wait = Float(0.0)" not in page
    assert "c.HubSource.watch_wait = Float(...)" in page


def test_the_reference_pages_come_from_the_code(site):
    from jupyter_ai_access import protocol
    from jupyter_ai_access.cli import JupyterAIAccessApp

    cli = text(site / "reference" / "cli.html")
    for sub in JupyterAIAccessApp.subcommands:
        assert f"jupyter-ai-access {sub}" in cli
    env = text(site / "reference" / "environment.html")
    holders = [
        value
        for name, value in vars(protocol).items()
        if inspect.isclass(value) and name.endswith("Env") and value.__module__ == protocol.__name__
    ]
    assert {"KernelEnv", "CognitoEnv", "AWSEnv", "HubEnv"} <= {h.__name__ for h in holders}
    for holder in holders:
        for name, value in vars(holder).items():
            if not name.startswith("_") and isinstance(value, str):
                assert value in env, value
    events = text(site / "reference" / "events.html")
    for schema in (ROOT / "jupyter_ai_access" / "server" / "event_schemas").iterdir():
        assert schema.name in events


def test_the_performance_page_shows_the_measured_figures(site):
    results = json.loads((ROOT / "benchmarks/results/verify.json").read_text(encoding="utf-8"))
    first = next(r for r in results["rows"] if r["name"] == "ours, first-seen token")
    page = text(site / "explanation" / "performance.html")
    assert f"{first['ratio']:.2f}\N{MULTIPLICATION SIGN}" in page
    assert results["measured"] in page


def test_the_aws_session_end_figures_are_the_benchmarks(site):
    """The session-end page's table and the threat table's row are bench_aws_end.py's output."""
    results = json.loads((ROOT / "benchmarks/results/aws_end.json").read_text(encoding="utf-8"))
    first = results["end_to_first_failure"][0]
    shown = f"median {first['end_to_first_failure_s']['median']:.1f} s"
    page = text(site / "explanation" / "aws-session-end.html")
    assert f"{first['end_to_first_failure_s']['max']:.1f} s" in page
    assert results["measured"] in page
    assert shown in text(site / "explanation" / "security.html")


def test_the_data_engines_figures_are_the_benchmarks(site):
    """The data-engines page's first-read table and its phrases are bench_engines.py's output."""
    results = json.loads((ROOT / "benchmarks/results/engines.json").read_text(encoding="utf-8"))
    page = text(site / "how-to" / "data-engines.html")
    assert f"{results['ratio']['arrow']:.2f}\N{MULTIPLICATION SIGN}" in page
    assert f"{results['ratio']['duckdb']:.2f}\N{MULTIPLICATION SIGN}" in page
    median = results["median_ms"]
    assert f"{median['arrow_ours'] - median['arrow_static']:.3g} ms" in page
    assert results["measured"] in page


def test_the_scale_figures_are_the_benchmarks(site):
    """The scaling page's tables and phrases are bench_scale.py's output (scale.json, scale.md)."""
    results = json.loads((ROOT / "benchmarks/results/scale.json").read_text(encoding="utf-8"))
    page = text(site / "scaling.html")
    largest = max(results["per_n"], key=lambda row: row["n"])
    assert f"{largest['connect_cpu_ms_per_watch']:.3g} ms and " in page
    storm = results["storms"]["restart"]
    assert f"the Hub was down {storm['hub_down_s']:.1f} s" in page
    assert results["machine"]["date"] in page  # the included scale.md's footnote


def test_every_page_is_in_a_toctree_and_the_readme_is_a_front_page(site):
    pages = {
        p.relative_to(DOCS).with_suffix("").as_posix()
        for p in DOCS.rglob("*")
        if p.suffix in {".md", ".rst"} and "_build" not in p.parts
    }
    built = {p.relative_to(site).with_suffix("").as_posix() for p in site.rglob("*.html")}
    assert pages <= built, pages - built
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 150
    assert "./run-demo" in readme and "./run-tests" in readme
    for target in re.findall(r"\]\(((?:docs/|[A-Z]+\.md)[^)#]*)\)", readme):
        assert (ROOT / target).is_file(), f"README.md links to {target}, which does not exist"
