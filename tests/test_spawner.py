"""AccountPerUserSpawner: account names, the binding records, and root's work in users' folders.

The first part checks the pieces as root on this machine (real ``useradd``, accounts with a
``jt<hex>-`` prefix, removed afterwards). The second replays attacks against the README's
deployment (a real Hub as root, users logging in through the emulator's page, real kernels):

- bob's kernel replaces ``~/train.ipynb`` by a link to a file outside his home, stops his server
  and starts it again: the Hub (root) creates nothing there and chowns nothing to bob;
- an account that already exists but was not made by the spawner (here ``<prefix>alice``, as a
  system account would be) is refused at spawn with a message that says what to do, and so is
  an account whose record names another Cognito identity.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import pwd
import secrets
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jupyter_ai_access_testing.harness import ROOT
from jupyter_ai_access_testing.harness.ci import skip_or_fail
from jupyter_ai_access_testing.harness.deployment import watched_deployment
from jupyter_ai_access_testing.harness.hub import HubBrowser
from jupyter_ai_access_testing.harness.users import kernel, login, run
from traitlets import TraitError

from jupyter_ai_access.errors import AccountConflictError, ConfigurationError
from jupyter_ai_access.hub.accounts import AccountBindings, account_name, claim_account
from jupyter_ai_access.hub.rootfiles import open_dir, place_file, private_runtime_dir
from jupyter_ai_access.hub.spawner import AccountPerUserSpawner

root_only = pytest.mark.skipif(os.getuid() != 0, reason="creates system accounts (needs root)")


# ---------------------------------------------------------------- account names


@pytest.mark.parametrize(
    ("name", "account"),
    [
        pytest.param("alice", "jaia-alice", id="plain-name-kept"),
        pytest.param("a_b-c9", "jaia-a_b-c9", id="valid-name-kept"),
        pytest.param("alice.smith", "jaia-alice-smith-63425827", id="folded-and-hashed"),
    ],
)
def test_account_names(name, account):
    assert account_name("jaia-", name) == account


@pytest.mark.parametrize(
    "names",
    [
        pytest.param(["alice.smith", "alice-smith-63425827"], id="folded-vs-its-output"),
        pytest.param(["x.deadbeef", "x-deadbeef", "x_deadbeef"], id="hash-like-tail"),
        pytest.param(["deadbeef", "Deadbeef"], id="prefix-junction"),
        pytest.param(["a" * 40, "a" * 41, "a" * 27 + "-0123abcd"], id="long"),
    ],
)
def test_account_names_never_collide(names):
    accounts = [account_name("jaia-", n) for n in names]
    assert len(set(accounts)) == len(names), accounts
    for account in accounts:
        assert len(account) <= 32


@pytest.mark.parametrize("prefix", ["", "Root-", "ja ia-", "-x", "p" * 23])
def test_a_bad_account_prefix_is_refused_naming_the_setting(prefix):
    spawner = AccountPerUserSpawner()
    with pytest.raises(TraitError, match=r"AccountPerUserSpawner\.account_prefix") as e:
        spawner.account_prefix = prefix
    assert repr(prefix) in str(e.value)
    with pytest.raises(ConfigurationError, match=r"AccountPerUserSpawner\.account_prefix"):
        account_name(prefix, "root")


# ---------------------------------------------------------------- binding records


@pytest.fixture
def accounts(tmp_path) -> Iterator[dict[str, Any]]:
    prefix = f"jt{secrets.token_hex(3)}-"
    home_root = tmp_path / "home"
    home_root.mkdir(mode=0o755)
    yield {
        "prefix": prefix,
        "home_root": str(home_root),
        "bindings": AccountBindings(tmp_path / "state" / "accounts"),
    }
    for line in Path("/etc/passwd").read_text().splitlines():
        if line.startswith(prefix):
            subprocess.run(["userdel", line.split(":")[0]], check=False, capture_output=True)


@root_only
def test_an_account_is_bound_to_its_user_and_sub_and_a_mismatch_is_refused(accounts):
    bindings, home_root = accounts["bindings"], accounts["home_root"]
    account = account_name(accounts["prefix"], "alice.smith")
    entry, created = claim_account(bindings, account, "alice.smith", "sub-1", home_root)
    assert created and entry.pw_name == account and entry.pw_uid != 0
    record = bindings.path(account)
    info = record.lstat()
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o600)
    assert stat.S_IMODE(record.parent.stat().st_mode) == 0o700
    assert json.loads(record.read_text()) == {
        "account": account,
        "hub_user": "alice.smith",
        "sub": "sub-1",
        "uid": entry.pw_uid,
    }
    again, created = claim_account(bindings, account, "alice.smith", "sub-1", home_root)
    assert not created and again.pw_uid == entry.pw_uid

    for user, sub in [("alice.smith", "sub-2"), ("alice-smith-63425827", "sub-1")]:
        with pytest.raises(AccountConflictError) as e:
            claim_account(bindings, account, user, sub, home_root)
        assert "another JupyterHub user or Cognito identity" in str(e.value)
        assert f"userdel --remove {account}" in str(e.value)


@root_only
def test_an_account_made_before_the_first_login_is_bound_by_it(accounts):
    bindings, home_root = accounts["bindings"], accounts["home_root"]
    account = accounts["prefix"] + "dave"
    entry, _ = claim_account(bindings, account, "dave", None, home_root)  # no auth_state yet
    again, created = claim_account(bindings, account, "dave", "sub-d", home_root)
    assert not created and again.pw_uid == entry.pw_uid
    assert bindings.get(account).sub == "sub-d"
    for sub in (None, "sub-other"):  # from then on, that identity only
        with pytest.raises(AccountConflictError):
            claim_account(bindings, account, "dave", sub, home_root)


@root_only
def test_an_account_not_made_by_the_spawner_is_refused(accounts):
    account = accounts["prefix"] + "root"
    subprocess.run(["useradd", "--no-create-home", account], check=True, capture_output=True)
    with pytest.raises(AccountConflictError, match="was not made by AccountPerUserSpawner"):
        claim_account(accounts["bindings"], account, "root", "sub-r", accounts["home_root"])


@root_only
def test_a_new_account_does_not_inherit_a_home_left_behind(accounts):
    account = accounts["prefix"] + "carol"
    left = Path(accounts["home_root"]) / account
    left.mkdir()
    (left / "notes").write_text("the old carol's")
    with pytest.raises(AccountConflictError, match="already exists"):
        claim_account(accounts["bindings"], account, "carol", "sub-new", accounts["home_root"])
    with pytest.raises(KeyError):
        pwd.getpwnam(account)


# ---------------------------------------------------------------- root in users' folders


@root_only
def test_copying_a_skeleton_file_never_follows_a_planted_link(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "train.ipynb").symlink_to(outside / "created")  # dangling: the old code made it
    (home / "other.ipynb").symlink_to(outside / "existing")
    (outside / "existing").write_text("root's")
    source = tmp_path / "skeleton.ipynb"
    source.write_text("{}")
    with open_dir(home, "test home") as fd:
        assert place_file(fd, "train.ipynb", source, 4242, 4242) is False
        assert place_file(fd, "other.ipynb", source, 4242, 4242) is False
        assert place_file(fd, "new.ipynb", source, 4242, 4242) is True
    assert not (outside / "created").exists()
    assert (outside / "existing").read_text() == "root's"
    assert (outside / "existing").stat().st_uid == 0
    new = (home / "new.ipynb").lstat()
    assert (new.st_uid, new.st_gid, (home / "new.ipynb").read_text()) == (4242, 4242, "{}")


@root_only
def test_a_runtime_folder_left_by_another_owner_is_emptied(tmp_path):
    root = tmp_path / "run"
    old = root / "jaia-dave"
    old.mkdir(parents=True)
    (old / "jupyter-ai-access").mkdir()
    (old / "jupyter-ai-access" / "access_token").write_text("the old dave's")
    os.chown(old, 4243, 4243)
    (root / "jaia-erin").symlink_to(tmp_path)  # not a folder: replaced, the target untouched
    with open_dir(root, "test runtime_root", mode=0o755) as fd:
        private_runtime_dir(fd, "jaia-dave", 4244, 4244)
        private_runtime_dir(fd, "jaia-erin", 4245, 4245)
    for name, uid in [("jaia-dave", 4244), ("jaia-erin", 4245)]:
        info = (root / name).lstat()
        assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700
        assert (info.st_uid, info.st_gid) == (uid, uid)
        assert list((root / name).iterdir()) == []
    assert tmp_path.stat().st_uid == 0 and stat.S_IMODE(root.stat().st_mode) == 0o755


def test_a_folder_replaced_by_a_link_is_refused_and_not_followed(tmp_path):
    (tmp_path / "home").symlink_to(tmp_path / "elsewhere")  # dangling: mkdir would create it
    with (
        pytest.raises(ConfigurationError, match="is a link"),
        open_dir(tmp_path / "home", "SimpleLocalProcessSpawner.home_dir_template", mode=0o755),
    ):
        pass
    assert not (tmp_path / "elsewhere").exists()


def test_a_runtime_root_writable_by_others_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    refused = pytest.raises(ConfigurationError, match=r"AccountPerUserSpawner\.runtime_root")
    with refused, open_dir(shared, "AccountPerUserSpawner.runtime_root"):
        pass


# ---------------------------------------------------------------- the README's deployment


@pytest.fixture(scope="module")
def deployment(tmp_path_factory, canaries, leak_watcher) -> Iterator[dict[str, Any]]:
    with watched_deployment(tmp_path_factory, canaries, leak_watcher) as hub:
        if not hub["isolated"]:
            skip_or_fail("the deployment does not isolate users here: no accounts to attack")
        yield hub


def spawn(deployment: dict[str, Any], name: str) -> None:
    """Start the server and wait until it is ready."""
    hub = deployment["hub"]
    with contextlib.suppress(httpx.TimeoutException):  # answered after slow_spawn_timeout (10 s)
        hub.api("POST", f"/users/{name}/server")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        server = ((hub.user(name, auth_state=False) or {}).get("servers") or {}).get("")
        if server and server.get("ready"):
            return
        time.sleep(0.5)
    pytest.fail(f"{name}'s server did not start: {hub.log_tail()}")


def stop(deployment: dict[str, Any], name: str) -> None:
    hub = deployment["hub"]
    hub.api("DELETE", f"/users/{name}/server")
    deadline = time.monotonic() + 60
    while (hub.user(name, auth_state=False) or {}).get("servers"):
        assert time.monotonic() < deadline, f"{name}'s server did not stop"
        time.sleep(0.5)


def refused_spawn(deployment: dict[str, Any], name: str) -> str:
    """Ask for the server, which must fail; return the Hub's message about it."""
    hub = deployment["hub"]
    with contextlib.suppress(httpx.TimeoutException):
        hub.api("POST", f"/users/{name}/server")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        server = ((hub.user(name, auth_state=False) or {}).get("servers") or {}).get("")
        if not server or not server.get("pending"):
            break
        time.sleep(0.5)
    assert (
        not ((hub.user(name, auth_state=False) or {}).get("servers") or {}).get("", {}).get("ready")
    ), f"{name}'s server started"
    events = hub.api("GET", f"/users/{name}/server/progress").text
    return "\n".join(line for line in events.splitlines() if line.startswith("data:"))


