"""``./run-demo`` as a person meets it: moved ports, taken ports, stopping it from a script.

Runs the real command (its bootstrap finds everything installed already) with every port moved
to a free one and the state in a temporary folder; as root the per-user accounts get a prefix of
this run and are removed afterwards.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from jupyter_ai_access_testing.harness.ci import skip_or_fail
from jupyter_ai_access_testing.harness.deployment import _remove_accounts
from jupyter_ai_access_testing.harness.hub import HubBrowser
from jupyter_ai_access_testing.ports import free_port

from jupyter_ai_access.demo.deployment import claim_accounts, isolate_users
from jupyter_ai_access.demo.settings import DEMO_POOL_FILE, DEMO_PORTS, DEMO_SETTINGS

pytestmark = pytest.mark.hub

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def demo_env(tmp_path) -> Iterator[dict[str, str]]:
    prefix = f"jt{secrets.token_hex(3)}-"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COGNITO_", "JAIA_"))}
    env.pop("JUPYTERHUB_CRYPT_KEY", None)
    env.update({variable: str(free_port()) for variable, _ in DEMO_PORTS.values()})
    env.update({"JAIA_STATE_DIR": str(tmp_path / "state"), "JAIA_ACCOUNT_PREFIX": prefix})
    yield env
    _remove_accounts(prefix)


def start_demo(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """./run-demo started the way a script starts a background job: SIGINT ignored."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(ROOT / "run-demo")],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
            start_new_session=True,
        )


def wait_until_up(env: dict[str, str], proc: subprocess.Popen[bytes], log: Path) -> str:
    hub = f"http://127.0.0.1:{env['JAIA_HUB_PORT']}"
    checks = [
        f"{hub}/hub/api/",
        f"http://127.0.0.1:{env['JAIA_COGNITO_PORT']}/health",
        f"http://127.0.0.1:{env['JAIA_REGISTRY_PORT']}/health",
    ]
    deadline = time.monotonic() + 120
    for url in checks:
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"{url} did not come up:\n{log.read_text()[-3000:]}"
            time.sleep(0.3)
    return hub


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize("stop_with", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_moved_ports_work_end_to_end_and_a_background_demo_stops_promptly(
    demo_env, tmp_path, stop_with, canaries
):
    log = tmp_path / "demo.log"
    proc = start_demo(demo_env, log)
    try:
        hub = wait_until_up(demo_env, proc, log)
        passwords = json.loads(
            (Path(demo_env["JAIA_STATE_DIR"]) / "local-cognito/passwords.json").read_text()
        )
        for password in passwords.values():
            canaries.register(password, "demo password")
        with HubBrowser(hub) as browser:  # the emulator knows the moved callback URL
            response = browser.login("bob", passwords["bob"], next_url="/hub/home")
            assert response.status_code == 200, response.text[-500:]
            assert browser.logged_in
        banner = log.read_text()
        assert f"JupyterHub with jupyter_ai_access: {hub}" in banner
        assert (
            f"local Cognito emulator on http://127.0.0.1:{demo_env['JAIA_COGNITO_PORT']}" in banner
        )
        # the emulator's "try a login" hint (in the Hub's log) goes to the Hub where it runs
        hint = next(line for line in banner.splitlines() if "try a login:" in line)
        assert f"redirect_uri={hub}/hub/oauth_callback" in hint, hint
    finally:
        started = time.monotonic()
        os.kill(proc.pid, stop_with)
        try:
            proc.wait(60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    took = time.monotonic() - started
    assert proc.returncode is not None
    (tmp_path / "stop-seconds").write_text(f"{took:.2f}")  # the figure, for the README's table
    deadline = time.monotonic() + 20
    ports = [int(demo_env[v]) for v, _ in DEMO_PORTS.values()]
    while not all(port_free(p) for p in ports) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p for p in ports if not port_free(p)]
    listeners = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True, check=False).stdout
    assert left == [], "left running:\n" + "\n".join(
        line for line in listeners.splitlines() if any(f":{p} " in line for p in left)
    )


