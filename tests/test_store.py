"""KernelTokenStore's folders: per user, private, and not deniable by another local account."""

from __future__ import annotations

import os
import stat
import tempfile

import pytest

from jupyter_ai_access.errors import ConfigurationError
from jupyter_ai_access.server.store import KernelTokenStore


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """tempfile's folder moved to tmp_path, and no XDG_RUNTIME_DIR (as under JupyterHub)."""
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def assert_private(path):
    info = path.lstat()
    assert stat.S_ISDIR(info.st_mode) and not stat.S_ISLNK(info.st_mode)
    assert info.st_uid == os.getuid()
    assert stat.S_IMODE(info.st_mode) == 0o700


def test_default_folder_is_per_user_under_the_runtime_dir(tmp_path, monkeypatch):
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    alice = KernelTokenStore(user="alice").prepare()
    bob = KernelTokenStore(user="bob").prepare()
    assert alice == runtime / "jupyter-ai-access" / "alice"
    assert bob == runtime / "jupyter-ai-access" / "bob"
    assert_private(alice)
    assert_private(runtime / "jupyter-ai-access")


def test_a_link_planted_at_the_fallback_does_not_stop_token_delivery(private_tmp):
    elsewhere = private_tmp / "attacker"
    elsewhere.mkdir()
    (private_tmp / f"jupyter-ai-access-{os.getuid()}").symlink_to(elsewhere)
    store = KernelTokenStore(user="alice")
    base = store.prepare()
    assert base.parent == private_tmp
    assert base.name.startswith(f"jupyter-ai-access-{os.getuid()}-")
    assert_private(base)
    assert list(elsewhere.iterdir()) == []  # nothing written through the link
    env = store.add_kernel("k1", None)
    assert env["JUPYTER_AI_ACCESS_DIR"].startswith(str(base))
    assert store.prepare() == base  # chosen once


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to make a folder owned by another account")
def test_a_folder_pre_created_by_another_account_does_not_stop_token_delivery(private_tmp):
    taken = private_tmp / f"jupyter-ai-access-{os.getuid()}"
    taken.mkdir(mode=0o777)
    os.chown(taken, 65534, 65534)  # nobody
    base = KernelTokenStore(user="alice").prepare()
    assert base != taken / "alice" and base.parent == private_tmp
    assert_private(base)


def test_an_explicit_token_dir_that_is_not_ours_is_refused(private_tmp):
    (private_tmp / "link").symlink_to(private_tmp)
    with pytest.raises(ConfigurationError, match="link or belongs to another user"):
        KernelTokenStore(token_dir=str(private_tmp / "link")).prepare()
