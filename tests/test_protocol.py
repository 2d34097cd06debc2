"""The wire contract lives in one place: :mod:`jupyter_ai_access.protocol`.

Every environment name, error code, state and reason that more than one process uses is a
constant or an enum there. These tests read the sources (no server needed): a new copy of such a
value written as a string literal anywhere in the product, the demo configuration, the examples
or the provisioning fails here, naming the file, the line and the constant to import instead.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import logging
import warnings
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

from jupyter_ai_access import protocol
from jupyter_ai_access.demo.settings import DEMO_POOL_FILE
from jupyter_ai_access.errors import ConfigurationError
from jupyter_ai_access.hub import audit, metrics
from jupyter_ai_access.hub.authenticator import CognitoOAuthenticator
from jupyter_ai_access.protocol import (
    RENAMED_ENV,
    CognitoEnv,
    ErrorCode,
    HubEnv,
    SessionEnd,
    TokenState,
    getenv,
)
from jupyter_ai_access.server.state import STATES

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "jupyter_ai_access"

#: Where a process's code or its configuration lives (tests and the harness may spell values out:
#: they check the wire from outside).
SOURCES = [
    *sorted(PACKAGE.rglob("*.py")),
    ROOT / "jupyterhub_config.py",
    *sorted((ROOT / "examples").glob("*.py")),
    *sorted((ROOT / "binder").glob("*.py")),
    *sorted((ROOT / "infra").glob("*.py")),
]

#: Protocol values that are also ordinary words or another vocabulary's names, so a literal equal
#: to them is not necessarily a copy. Each says why; every other value is checked.
OTHER_MEANINGS = {
    "none": "NO_TOKENS; also the audit's login reason 'none' and other plain uses",
    "unavailable": "the kernel endpoint's 503 code; also the status page's headline (not a state)",
    "idp_unavailable": "the Hub endpoint's 503 code; also a Hub metric label (login, refresh)",
    "invalid_grant": "a SessionEnd; first of all the OAuth 2 error code (RFC 6749) Cognito sends",
    "identity_changed": "a SessionEnd; also a refresh result label of the Hub's metrics",
    "logout": "a SessionEnd; also Cognito's /logout endpoint and Hub routes",
    "fresh": "a TokenState; also the status page's headline",
    "renewing": "a TokenState; also the status page's headline",
    "ended": "a TokenState; also the status page's headline and a server event's kind",
    "signed-out": "a TokenState; also the status page's headline",
    "off": "a TokenState; also the value of demo switches such as JAIA_ISOLATION=off",
    "cognito_unreachable": "a TokenState; also the broker's failure result (server/events.py)",
    "hub_unreachable": "a TokenState; also the broker's failure result (server/events.py)",
}

#: Literals retired by the contract: the English session-end reasons the audit matched exactly.
RETIRED = {
    "user deleted": SessionEnd.USER_DELETED,
    "left the allowed groups": SessionEnd.LEFT_ALLOWED_GROUPS,
    "identity changed": SessionEnd.IDENTITY_CHANGED,
    "refreshed tokens refused": SessionEnd.REFRESH_REFUSED,
    "refresh token unreadable": SessionEnd.REFRESH_TOKEN_UNREADABLE,
}


def protocol_values() -> dict[str, str]:
    """Every value protocol.py defines → the name to import it by."""
    values: dict[str, str] = {}
    for name in protocol.__all__:
        obj = getattr(protocol, name)
        if isinstance(obj, type) and issubclass(obj, Enum):
            values.update({m.value: f"{name}.{m.name}" for m in obj})
        elif isinstance(obj, type) and name.endswith("Env"):
            values.update(
                {
                    v: f"{name}.{k}"
                    for k, v in vars(obj).items()
                    if isinstance(v, str) and k.isupper()
                }
            )
        elif isinstance(obj, str):
            values.setdefault(obj, name)
    values.update({old: "RENAMED_ENV (deprecated)" for old in RENAMED_ENV})
    return values


def string_literals(path: Path) -> list[tuple[int, str]]:
    """(line, value) of every string constant in a Python file (docstrings included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_no_process_writes_a_protocol_value_as_a_literal():
    checked = {v: n for v, n in protocol_values().items() if v not in OTHER_MEANINGS}
    checked.update({old: f"SessionEnd.{new.name}" for old, new in RETIRED.items()})
    assert "no_role" in checked and "COGNITO_CLIENT_ID" in checked  # the scan is not empty
    copies = [
        f"{path.relative_to(ROOT)}:{line}: {value!r}: import protocol.{checked[value]}"
        for path in SOURCES
        if path.name != "protocol.py"
        for line, value in string_literals(path)
        if value in checked
    ]
    assert not copies, "\n".join(copies)


def test_other_meanings_name_real_protocol_values():
    """An exemption for a value the protocol no longer has would hide nothing: remove it."""
    assert set(OTHER_MEANINGS) <= set(protocol_values())


def test_every_protocol_name_is_imported_from_protocol():
    """No module re-exports a protocol name (a second place to look it up, or to redefine it)."""
    names = set(protocol.__all__)
    wrong = []
    for path in SOURCES:
        if path.name == "protocol.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.ImportFrom)
                and (node.module or "").split(".")[-1] != "protocol"
            ):
                wrong += [
                    f"{path.relative_to(ROOT)}:{node.lineno}: {a.name} from {node.module}"
                    for a in node.names
                    if a.name in names and node.module != "enum"
                ]
            targets = node.targets if isinstance(node, ast.Assign) else []
            wrong += [
                f"{path.relative_to(ROOT)}:{node.lineno}: defines {t.id}"
                for t in targets
                if isinstance(t, ast.Name) and t.id in names
            ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "process",
    [
        pytest.param("hub", id="hub"),
        pytest.param("server", id="user-server"),
        pytest.param("resource", id="protected-resource"),
        pytest.param("client.py", id="kernel-and-job"),
        pytest.param("machine.py", id="job"),
    ],
)
def test_every_process_imports_the_contract(process):
    paths = [PACKAGE / process] if process.endswith(".py") else (PACKAGE / process).rglob("*.py")
    importing = [
        path
        for path in paths
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("protocol")
    ]
    assert importing, f"nothing in {process} imports jupyter_ai_access.protocol"


