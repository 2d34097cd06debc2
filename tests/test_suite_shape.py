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
