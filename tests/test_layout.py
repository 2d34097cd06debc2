"""The package's layout keeps its promises: one subpackage per process, no cycles, a lean wheel.

- the import graph of ``jupyter_ai_access`` (every ``import`` statement, ``TYPE_CHECKING`` blocks
  included) has no cycle;
- no module is over 400 lines;
- each process's code imports only what that process has: the Hub never imports the server
  extension or ``jupyter_server``, the server never imports the Hub, the kernel client and the
  wire contract import only the standard library, the verifier neither Jupyter nor tornado;
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


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {
    name: {m for m in _imports(path) if m in MODULES and m != name}
    for name, path in MODULES.items()
}


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


FORBIDDEN = {
    # process: prefixes its modules must never import
    "jupyter_ai_access.hub": ("jupyter_server", "jupyter_client", "jupyter_ai_access.server"),
    "jupyter_ai_access.server": ("jupyterhub", "oauthenticator", "jupyter_ai_access.hub"),
    "jupyter_ai_access.resource": (
        "jupyter_server",
        "jupyterhub",
        "jupyter_ai_access.hub",
        "jupyter_ai_access.server",
    ),
    # the Cognito core: used by every process, so it imports none of them
    "jupyter_ai_access.cognito": (
        "jupyter_server",
        "jupyter_client",
        "jupyterhub",
        "oauthenticator",
        "jupyter_ai_access.hub",
        "jupyter_ai_access.server",
        "jupyter_ai_access.resource",
    ),
}


@pytest.mark.parametrize("process", sorted(FORBIDDEN))
def test_each_process_imports_only_what_it_has(process):
    bad = [
        f"{name} imports {dep}"
        for name, path in MODULES.items()
        if name == process or name.startswith(process + ".")
        for dep in _imports(path)
        if dep.startswith(FORBIDDEN[process])
    ]
    assert bad == []


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        pytest.param("jupyter_ai_access.client", set(), id="kernel-client"),
        pytest.param("jupyter_ai_access.protocol", set(), id="wire-contract"),
        pytest.param(
            "jupyter_ai_access.cognito.verify",
            {"jwt", "cryptography", "_cffi_backend", "_openssl"},  # cryptography's bindings
            id="verifier",
        ),
        pytest.param("jupyter_ai_access.hub.authenticator", None, id="hub-without-server"),
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