def test_the_demo_pool_path_is_written_once():
    assert DEMO_POOL_FILE.is_file()
    copies = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in [
            *SOURCES,
            *sorted((ROOT / "tests").glob("*.py")),
            *sorted((ROOT / "testing").rglob("*.py")),
            *sorted((ROOT / "benchmarks").glob("*.py")),
        ]
        # demo/settings.py defines it; the layout test names the wheel's member; infra runs from
        # its own folder without importing demo code, and its default repeats Pulumi.yaml's
        if path.relative_to(ROOT).as_posix() != "jupyter_ai_access/demo/settings.py"
        and path.name not in ("test_layout.py", "test_protocol.py")
        and path.parent.name != "infra"
        for line, value in string_literals(path)
        if "demo-pool.json" in value and "\n" not in value  # docstrings may say where it is
    ]
    assert not copies, "use demo.settings.DEMO_POOL_FILE:\n" + "\n".join(copies)
    assert 'os.environ.get("JAIA_POOL_FILE", DEMO_POOL_FILE)' in (ROOT / "run-demo").read_text()


def test_the_names_are_their_values_on_the_wire():
    assert json.dumps({"error": ErrorCode.NO_ROLE}) == '{"error": "no_role"}'
    assert f"{TokenState.SCOPE_MISSING}" == "scope_missing"
    assert str(SessionEnd.LEFT_ALLOWED_GROUPS) == "left_allowed_groups"
    assert (
        logging.Formatter("%(message)s").format(
            logging.makeLogRecord({"msg": "%s", "args": (SessionEnd.LOGOUT,)})
        )
        == "logout"
    )
    assert protocol.ERROR_AWS_REFUSED == "aws_refused" and protocol.ERROR_NO_ROLE == "no_role"


def test_unavailable_has_one_meaning():
    """503 ``unavailable`` (the Hub or Cognito is down) is no status state: the scope is."""
    assert ErrorCode.UNAVAILABLE not in {s.value for s in TokenState}
    assert "scope_missing" in STATES and "unavailable" not in STATES
    assert set(STATES) | {TokenState.SIGNED_OUT} == {s.value for s in TokenState}


