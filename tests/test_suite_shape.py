"""The shape of the test suite: shared code lives in the harness, never in a test module.

A test module that imports another (``from test_x import helper``, or a helper from
``conftest``) runs the other's fixtures and module-level code under its own name and breaks when
the other is edited or deselected. What modules share belongs to
``testing/jupyter_ai_access_testing/harness`` (helpers) or its ``plugin.py`` (fixtures).
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
LOCAL = {p.stem for p in TESTS.glob("*.py")} | {"tests"}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, top-level module name) of every import in ``path``, nested ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module.split(".")[0]))
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append((node.lineno, "." * node.level + (node.module or "")))
    return sorted(found)


def test_no_test_module_imports_another_or_conftest():
    offenders = [
        f"{path.name}:{line} imports {module}"
        for path in sorted(TESTS.glob("*.py"))
        for line, module in imported_modules(path)
        if module in LOCAL or module.startswith(".")
    ]
    assert offenders == [], (
        "move what test modules share into testing/jupyter_ai_access_testing/harness: "
        + "; ".join(offenders)
    )


def test_the_check_sees_an_import_of_a_test_module(tmp_path):
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "import os\nfrom test_delivery import run\n\ndef f():\n    import conftest\n"
        "from . import x\n",
        encoding="utf-8",
    )
    modules = [m for _, m in imported_modules(sample)]
    assert [m for m in modules if m in LOCAL or m.startswith(".")] == [
        "test_delivery",
        "conftest",
        ".",
    ]


# ---------------------------------------------------------------- the quick loop stays quick

HEAVY_MARKS = {"hub", "browser", "kernel", "slow"}
# What starts a Hub, a browser, a jupyter lab process or kernels (the harness's entry points).
HEAVY_CALLS = {
    "HubProcess",
    "watched_deployment",
    "local_deployment",
    "LabProcess",
    "chromium",
    "start_kernel",
    "ServerKernel",
}


def _marks(node: ast.AST) -> set[str]:
    """The ``pytest.mark.<name>`` names written in ``node`` (a decorator list or an assignment)."""
    return {
        n.attr
        for n in ast.walk(node)
        if isinstance(n, ast.Attribute)
        and isinstance(n.value, ast.Attribute)
        and n.value.attr == "mark"
    }


def _calls(node: ast.AST) -> set[str]:
    names = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            f = n.func
            names.add(f.id if isinstance(f, ast.Name) else getattr(f, "attr", ""))
    return names


def unmarked_heavy_tests(path: Path) -> list[str]:
    """Tests that start something heavy (directly or through a fixture of their module) but
    carry no heavy marker and use no ``*_hub``/``deployment`` fixture (which marks them)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    module_marks: set[str] = set()
    functions = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            module_marks |= _marks(node.value)
    heavy_fixtures = {
        f.name for f in functions if not f.name.startswith("test_") and _calls(f) & HEAVY_CALLS
    }
    found = []
    for f in functions:
        if not f.name.startswith("test_"):
            continue
        params = {a.arg for a in f.args.args}
        if any(p.endswith("_hub") or p == "deployment" for p in params):
            continue
        decorators = set().union(*(_marks(d) for d in f.decorator_list))
        if (module_marks | decorators) & HEAVY_MARKS:
            continue
        if _calls(f) & HEAVY_CALLS or params & heavy_fixtures:
            found.append(f"{path.name}::{f.name}")
    return found


def test_tests_that_start_hubs_browsers_or_kernels_are_not_in_the_quick_loop():
    found = [name for path in sorted(TESTS.glob("test_*.py")) for name in unmarked_heavy_tests(path)]
    assert found == [], (
        "mark these hub, browser or kernel (pytest.mark / the module's pytestmark), "
        "or they run in the quick loop: " + ", ".join(found)
    )
