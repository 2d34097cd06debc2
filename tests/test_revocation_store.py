"""The Hub's durable pieces: the revocation file and the refresh-token seal's key.

The file is what the Hub reads back at start (a real file in a real folder, as root or not);
the seal must open after a restart what the previous process sealed, with the keys JupyterHub
encrypts auth_state with, and never fall back to a throwaway key.
"""

from __future__ import annotations

import json
import os
import stat
import time

import pytest
from jupyter_ai_access_testing.harness.ci import skip_or_fail

from jupyter_ai_access.errors import ConfigurationError
from jupyter_ai_access.hub.revocation_store import RevocationFile
from jupyter_ai_access.hub.sealing import crypt_key_bytes, seal_for_hub
from jupyter_ai_access.hub.sessions import EndedSessions


def test_ended_sessions_survive_a_new_process_reading_the_same_file(tmp_path):
    path = tmp_path / "revocations.json"
    first = EndedSessions(store=RevocationFile(path))
    first.add("session-1", time.time() + 600)
    first.add("expired", time.time() - 1)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = EndedSessions(store=RevocationFile(path))  # what a restarted Hub loads
    assert set(again.current()) == {"session-1"}
    assert [p.name for p in tmp_path.iterdir()] == ["revocations.json"]  # no temporary left


def test_entries_leave_the_file_once_expired(tmp_path):
    path = tmp_path / "revocations.json"
    now = [1000.0]
    sessions = EndedSessions(clock=lambda: now[0], store=RevocationFile(path))
    sessions.add("short", 1010.0)
    now[0] = 1020.0
    sessions.add("long", 2000.0)
    assert json.loads(path.read_text())["origin_jti"] == {"long": 2000.0}


def test_a_symlinked_file_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text('{"version": 1, "origin_jti": {}}')
    (tmp_path / "revocations.json").symlink_to(elsewhere)
    with pytest.raises(ConfigurationError, match="revocations_file"):
        RevocationFile(tmp_path / "revocations.json").load()


def test_a_folder_others_can_write_is_refused(tmp_path):
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o777)
    with pytest.raises(ConfigurationError, match=r"CognitoOAuthenticator\.revocations_file"):
        RevocationFile(folder / "revocations.json").load()


def test_a_file_others_can_read_or_that_is_not_ours_is_refused(tmp_path):
    path = tmp_path / "revocations.json"
    path.write_text('{"version": 1, "origin_jti": {}}')
    path.chmod(0o644)
    with pytest.raises(ConfigurationError, match="0600"):
        RevocationFile(path).load()


def test_the_seal_opens_after_a_restart_with_the_same_crypt_keys():
    key = os.urandom(32).hex()
    sealed = seal_for_hub("", [crypt_key_bytes(key)]).seal("refresh-token-value")
    assert seal_for_hub("", [crypt_key_bytes(key)]).unseal(sealed) == "refresh-token-value"
    # JupyterHub's key rotation: a new first key seals, the old one still opens
    rotated = seal_for_hub("", [os.urandom(32), crypt_key_bytes(key)])
    assert rotated.unseal(sealed) == "refresh-token-value"


def test_there_is_no_throwaway_key():
    with pytest.raises(ConfigurationError, match=r"CryptKeeper\.keys"):
        seal_for_hub("", [])


def test_a_folder_writable_by_another_group_is_refused_but_not_by_the_hubs_own(tmp_path):
    folder = tmp_path / "volume"
    folder.mkdir()
    folder.chmod(0o2775)  # as a Kubernetes volume with fsGroup: the Hub's own group may write
    RevocationFile(folder / "revocations.json").save({"s": time.time() + 60})
    if os.geteuid() != 0:
        skip_or_fail("giving the folder to another group needs root")
    os.chown(folder, -1, os.getegid() + 1)
    with pytest.raises(ConfigurationError, match="other accounts"):
        RevocationFile(folder / "revocations.json").load()