def test_session_ends_are_the_audit_causes_and_metric_labels():
    for cause in SessionEnd:
        assert audit.session_cause(cause) == cause.value
    assert audit.session_cause("a reason nobody wrote") == "other"
    assert {c.value for c in SessionEnd} | {"other"} == metrics.SESSION_CAUSES


# ------------------------------------------------------------------ renamed environment names


def test_the_old_refresh_token_key_name_still_works_with_a_warning(caplog):
    log = logging.getLogger("test_protocol.renamed")
    env = {"JAIA_REFRESH_TOKEN_KEY": " old-key-material "}
    with pytest.warns(DeprecationWarning, match=r"\$JAIA_REFRESH_TOKEN_KEY is deprecated"):
        value = getenv(HubEnv.REFRESH_TOKEN_KEY, env, log=log)
    assert value == "old-key-material"
    assert "set $JUPYTER_AI_ACCESS_REFRESH_TOKEN_KEY instead" in caplog.text
    assert "old-key-material" not in caplog.text  # names, never the value


def test_the_new_refresh_token_key_name_wins_silently():
    env = {"JAIA_REFRESH_TOKEN_KEY": "old", HubEnv.REFRESH_TOKEN_KEY: "new"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert getenv(HubEnv.REFRESH_TOKEN_KEY, env) == "new"
        assert getenv(HubEnv.REFRESH_TOKEN_KEY, {}) == ""


@pytest.mark.parametrize(
    "variable",
    [
        pytest.param("JUPYTER_AI_ACCESS_REFRESH_TOKEN_KEY", id="new-name"),
        pytest.param("JAIA_REFRESH_TOKEN_KEY", id="old-name"),
    ],
)
def test_the_authenticator_reads_the_refresh_token_key_from_either_name(variable, monkeypatch):
    monkeypatch.delenv("JAIA_REFRESH_TOKEN_KEY", raising=False)
    monkeypatch.delenv("JUPYTER_AI_ACCESS_REFRESH_TOKEN_KEY", raising=False)
    monkeypatch.setenv(variable, "k" * 40)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert CognitoOAuthenticator().refresh_token_key == "k" * 40
    deprecated = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert bool(deprecated) == (variable == "JAIA_REFRESH_TOKEN_KEY")


def test_the_docs_name_the_new_setting_and_the_old_one_as_deprecated():
    readme = "\n".join(
        page.read_text(encoding="utf-8") for page in sorted((ROOT / "docs").rglob("*.md"))
    )
    assert "`JUPYTER_AI_ACCESS_REFRESH_TOKEN_KEY`" in readme
    for line in readme.splitlines():
        if "JAIA_REFRESH_TOKEN_KEY" in line:
            assert "deprecated" in line or "formerly" in line, line
    assert "`COGNITO_CLIENT_IDS`" in readme


# ------------------------------------------------------------------ one meaning of COGNITO_CLIENT_ID


def _registry() -> Any:
    spec = importlib.util.spec_from_file_location(
        "model_registry", ROOT / "examples/model_registry.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("environ", "accepted"),
    [
        pytest.param({CognitoEnv.CLIENT_IDS: "a1, b2 c3"}, ["a1", "b2", "c3"], id="the-list"),
        pytest.param({CognitoEnv.CLIENT_ID: "a1"}, ["a1"], id="one-client"),
        pytest.param(
            {CognitoEnv.CLIENT_ID: "a1", CognitoEnv.CLIENT_IDS: "b2"}, ["b2"], id="list-wins"
        ),
    ],
)
def test_a_resource_reads_its_clients_from_cognito_client_ids(environ, accepted):
    assert _registry().accepted_clients(environ) == accepted


def test_a_list_in_cognito_client_id_is_refused_naming_the_list_variable():
    with pytest.raises(ConfigurationError, match="COGNITO_CLIENT_ID = 'a1,b2' holds several ids"):
        _registry().accepted_clients({CognitoEnv.CLIENT_ID: "a1,b2"})
