"""The package's layout keeps its promises: one subpackage per process, no cycles, a lean wheel.

- the import graph of ``jupyter_ai_access`` has no cycle at run time: every ``import`` statement
  counts (inside functions too) except those under ``if TYPE_CHECKING:``, which never run, so a
  module may name a collaborator's real type without importing it;
- no module is over 400 lines;
- the graph reads who runs what (every import counts here, ``TYPE_CHECKING`` blocks included):
  the Hub (``hub/``), the single-user server (``server/``), a protected resource
  (``resource/``), the Cognito core all of them share (``cognito/``), the kernel or a job
  (``client.py``, ``machine.py``, ``protocol.py``), real provisioning (``infra/``) and the local
  deployment (``local_cognito/``, ``local_aws/``, ``demo/``). Each imports only what its process
  has; nothing but the local deployment (and the command that starts the emulator) imports it;
  the pool description (``pooldesc/``) that the emulators and ``infra/`` share, and the wire
  contract, import only the standard library;
- the wheel holds the runtime only: no test helpers, no demo passwords, and a LICENSE.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jupyter_ai_access"
P = "jupyter_ai_access."


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    """``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:``."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _parse_imports(source: str, package: str) -> tuple[set[str], set[str]]:
    """(modules imported at run time, modules imported for type checking only) by ``source``.

    ``package``: the package relative imports are resolved against.
    """
    runtime: set[str] = set()
    type_only: set[str] = set()

    def names(node: ast.Import | ast.ImportFrom) -> set[str]:
        if isinstance(node, ast.Import):
            return {alias.name for alias in node.names}
        if node.level:
            base = package.split(".")
            base = base[: len(base) - (node.level - 1)]
            module = ".".join([*base, node.module] if node.module else base)
        else:
            module = node.module or ""
        return {module, *(f"{module}.{alias.name}" for alias in node.names)}

    def visit(node: ast.AST, found: set[str]) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.update(names(node))
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, type_only)
            for child in node.orelse:
                visit(child, found)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, found)

    visit(ast.parse(source), runtime)
    return runtime, type_only - runtime


def _imports(path: Path, *, runtime_only: bool = False) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    try:
        name = _module_name(path)
    except ValueError:  # outside the repository
        name = path.stem
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    runtime, type_only = _parse_imports(path.read_text(encoding="utf-8"), package)
    return runtime if runtime_only else runtime | type_only


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {
    name: {m for m in _imports(path, runtime_only=True) if m in MODULES and m != name}
    for name, path in MODULES.items()
}


def test_type_only_imports_are_not_runtime_edges():
    source = (
        "from typing import TYPE_CHECKING\n"
        "import typing\n"
        "from .a import A\n"
        "if TYPE_CHECKING:\n"
        "    from .b import B\n"
        "else:\n"
        "    from .c import C\n"
        "if typing.TYPE_CHECKING:\n"
        "    import pkg.d\n"
        "def f():\n"
        "    from .e import E\n"
    )
    runtime, type_only = _parse_imports(source, "pkg")
    assert {"pkg.a", "pkg.c", "pkg.e"} <= runtime
    assert type_only == {"pkg.b", "pkg.b.B", "pkg.d"}


def test_the_import_graph_has_no_cycle():
    # a package's __init__ importing its own modules is not a cycle with them
    edges = {
        name: {m for m in deps if not (MODULES[m].name == "__init__.py" and name.startswith(m))}
        for name, deps in GRAPH.items()
    }
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for dep in sorted(edges[node]):
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        path.pop()
        state[node] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name)


@pytest.mark.parametrize("name", sorted(MODULES), ids=sorted(MODULES))
def test_no_module_is_over_400_lines(name):
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= 400, f"{name} has {lines} lines: split it by concern"


#: The local deployment: emulators and the demo's settings. Not product code.
LOCAL = (P + "local_cognito", P + "local_aws", P + "demo")
HUB_SIDE = ("jupyterhub", "oauthenticator", P + "hub")
SERVER_SIDE = ("jupyter_server", "jupyter_client", "jupyter_server_terminals", P + "server")
KERNEL = (P + "client", P + "machine", P + "protocol")

#: process: (the modules it covers, prefixes they never import). Every import counts, type-only
#: ones included: a process must be able to load its modules' annotations.
BOUNDARIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "hub": ((P + "hub",), (*SERVER_SIDE, *LOCAL)),
    "server": ((P + "server",), (*HUB_SIDE, *LOCAL)),
    # what a protected resource imports: neither Jupyter process
    "resource": ((P + "resource",), (*HUB_SIDE, *SERVER_SIDE, *LOCAL)),
    # the one Cognito core the Hub, the server, jobs and resources share: no adapter of theirs
    "cognito": ((P + "cognito",), (*HUB_SIDE, *SERVER_SIDE, P + "resource", *LOCAL)),
    # the kernel or a job: none of the processes around it
    "kernel": (KERNEL, (*HUB_SIDE, *SERVER_SIDE, P + "resource", "tornado", *LOCAL)),
    # the description real provisioning reads: no emulator, no process
    "pool-description": ((P + "pooldesc",), (*HUB_SIDE, *SERVER_SIDE, P + "resource", *LOCAL)),
}