@pytest.mark.parametrize("variable", [v for v, _ in DEMO_PORTS.values()])
def test_a_taken_port_stops_start_up_with_one_line_naming_its_variable(demo_env, variable):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        demo_env[variable] = str(port)
        result = subprocess.run(
            [str(ROOT / "run-demo")],
            env=demo_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode != 0
    assert "JupyterHub with jupyter_ai_access" not in result.stdout  # no "running" banner
    last = result.stderr.strip().splitlines()[-1]
    assert f"port {port}" in last and f"{variable}=<port>" in last
    assert "Traceback" not in result.stderr
    assert not (Path(demo_env["JAIA_STATE_DIR"]) / "jupyterhub.sqlite").exists()


# ---------------------------------------------------------------- isolation fails closed
@pytest.mark.parametrize(
    ("environ", "root", "expected"),
    [
        pytest.param({}, True, True, id="root-isolates"),
        pytest.param({}, False, False, id="not-root-cannot"),
        pytest.param({"JAIA_ISOLATION": "off"}, True, False, id="off-said-explicitly"),
        pytest.param({"JAIA_ISOLATION": "accounts"}, True, True, id="accounts-said"),
    ],
)
def test_isolation_is_what_the_operator_said(environ, root, expected):
    # this checkout is reachable by other accounts (./run-tests makes sure, see there)
    assert isolate_users(environ, root=root, paths=[ROOT]) is expected


def test_as_root_a_folder_the_accounts_cannot_enter_refuses_instead_of_running_users_as_root(
    tmp_path,
):
    locked = tmp_path / "locked"
    (locked / "checkout").mkdir(parents=True)
    locked.chmod(0o700)
    with pytest.raises(SystemExit) as refused:
        isolate_users({}, root=True, paths=[locked / "checkout"])
    message = str(refused.value)
    assert f"{locked} (mode 700) cannot be entered" in message
    assert f"chmod o+x {locked}" in message and "JAIA_ISOLATION=off" in message
    # said explicitly, the operator gets what they asked for
    assert isolate_users({"JAIA_ISOLATION": "off"}, root=True, paths=[locked / "checkout"]) is False


def test_a_checkout_the_accounts_can_enter_but_not_list_is_refused_too(tmp_path):
    # Python's import system lists the folders on sys.path: with o+x alone, a kernel of another
    # account finds no jupyter_ai_access in an editable checkout.
    opened = tmp_path / "opened"
    checkout = opened / "checkout"
    checkout.mkdir(parents=True)
    opened.chmod(0o711)
    checkout.chmod(0o711)
    with pytest.raises(SystemExit) as refused:
        isolate_users({}, root=True, paths=[checkout])
    message = str(refused.value)
    assert f"{checkout} (mode 711) cannot be listed by other accounts" in message
    assert f"chmod o+rx {checkout}" in message


def test_a_misspelled_isolation_mode_is_refused(tmp_path):
    with pytest.raises(SystemExit) as refused:
        isolate_users({"JAIA_ISOLATION": "of"}, root=True, paths=[tmp_path])
    assert str(refused.value) == (
        "jupyter_ai_access: JAIA_ISOLATION='of' is not one of accounts, off"
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="the Hub refuses only when run as root")
def test_the_hub_as_root_refuses_to_start_from_a_folder_the_accounts_cannot_enter(
    demo_env, tmp_path
):
    # The README's configuration, run from a checkout under a 0700 folder (a clone in /root or
    # in `mktemp -d`): one line naming the folder and the fixes; no server, no --allow-root.
    locked = tmp_path / "locked"
    checkout = locked / "checkout"
    checkout.mkdir(parents=True)
    (checkout / "jupyterhub_config.py").write_text((ROOT / "jupyterhub_config.py").read_text())
    locked.chmod(0o700)
    demo_env["JAIA_POOL_FILE"] = str(DEMO_POOL_FILE)
    result = subprocess.run(
        [str(ROOT / ".venv/bin/jupyterhub"), "-f", str(checkout / "jupyterhub_config.py")],
        env=demo_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "refusing to start as root" in last and f"chmod o+x {locked}" in last, result.stderr
    assert not (Path(demo_env["JAIA_STATE_DIR"]) / "jupyterhub.sqlite").exists()
    assert port_free(int(demo_env["JAIA_HUB_PORT"]))  # nothing was started


def test_stopping_the_demo_stops_users_servers_too(demo_env, tmp_path, canaries):
    # Ctrl-C to ./run-demo is "stop the demo": users' servers and kernels end with it, through
    # the Hub's API (their servers clean up as on any stop). A restart of the Hub process alone
    # keeps them (tests/test_restart.py).
    if os.geteuid() != 0:
        skip_or_fail("telling users' servers apart by their accounts needs the demo as root")
    log = tmp_path / "demo.log"
    proc = start_demo(demo_env, log)
    account = f"{demo_env['JAIA_ACCOUNT_PREFIX']}bob"
    try:
        hub = wait_until_up(demo_env, proc, log)
        passwords = json.loads(
            (Path(demo_env["JAIA_STATE_DIR"]) / "local-cognito/passwords.json").read_text()
        )
        for password in passwords.values():
            canaries.register(password, "demo password")
        with HubBrowser(hub) as browser:  # the default next: bob's server is spawned
            assert browser.login("bob", passwords["bob"]).status_code == 200
        assert processes_of(account), "bob's server did not start"
    finally:
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, log.read_text()[-3000:]
    deadline = time.monotonic() + 20
    while processes_of(account) and time.monotonic() < deadline:
        time.sleep(0.3)
    left = processes_of(account)
    subprocess.run(["pkill", "-KILL", "-u", account], check=False)  # for the cleanup, if any
    assert left == [], f"{account} still runs: {left}"
    assert "server(s) stopped" in log.read_text()


def processes_of(account: str) -> list[str]:
    result = subprocess.run(
        ["pgrep", "-a", "-u", account], capture_output=True, text=True, check=False
    )
    return result.stdout.splitlines()


# ---------------------------------------------------------------- what the tutorial lists
def test_the_tutorial_lists_every_port_and_setting_the_demo_reads():
    readme = (ROOT / "docs" / "tutorial" / "local-demo.md").read_text()
    section = readme[readme.index("What runs (all on 127.0.0.1") : readme.index("**Who can see")]
    listed = {v: int(p) for p, v in re.findall(r"^\| (\d+) \| `(JAIA_\w+)` \|", section, re.M)}
    assert listed == {variable: port for variable, port in DEMO_PORTS.values()}
    settings = set(re.findall(r"^\| `(JAIA_\w+)` \|", section, re.M))
    read = {
        name
        for path in ("jupyterhub_config.py", "run-demo")
        for name in re.findall(r"\bJAIA_[A-Z0-9_]*[A-Z0-9]\b", (ROOT / path).read_text())
    } - {variable for variable, _ in DEMO_PORTS.values()}
    assert read <= settings <= set(DEMO_SETTINGS)
    # the configuration's comment names every port it binds
    config = (ROOT / "jupyterhub_config.py").read_text()
    comment = config[: config.index("PORTS = ")]
    assert [v for v, _ in DEMO_PORTS.values() if v not in comment] == []


# ---------------------------------------------------------------- settings a person gets wrong
def refused(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """./run-demo expected to refuse: it must leave nothing behind."""
    proc = subprocess.Popen(
        [str(ROOT / "run-demo")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:  # it started after all: stop it as Ctrl-C would
        os.kill(proc.pid, signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"./run-demo started instead of refusing:\n{err[-3000:]}")
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert result.returncode != 0, result.stdout + result.stderr
    assert "JupyterHub with jupyter_ai_access" not in result.stdout  # no "running" banner
    assert "Traceback" not in result.stderr, result.stderr
    assert not (Path(env["JAIA_STATE_DIR"]) / "jupyterhub.sqlite").exists()
    assert [v for v, _ in DEMO_PORTS.values() if not port_free(int(env[v]))] == []
    return result


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        pytest.param(
            {"JAIA_PUBLIC_URL": "127.0.0.1:20800"},
            ["JAIA_PUBLIC_URL='127.0.0.1:20800' is not a URL", "http://127.0.0.1:"],
            id="public-url-without-scheme",
        ),
        pytest.param(
            {"JAIA_PUBLIC_URL": "http://127.0.0.1:80x/"},
            ["JAIA_PUBLIC_URL='http://127.0.0.1:80x/' is not a URL"],
            id="public-url-bad-port",
        ),
        pytest.param(
            {"JAIA_POOL_FILE": "/nonexistent/pool.json"},
            ["JAIA_POOL_FILE: /nonexistent/pool.json: (file): not found"],
            id="pool-file-missing",
        ),
        pytest.param(
            {"JAIA_ISOLATION": "of"},
            ["JAIA_ISOLATION='of' is not one of accounts, off"],
            id="isolation-misspelled",
        ),
        pytest.param(
            {"COGNITO_USER_POOL_ID": "eu-west-1_AbC123xyz"},
            [
                "CognitoOAuthenticator.issuer is not set",
                "$COGNITO_REGION",
                "CognitoOAuthenticator.domain is not set",
                "CognitoOAuthenticator.client_id is not set",
                "CognitoOAuthenticator.client_secret is not set",
            ],
            id="real-pool-missing-settings-all-at-once",
        ),
    ],
)
def test_a_bad_setting_is_one_line_naming_it_and_nothing_starts(demo_env, setting, words):
    demo_env.update(setting)
    result = refused(demo_env)
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("jupyter_ai_access: "), result.stderr
    assert [w for w in words if w not in last] == [], result.stderr


def test_a_misspelled_setting_is_named_with_the_one_meant(demo_env):
    # stopped by a taken port, so the warning is seen without starting everything
    demo_env["JAIA_COGNTIO_PORT"] = "9300"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(demo_env["JAIA_HUB_PORT"])))
        taken.listen()
        result = subprocess.run(
            [str(ROOT / "run-demo")],
            env=demo_env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
    assert (
        "jupyter_ai_access: WARNING: JAIA_COGNTIO_PORT is not a setting of the demo and is "
        "ignored (did you mean JAIA_COGNITO_PORT?" in result.stderr
    ), result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="the per-user accounts exist only as root")
def test_a_second_demo_with_the_same_accounts_refuses_to_start(demo_env, tmp_path):
    # another demo on this machine holds the accounts <prefix>* (as its Hub does while it runs)
    prefix = demo_env["JAIA_ACCOUNT_PREFIX"]
    other = claim_accounts(prefix, tmp_path / "other-demo")
    try:
        result = refused(demo_env)
    finally:
        os.close(other)
    last = result.stderr.strip().splitlines()[-1]
    assert f"another demo on this machine (state folder {tmp_path / 'other-demo'})" in last
    assert f"accounts {prefix}<name>" in last and "JAIA_ACCOUNT_PREFIX=<prefix>" in last
