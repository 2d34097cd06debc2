"""The demo's secrets are generated per state folder: no two demos share them, restarts keep them."""

from __future__ import annotations

import json
import stat

import pytest

from jupyter_ai_access.demo.settings import DEMO_POOL_FILE
from jupyter_ai_access.local_cognito.generated import ensure_generated, generate_password
from jupyter_ai_access.pooldesc import load_pool

DEMO = load_pool(DEMO_POOL_FILE)


def test_two_state_folders_get_different_passwords_and_client_secrets(tmp_path):
    one = ensure_generated(tmp_path / "one", DEMO)
    two = ensure_generated(tmp_path / "two", DEMO)
    assert set(one.passwords) == {"alice", "bob", "carol"}
    for user in one.passwords:
        assert one.passwords[user] != two.passwords[user]
    assert set(one.client_secrets) == {c.client_id for c in DEMO.app_clients}
    for cid in one.client_secrets:
        assert one.client_secrets[cid] != two.client_secrets[cid]


def test_a_restart_keeps_what_was_generated(tmp_path):
    first = ensure_generated(tmp_path / "state", DEMO)
    again = ensure_generated(tmp_path / "state", DEMO)
    assert again.passwords == first.passwords
    assert again.client_secrets == first.client_secrets


def test_generated_files_are_private_and_fill_the_description(tmp_path):
    state = tmp_path / "state"
    generated = ensure_generated(state, DEMO)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    for name in ("passwords.json", "client_secrets.json"):
        assert stat.S_IMODE((state / name).stat().st_mode) == 0o600
    assert json.loads((state / "passwords.json").read_text()) == generated.passwords
    users = {u["username"]: u["password"] for u in generated.description["users"]}
    assert users == generated.passwords
    clients = {c["client_id"]: c["client_secret"] for c in generated.description["app_clients"]}
    assert clients == generated.client_secrets


def test_passwords_given_in_the_description_are_kept_and_not_stored(tmp_path):
    raw = json.loads(json.dumps(DEMO.raw))
    raw["users"][0]["password"] = "given-Password-1!"
    pool = load_pool_from(tmp_path, raw)
    generated = ensure_generated(tmp_path / "state", pool)
    assert generated.passwords["alice"] == "given-Password-1!"
    stored = json.loads((tmp_path / "state" / "passwords.json").read_text())
    assert "alice" not in stored and set(stored) == {"bob", "carol"}


@pytest.mark.parametrize("n", range(5))
def test_generated_passwords_meet_cognitos_default_policy(n):
    pw = generate_password()
    assert len(pw) >= 8
    assert any(c.isupper() for c in pw) and any(c.islower() for c in pw)
    assert any(c.isdigit() for c in pw) and any(not c.isalnum() for c in pw)


def test_a_state_folder_owned_by_a_link_is_refused(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(PermissionError, match="link or belongs to another user"):
        ensure_generated(tmp_path / "link", DEMO)


def load_pool_from(tmp_path, raw):
    path = tmp_path / "pool.json"
    path.write_text(json.dumps(raw))
    return load_pool(path)
