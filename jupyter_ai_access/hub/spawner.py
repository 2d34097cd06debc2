"""A spawner that gives every Cognito user a system account of their own (the Hub runs as root).

A kernel runs arbitrary code as its OS user, so whatever one user's kernel can read, that user
can read. With one OS account per person, another user's token folder (0700), their servers'
``/proc/<pid>/environ`` (with the server's Hub API token) and the Hub's database, cookie secret
and crypt key (0600/0700, owned by root) are out of reach.

``AccountPerUserSpawner`` is JupyterHub's ``LocalProcessSpawner`` with two differences:

- the account is ``<account_prefix><name>`` (e.g. ``jaia-alice``), never the Cognito name itself:
  a Cognito user called ``root`` or ``daemon`` must not become that account. Names that are not
  valid account names, or too long, are folded and suffixed with a hash;
- the account is created on first spawn (``useradd``, no password, no login shell), with a 0700
  home and a private runtime folder ``<runtime_root>/<uid>`` (0700) given to the server as
  ``XDG_RUNTIME_DIR``, where the extension keeps the kernels' token folders.

Needs root (the Hub's OS account must be able to create accounts and switch to them), and a
Python that every account can run (not one under a 0700 home such as ``/root``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from jupyterhub.utils import maybe_future
from traitlets import List, Unicode

from ..errors import ConfigurationError

__all__ = ["AccountPerUserSpawner", "account_name"]

_VALID = re.compile(r"^[a-z_][a-z0-9_-]*$")


def account_name(prefix: str, name: str) -> str:
    """The system account for JupyterHub user ``name``: ``prefix + name``, folded when needed."""
    folded = re.sub(r"[^a-z0-9_-]", "-", name.lower())
    candidate = prefix + folded
    if folded != name or len(candidate) > 32:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        candidate = f"{(prefix + folded)[: 32 - 9]}-{digest}"
    if not _VALID.match(candidate):
        raise ConfigurationError(
            f"AccountPerUserSpawner.account_prefix {prefix!r} gives the invalid account name "
            f"{candidate!r}: use lowercase letters, digits, '-' or '_'"
        )
    return candidate


class AccountPerUserSpawner(LocalProcessSpawner):
    """Run each user's server as a system account of its own, created on first spawn."""

    account_prefix = Unicode(
        "jaia-",
        config=True,
        help="""Prefix of the system accounts (jaia-<username>), so that a Cognito name never
        becomes an existing account. Default: "jaia-".""",
    )
    home_root = Unicode(
        "/home",
        config=True,
        help="Where the accounts' home folders (0700) are created. Default: /home.",
    )
    runtime_root = Unicode(
        "/run/jupyter-ai-access",
        config=True,
        help="""Parent of each account's private runtime folder <runtime_root>/<uid> (0700,
        owned by the account), passed to the server as XDG_RUNTIME_DIR: the kernels' token
        folders live there. Default: /run/jupyter-ai-access.""",
    )
    skeleton_files = List(
        Unicode(),
        config=True,
        help="""Files copied into a new home folder (owned by the account), e.g. an example
        notebook. Default: none.""",
    )

    @property
    def account(self) -> str:
        """This user's system account."""
        return account_name(self.account_prefix, self.user.name)

    async def run_pre_spawn_hook(self) -> Any:
        """Create the account (first spawn) before the configured pre-spawn hook runs."""
        if os.getuid() != 0:
            raise ConfigurationError(
                "AccountPerUserSpawner needs the Hub to run as root (to create accounts and "
                "switch to them); use SimpleLocalProcessSpawner otherwise (no isolation)"
            )
        await asyncio.to_thread(self._ensure_account)
        return await maybe_future(super().run_pre_spawn_hook())

    def _ensure_account(self) -> None:
        account = self.account
        try:
            entry = pwd.getpwnam(account)
        except KeyError:
            home = Path(self.home_root) / account
            subprocess.run(
                [
                    shutil.which("useradd") or "/usr/sbin/useradd",
                    "--create-home",
                    "--home-dir",
                    str(home),
                    "--shell",
                    "/bin/bash",  # JupyterLab's terminal; no password: no login anyway
                    "--user-group",
                    "--comment",
                    "jupyter_ai_access user",
                    account,
                ],
                check=True,
                capture_output=True,
            )
            entry = pwd.getpwnam(account)
            self.log.info("Created the system account %s for %s", account, self.user.name)
        home = Path(entry.pw_dir)
        home.chmod(0o700)
        for source in self.skeleton_files:
            target = home / Path(source).name
            if not target.exists():
                shutil.copyfile(source, target)
                os.chown(target, entry.pw_uid, entry.pw_gid)
        runtime = self._runtime_dir(entry)
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chown(runtime, entry.pw_uid, entry.pw_gid)
        runtime.chmod(0o700)

    def _runtime_dir(self, entry: pwd.struct_passwd) -> Path:
        return Path(self.runtime_root) / str(entry.pw_uid)

    def make_preexec_fn(self, name: str) -> Any:
        """Switch to the user's account (not to an account named like the Cognito user)."""
        return set_user_setuid(self.account)

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        """The account's USER, HOME and private XDG_RUNTIME_DIR."""
        entry = pwd.getpwnam(self.account)
        env["USER"] = self.account
        env["HOME"] = entry.pw_dir
        env["SHELL"] = "/bin/bash"
        env["XDG_RUNTIME_DIR"] = str(self._runtime_dir(entry))
        return env

    async def move_certs(self, paths: dict[str, str]) -> dict[str, str]:
        """Internal SSL is not supported with per-user accounts here."""
        raise ConfigurationError("AccountPerUserSpawner does not support JupyterHub.internal_ssl")