async def test_a_link_planted_in_the_home_never_leads_root_outside_it(deployment, tmp_path):
    prefix = deployment["account_prefix"]
    outside = tmp_path / "root-only"  # inside pytest's 0700 root folder: only root gets there
    outside.mkdir()
    target = outside / "planted.pth"
    login(deployment, "bob").close()
    spawn(deployment, "bob")
    bob = await kernel(deployment, "bob")
    try:
        code = "import os; p = os.path.expanduser('~/train.ipynb'); os.remove(p); "
        code += f"os.symlink({str(target)!r}, p); print(os.getuid())"
        uid = int(await run(bob, code))
    finally:
        await bob.shutdown()
    stop(deployment, "bob")
    spawn(deployment, "bob")  # the Hub (root) prepares bob's home again

    home = Path(pwd.getpwnam(prefix + "bob").pw_dir)
    assert os.readlink(home / "train.ipynb") == str(target)  # left alone
    assert not os.path.lexists(target)
    assert list(outside.iterdir()) == []
    # nothing belongs to bob outside his home and runtime folder: system folders, the Python
    # every root process runs, the demo's state and checkout, the other homes
    places = ["/etc", "/usr", "/var", "/root", "/home", "/run", "/opt", sys.prefix, str(ROOT)]
    places.append(str(outside))
    found = subprocess.run(
        [
            "find",
            *places,
            "-xdev",
            "(",
            "-path",
            str(home),
            "-o",
            "-path",
            f"/run/jupyter-ai-access/{prefix}bob",
            "-o",
            "-path",
            "/run/user",
            ")",
            "-prune",
            "-o",
            "-uid",
            str(uid),
            "-print",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    ).stdout.split()
    assert found == [], found


async def test_a_spawn_whose_identity_differs_from_the_accounts_record_is_refused(deployment):
    account = deployment["account_prefix"] + "bob"
    login(deployment, "bob").close()
    spawn(deployment, "bob")
    stop(deployment, "bob")
    record = deployment["state"] / "accounts" / f"{account}.json"
    bound = json.loads(record.read_text())
    assert (
        bound["hub_user"] == "bob"
        and bound["sub"] == deployment["hub"].user("bob")["auth_state"]["sub"]
    )
    record.write_text(json.dumps({**bound, "sub": "another-identity"}))  # bob's name, reused
    try:
        message = refused_spawn(deployment, "bob")
    finally:
        record.write_text(json.dumps(bound))
    assert f"Cannot start a server as the system account {account}" in message, message
    assert "made for another JupyterHub user or Cognito identity" in message
    assert f"userdel --remove {account}" in message
    spawn(deployment, "bob")  # the record's own identity starts again


async def test_a_spawn_for_an_account_the_spawner_did_not_make_is_refused(deployment):
    account = deployment["account_prefix"] + "alice"
    subprocess.run(["useradd", "--create-home", account], check=True, capture_output=True)
    with HubBrowser(deployment["url"]) as browser:  # the Hub starts her server at login
        page = browser.login("alice", deployment["passwords"]["alice"])
    assert page.status_code == 409
    assert f"the system account {account}: it exists but was not made" in html.unescape(page.text)
    message = refused_spawn(deployment, "alice")
    assert f"Cannot start a server as the system account {account}" in message, message
    assert "was not made by AccountPerUserSpawner" in message
    assert f"userdel {account}" in message
