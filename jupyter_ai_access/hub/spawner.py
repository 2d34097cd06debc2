"""A spawner that gives every Cognito user a system account of their own (the Hub runs as root).

A kernel runs arbitrary code as its OS user, so whatever one user's kernel can read, that user
can read. With one OS account per person, another user's token folder (0700), their servers'
``/proc/<pid>/environ`` (with the server's Hub API token) and the Hub's database, cookie secret
and crypt key (0600/0700, owned by root) are out of reach.

``AccountPerUserSpawner`` is JupyterHub's ``LocalProcessSpawner`` with these differences:

- the account is ``<account_prefix><name>`` (e.g. ``jaia-alice``), never the Cognito name itself:
  a Cognito user called ``root`` or ``daemon`` must not become that account. Other names are
  folded and suffixed with a hash, collision-free (``accounts.account_name``);
- the account is created on first spawn (``useradd``, no password; bash for JupyterLab's
  terminal) and bound to the Hub user and their Cognito ``sub`` in a root-owned record
  (``bindings_dir``): a spawn whose user or identity differs from the record, or for an account
  the spawner did not make, is refused;
- its home is 0700; skeleton files are copied into it without following links (``rootfiles``);
  its private runtime folder ``<runtime_root>/<account>`` (0700, emptied when it was not this
  account's) is given to the server as ``XDG_RUNTIME_DIR``, where the extension keeps the
  kernels' token folders.

Needs root (the Hub's OS account must be able to create accounts and switch to them), and a
Python that every account can run (not one under a 0700 home such as ``/root``).
"""

from __future__ import annotations

import asyncio
import os
import pwd
from pathlib import Path
from typing import Any

from jupyterhub.spawner import LocalProcessSpawner, set_user_setuid
from jupyterhub.utils import maybe_future
from tornado import web
from traitlets import List, TraitError, Unicode, validate

from ..errors import AccountConflictError, ConfigurationError
from .accounts import AccountBindings, account_name, claim_account, prefix_problem
from .rootfiles import open_dir, open_home, place_file, private_runtime_dir, remove_owned_by

__all__ = ["AccountPerUserSpawner", "account_name"]


class AccountPerUserSpawner(LocalProcessSpawner):
    """Run each user's server as a system account of its own, created on first spawn."""

    account_prefix = Unicode(
        "jaia-",
        config=True,
        help="""Prefix of the system accounts (jaia-<username>), so that a Cognito name never
        becomes an existing account. Not empty; lowercase letters, digits, '-' and '_', at most
        22 characters. Default: "jaia-".""",
    )
    home_root = Unicode(
        "/home",
        config=True,
        help="""Where the accounts' home folders (0700) are created; must belong to root and be
        writable by root only. Default: /home.""",
    )
    runtime_root = Unicode(
        "/run/jupyter-ai-access",
        config=True,
        help="""Parent (root-owned, 0755; created if missing) of each account's private runtime
        folder <runtime_root>/<account> (0700, owned by the account), passed to the server as
        XDG_RUNTIME_DIR: the kernels' token folders live there. Default: /run/jupyter-ai-access.""",
    )
    bindings_dir = Unicode(
        "jupyter-ai-access-accounts",
        config=True,
        help="""Folder (root-owned, 0700; created if missing) of the records binding each
        account to the Hub user and Cognito sub it was made for (<account>.json). Keep it as
        long as the accounts: without its record an existing account is refused. A relative
        path is taken from the Hub's working folder (where jupyterhub.sqlite is by default).
        Default: jupyter-ai-access-accounts.""",
    )
    skeleton_files = List(
        Unicode(),
        config=True,
        help="""Files copied into the home folder (owned by the account) when no entry of that
        name is there, e.g. an example notebook. Default: none.""",
    )

    @validate("account_prefix")
    def _valid_prefix(self, proposal: dict[str, Any]) -> str:
        prefix = str(proposal["value"])
        problem = prefix_problem(prefix)
        if problem:
            raise TraitError(f"{self.__class__.__name__}.account_prefix {prefix!r} {problem}")
        return prefix

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
        auth_state = await self.user.get_auth_state()
        sub = (auth_state or {}).get("sub")
        await asyncio.to_thread(self._ensure_account, sub)
        return await maybe_future(super().run_pre_spawn_hook())

    def _ensure_account(self, sub: str | None) -> None:
        account = self.account
        bindings = AccountBindings(Path(self.bindings_dir).absolute())
        try:
            entry, created = claim_account(bindings, account, self.user.name, sub, self.home_root)
        except AccountConflictError as e:
            self.log.warning("Refused to spawn %s: %s", self.user.name, e)
            refused = web.HTTPError(409, "%s", e)  # shown on the spawn page and in progress
            refused.jupyterhub_message = str(e)  # type: ignore[attr-defined]
            raise refused from e
        if created:
            self.log.info("Created the system account %s for %s", account, self.user.name)
        uid, gid = entry.pw_uid, entry.pw_gid
        with open_home(entry.pw_dir, uid) as home:
            os.fchmod(home, 0o700)
            for source in self.skeleton_files:
                place_file(home, Path(source).name, source, uid, gid)
        with open_dir(
            self.runtime_root, f"{self.__class__.__name__}.runtime_root", mode=0o755
        ) as root:
            if created:  # a reused uid inherits nothing a removed account left here
                for name in remove_owned_by(root, uid):
                    self.log.info("Removed %s/%s (left by an old account)", self.runtime_root, name)
            private_runtime_dir(root, account, uid, gid)

    def make_preexec_fn(self, name: str) -> Any:
        """Switch to the user's account (not to an account named like the Cognito user)."""
        return set_user_setuid(self.account)

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        """The account's USER, HOME and private XDG_RUNTIME_DIR."""
        entry = pwd.getpwnam(self.account)
        env["USER"] = self.account
        env["HOME"] = entry.pw_dir
        env["SHELL"] = "/bin/bash"
        env["XDG_RUNTIME_DIR"] = str(Path(self.runtime_root) / self.account)
        return env

    async def move_certs(self, paths: dict[str, str]) -> dict[str, str]:
        """Internal SSL is not supported with per-user accounts here."""
        raise ConfigurationError("AccountPerUserSpawner does not support JupyterHub.internal_ssl")