def _covers(prefixes: tuple[str, ...], name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("process", sorted(BOUNDARIES))
def test_each_process_imports_only_what_it_has(process):
    covered, forbidden = BOUNDARIES[process]
    modules = [name for name in MODULES if _covers(covered, name)]
    assert modules, f"the rule for {process} covers no module: {covered}"
    bad = [
        f"{name} imports {dep}"
        for name in modules
        for dep in sorted(_imports(MODULES[name]))
        if _covers(forbidden, dep)
    ]
    assert bad == []


def test_nothing_but_the_local_deployment_imports_it():
    # the jupyter-ai-access command starts the emulator (`jupyter-ai-access local-cognito`)
    exempt = (*LOCAL, P + "cli")
    bad = [
        f"{name} imports {dep}"
        for name, path in MODULES.items()
        if not _covers(exempt, name)
        for dep in sorted(_imports(path))
        if _covers(LOCAL, dep)
    ]
    assert bad == []


def _outside_stdlib(path: Path, allowed: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {dep}"
        for dep in sorted(_imports(path))
        if dep.split(".")[0] not in {*sys.stdlib_module_names, "__future__", "jupyter_ai_access"}
        or (dep.startswith(P) and not _covers(allowed, dep))
    ]


@pytest.mark.parametrize(
    ("covered", "allowed"),
    [
        pytest.param((P + "protocol",), (P + "protocol",), id="wire-contract"),
        pytest.param(
            (P + "pooldesc",), (P + "pooldesc", P + "errors", P + "net"), id="pool-description"
        ),
    ],
)
def test_shared_descriptions_import_only_the_standard_library(covered, allowed):
    bad = [
        line
        for name, path in MODULES.items()
        if _covers(covered, name)
        for line in _outside_stdlib(path, allowed)
    ]
    assert bad == []


def test_real_provisioning_imports_only_the_pool_description():
    # infra/ provisions real AWS: it reads the description and the wire contract's names,
    # never the emulators' code
    programs = sorted((ROOT / "infra").glob("*.py"))
    assert programs
    bad = [
        f"{path.relative_to(ROOT)} imports {dep}"
        for path in programs
        for dep in sorted(_imports(path))
        if dep.startswith(P) and not _covers((P + "pooldesc", P + "errors", P + "protocol"), dep)
    ]
    assert bad == []


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        pytest.param(P + "client", set(), id="kernel-client"),
        pytest.param(P + "protocol", set(), id="wire-contract"),
        pytest.param(P + "pooldesc", set(), id="pool-description"),
        pytest.param(
            P + "cognito.verify",
            {"jwt", "cryptography", "_cffi_backend", "_openssl"},  # cryptography's bindings
            id="verifier",
        ),
        pytest.param(P + "hub.authenticator", None, id="hub-without-server"),
    ],
)
def test_modules_load_in_a_bare_interpreter_with_only_their_dependencies(module, allowed):
    code = (
        f"import sys; before = set(sys.modules); import {module}; "
        "print(sorted({m.split('.')[0] for m in set(sys.modules) - before "
        "if not m.startswith('jupyter_ai_access')} - set(sys.stdlib_module_names)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    third_party = set(json.loads(out.stdout.replace("'", '"')))
    if allowed is None:  # the Hub process: anything but the single-user server's packages
        assert not third_party & {"jupyter_server", "jupyter_client", "jupyterlab"}, third_party
    else:
        assert third_party <= allowed, third_party


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("jupyter_ai_access-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_holds_the_runtime_only(wheel):
    names = wheel.namelist()
    assert not [n for n in names if "testing" in n or n.startswith("tests/")]
    assert any(n.endswith("licenses/LICENSE") for n in names), "LICENSE missing from the wheel"
    assert "jupyter_ai_access/hub/authenticator.py" in names
    assert "jupyter_ai_access/py.typed" in names
    shared = [n for n in names if n.endswith("jupyter_server_config.d/jupyter_ai_access.json")]
    assert shared, "the server extension's auto-enable file is missing"


def test_the_wheel_ships_the_prebuilt_lab_extension_and_the_event_schemas(wheel):
    names = wheel.namelist()
    lab = [n for n in names if "/share/jupyter/labextensions/jupyter-ai-access/" in n]
    assert any(n.endswith("/jupyter-ai-access/package.json") for n in lab), lab
    assert any(n.endswith("/jupyter-ai-access/install.json") for n in lab), lab
    assert any("/static/remoteEntry." in n for n in lab), lab
    assert not [n for n in names if "node_modules" in n or n.endswith(".ts")]
    schemas = [n for n in names if n.startswith("jupyter_ai_access/server/event_schemas/")]
    assert len(schemas) == 5 and all(n.endswith("/v1.yaml") for n in schemas)


def test_the_wheel_ships_no_demo_password(wheel):
    pool = json.loads(wheel.read("jupyter_ai_access/local_cognito/demo-pool.json"))
    assert all("password" not in user for user in pool["users"])
    assert all("client_secret" not in client for client in pool["app_clients"])
