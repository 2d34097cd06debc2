"""The oldest supported set works, and installing the wheel into an existing JupyterHub keeps it.

``scripts/compat`` (run once for this module) makes a fresh venv with the oldest interpreter it
finds, installs JupyterHub 5 and oauthenticator 16 first, as an existing Hub has them, then
``pip install <wheel built from this checkout>[hub,server]`` with the oldest jupyter_server and
JupyterLab, and runs a subset of this suite there against the installed wheel (the newest set is
the main venv's: the whole suite runs on it). The subset, and what it leaves out:

- in: the private names of JupyterHub, oauthenticator and jupyter_server (test_compat.py,
  test_server_compat.py); a browser-like login through the emulator's hosted page, refresh before
  expiry, revoking logout, PKCE + basic auth + no userinfo with crafted tokens, a group removed
  at refresh, invalid_grant at refresh (test_authenticator.py); a real kernel under a real
  Hub-spawned server getting the Hub's tokens (test_chain.py); a kernel of an in-process server
  (test_delivery.py); JupyterLab loading the prebuilt extension (test_compat_lab.py);
- out (run on the newest set only): the rest of test_authenticator.py and test_chain.py, the
  README's deployment and the browser (test_e2e.py, test_attacks*.py: accounts per user, moto),
  Kubernetes/z2jh, the exchange, audit, metrics, restart and revocation-feed modules, and the
  benchmarks. JupyterHub/oauthenticator versions between the two ends are not run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from jupyter_ai_access_testing.harness import ROOT
from packaging.requirements import Requirement
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (scripts/compat installs tomli)
    import tomli as tomllib

SCRIPT = ROOT / "scripts" / "compat"


def oldest_set() -> dict[str, str]:
    listed = subprocess.run([SCRIPT, "--list"], capture_output=True, text=True, check=True)
    return dict(line.split("==") for line in listed.stdout.split())


def test_the_oldest_set_is_the_lower_bounds_in_pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = meta["project"]["optional-dependencies"]
    bounds = {
        (req := Requirement(r)).name: req.specifier for r in extras["hub"] + extras["server"]
    }
    oldest = oldest_set()
    assert set(oldest) == {"jupyterhub", "oauthenticator", "jupyter-server", "jupyterlab"}
    for name, version in oldest.items():
        lower = [s.version for s in bounds[name] if s.operator == ">="]
        assert lower == [version], f"{name}: pyproject says {bounds[name]}, scripts/compat {version}"
        assert any(s.operator == "<" for s in bounds[name]), f"{name}: an upper bound is required"
    assert meta["project"]["requires-python"] == ">=3.10"


@pytest.fixture(scope="module")
def compat_run() -> str:
    """scripts/compat's output (bounded: the run and what it started are killed after 15 min)."""
    env = {**os.environ, "JAIA_BUILD_PYTHON": sys.executable}
    env.pop("PYTHONPATH", None)
    proc = subprocess.Popen(
        [SCRIPT],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        output, _ = proc.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"scripts/compat took over 15 minutes:\n{output[-6000:]}")
    print(output[-20000:])
    assert proc.returncode == 0, output[-6000:]
    return output


@pytest.mark.slow
@pytest.mark.hub
@pytest.mark.kernel
@pytest.mark.timeout(1200)  # the first to run waits for scripts/compat (about 3 minutes)
def test_installing_the_wheel_into_a_jupyterhub_5_environment_keeps_its_hub(compat_run):
    before = re.search(r"JupyterHub before: (\S+)", compat_run)
    after = re.search(r"JupyterHub after: (\S+)", compat_run)
    assert before and after, compat_run[-3000:]
    assert before.group(1) == after.group(1) == oldest_set()["jupyterhub"]
    assert Version(before.group(1)).major == 5
    wheel_file = re.search(r"jupyter_ai_access from (\S+)", compat_run)
    assert wheel_file and "site-packages" in wheel_file.group(1)  # the wheel, not the checkout
    for name, version in oldest_set().items():
        assert f"compat:   {name} {version}\n" in compat_run, name


PROVEN = [
    "tests/test_authenticator.py::test_login_through_the_emulator_creates_the_user_with_groups_and_tokens",
    "tests/test_authenticator.py::test_tokens_are_refreshed_before_expiry_keeping_the_refresh_token",
    "tests/test_authenticator.py::test_logout_revokes_clears_tokens_and_ends_the_cognito_session",
    "tests/test_authenticator.py::test_happy_path_with_crafted_tokens_uses_basic_auth_pkce_and_no_userinfo",
    "tests/test_chain.py::test_a_real_kernel_gets_the_token_the_hub_holds",
    "tests/test_delivery.py::test_kernel_reads_its_token_and_calls_a_protected_resource",
    "tests/test_compat_lab.py::test_jupyter_lab_lists_serves_and_loads_the_prebuilt_extension",
]


@pytest.mark.slow
@pytest.mark.hub
@pytest.mark.kernel
@pytest.mark.timeout(1200)  # the first to run waits for scripts/compat (about 3 minutes)
def test_the_oldest_set_logs_in_refreshes_logs_out_and_delivers_to_kernels(compat_run):
    for test in PROVEN:
        assert f"PASSED {test}" in compat_run, test
    summaries = re.findall(r"^=* ?(\d+ (?:passed|failed).* in [\d.]+s.*)$", compat_run, re.M)
    assert summaries, compat_run[-3000:]
    summary = summaries[-1]
    assert re.search(r"\d+ passed", summary) and "failed" not in summary, summary
    assert "skipped" not in summary and "error" not in summary, summary


@pytest.mark.slow
@pytest.mark.hub
@pytest.mark.kernel
@pytest.mark.timeout(1200)  # the first to run waits for scripts/compat (about 3 minutes)
def test_the_oldest_jupyterlab_lists_the_extensions_as_enabled(compat_run):
    assert re.search(r"lab extension: +jupyter-ai-access v\S+ enabled OK", compat_run)
    assert re.search(r"server extension: +jupyter_ai_access enabled", compat_run)


@pytest.mark.slow
@pytest.mark.hub
@pytest.mark.kernel
@pytest.mark.timeout(1200)  # the first to run waits for scripts/compat (about 3 minutes)
def test_the_run_used_the_oldest_interpreter_it_found(compat_run):
    used = re.search(r"interpreter: (\S+) \(Python (\d+)\.(\d+)\.\d+\)", compat_run)
    assert used, compat_run[:2000]
    version = (int(used.group(2)), int(used.group(3)))
    assert (3, 10) <= version <= sys.version_info[:2]
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    if any(pyenv.glob("versions/3.10.*/bin/python3.10")):
        assert version == (3, 10)
