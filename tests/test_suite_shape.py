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


# ---------------------------------------------------------------- parallel workers' ports

HARNESS = TESTS.parent / "testing" / "jupyter_ai_access_testing"


def ephemeral_range() -> tuple[int, int]:
    """The ports Linux hands out for port 0 and outgoing connections."""
    low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    return int(low), int(high)


def test_each_worker_takes_ports_from_its_own_slice_outside_the_ephemeral_range():
    from jupyter_ai_access_testing.ports import HIGH, LOW, worker_range

    assert ephemeral_range()[0] >= HIGH
    assert worker_range({}) == (LOW, HIGH)  # no xdist: the whole range
    for count in (2, 3, 8):
        slices = [
            worker_range({"PYTEST_XDIST_WORKER": f"gw{i}", "PYTEST_XDIST_WORKER_COUNT": str(count)})
            for i in range(count)
        ]
        assert all(LOW <= low < high <= HIGH for low, high in slices)
        ports = [set(range(low, high)) for low, high in slices]
        assert all(not (a & b) for i, a in enumerate(ports) for b in ports[i + 1 :]), slices


def test_free_port_gives_bindable_ports_of_this_worker_and_not_the_same_one_twice():
    import socket

    from jupyter_ai_access_testing.ports import free_port, worker_range

    low, high = worker_range()
    given = [free_port() for _ in range(50)]
    assert len(set(given)) == 50 and all(low <= p < high for p in given)
    with socket.socket() as held:
        held.bind(("127.0.0.1", given[-1] + 1 if given[-1] + 1 < high else low))
        taken = held.getsockname()[1]
        assert taken not in {free_port() for _ in range(high - low - 60)}


def test_no_test_or_harness_module_takes_a_port_the_racy_way():
    """Port 0 then close (``find_free_port``) lets another worker's server take the port before
    ours binds it (seen in CI: a deployment's emulator lost its port to another worker's Hub).
    Servers that keep the socket they bound (``("127.0.0.1", 0)`` held) are fine."""
    racy = [
        f"{path.relative_to(TESTS.parent)}:{line}"
        for path in sorted([*TESTS.glob("*.py"), *HARNESS.rglob("*.py")])
        if path.name != "test_suite_shape.py"
        for line, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "find_free_port" in text or "def _free_port" in text
    ]
    assert racy == [], "use jupyter_ai_access_testing.ports.free_port: " + ", ".join(racy)
