"""System accounts for Hub users: collision-free names, and a root-owned record of who owns each.

An account is ``<prefix><name>`` when the Hub name is already a valid account name (``jaia-alice``),
and ``<prefix><folded name, cut>-<8 hex of sha256(name)>`` otherwise. A name that could itself be
such an output (one ending in ``-`` and 8 hex digits) is hashed too, so two Hub names never get one
account by construction; the record below catches what a hash collision could still bring.

Every account the spawner makes is bound, in a root-owned record (one 0600 JSON file per account in
``AccountPerUserSpawner.bindings_dir``, written before ``useradd``), to the Hub user name, the
Cognito ``sub`` and the uid. A spawn is refused when the record names someone else, when the
account exists without a record (not made by the spawner, e.g. a system account), when its uid
changed, or when a home folder is waiting where a new account's home would go. A record made
without a ``sub`` (an admin started the server before the user's first login) is bound by the
first identity that spawns, as JupyterHub's name is bound by the first login.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import stat
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import AccountConflictError, ConfigurationError

__all__ = ["AccountBindings", "Binding", "account_name", "claim_account", "prefix_problem"]

_VALID = re.compile(r"^[a-z_][a-z0-9_-]*$")
_HASHED_TAIL = re.compile(r"-[0-9a-f]{8}$")
MAX_LENGTH = 32  # useradd's limit on most systems
MAX_PREFIX = MAX_LENGTH - 10  # room for one character, "-" and the 8-digit hash
MARK = "jupyter_ai_access user"  # the accounts' comment (GECOS) field


def prefix_problem(prefix: str) -> str | None:
    """Why ``prefix`` cannot be an account prefix, or None when it can."""
    if not prefix:
        return "is empty: a Hub user named like a system account (root) would become that account"
    if not _VALID.match(prefix):
        return "must start with a lowercase letter or '_' and hold only a-z, 0-9, '-' or '_'"
    if len(prefix) > MAX_PREFIX:
        return f"is longer than {MAX_PREFIX} characters (account names have at most {MAX_LENGTH})"
    return None


def account_name(prefix: str, name: str) -> str:
    """The system account for JupyterHub user ``name``: ``prefix + name``, folded when needed."""
    problem = prefix_problem(prefix)
    if problem:
        raise ConfigurationError(f"AccountPerUserSpawner.account_prefix {prefix!r} {problem}")
    folded = re.sub(r"[^a-z0-9_-]", "-", name.lower())
    candidate = prefix + folded
    if folded != name or len(candidate) > MAX_LENGTH or _HASHED_TAIL.search(candidate):
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        candidate = f"{candidate[: MAX_LENGTH - 9]}-{digest}"
    return candidate


@dataclass(frozen=True)
class Binding:
    """Who an account was made for: the Hub user, their Cognito ``sub``, the account's uid."""

    account: str
    hub_user: str
    sub: str | None
    uid: int | None = None  # None between the record being written and useradd


class AccountBindings:
    """The root-owned records ``<folder>/<account>.json`` (0600, folder 0700).

    Files are opened against the folder's descriptor without following links; a record is created
    exclusively (two spawns racing for one account: the second sees the first's record).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _open_folder(self) -> int:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        info = os.fstat(fd)
        if info.st_uid != os.getuid():
            os.close(fd)
            raise ConfigurationError(
                f"AccountPerUserSpawner.bindings_dir {str(self.folder)!r} belongs to uid "
                f"{info.st_uid}, not to the Hub's account: choose a folder only the Hub can write"
            )
        if stat.S_IMODE(info.st_mode) & 0o077:
            os.fchmod(fd, 0o700)
        return fd

    def get(self, account: str) -> Binding | None:
        """The record for ``account``, or None when there is none."""
        fd = self._open_folder()
        try:
            try:
                rfd = os.open(f"{account}.json", os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                return None
            with os.fdopen(rfd, encoding="utf-8") as f:
                data = json.load(f)
        finally:
            os.close(fd)
        return Binding(data["account"], data["hub_user"], data.get("sub"), data.get("uid"))

    def _write(self, binding: Binding, *, exclusive: bool) -> None:
        fd = self._open_folder()
        name = f"{binding.account}.json"
        tmp = f".tmp-{binding.account}-{secrets.token_hex(4)}"
        try:
            wfd = os.open(
                tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=fd
            )
            with os.fdopen(wfd, "w", encoding="utf-8") as f:
                json.dump(asdict(binding), f)
            if exclusive:
                os.link(tmp, name, src_dir_fd=fd, dst_dir_fd=fd, follow_symlinks=False)
            else:
                os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=fd)
            os.close(fd)

    def create(self, binding: Binding) -> None:
        """Record a new binding; FileExistsError when the account already has one."""
        self._write(binding, exclusive=True)

    def replace(self, binding: Binding) -> Binding:
        """Overwrite the record of ``binding.account`` (atomically)."""
        self._write(binding, exclusive=False)
        return binding

    def set_uid(self, binding: Binding, uid: int) -> Binding:
        """Record the uid useradd gave the account."""
        return self.replace(Binding(binding.account, binding.hub_user, binding.sub, uid))

    def path(self, account: str) -> Path:
        """Where the record of ``account`` is (for messages to administrators)."""
        return self.folder / f"{account}.json"


def _refuse(account: str, why: str, remedy: str) -> AccountConflictError:
    return AccountConflictError(
        f"Cannot start a server as the system account {account}: {why}. Ask an administrator "
        f"to {remedy}."
    )


def _lookup(account: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(account)
    except KeyError:
        return None


def claim_account(
    bindings: AccountBindings, account: str, hub_user: str, sub: str | None, home_root: str
) -> tuple[pwd.struct_passwd, bool]:
    """The account of ``hub_user`` (created and bound on first use) and whether it is new.

    Raises AccountConflictError when the account is bound to someone else, exists without
    having been made by the spawner, changed uid, or when its home folder is already taken.
    """
    remove = (
        f"remove the old account if it is no longer used (userdel --remove {account}; "
        f"rm {bindings.path(account)})"
    )
    binding = bindings.get(account)
    entry = _lookup(account)
    if binding is not None and binding.hub_user == hub_user and binding.sub is None and sub:
        # made before the user's first login (an admin started it): the first identity binds it,
        # as the first login binds a Hub name
        binding = bindings.replace(Binding(account, hub_user, sub, binding.uid))
    if binding is not None and (binding.hub_user, binding.sub) != (hub_user, sub):
        raise _refuse(
            account, "it was made for another JupyterHub user or Cognito identity", remove
        )
    if binding is None and entry is not None:
        raise _refuse(
            account,
            "it exists but was not made by AccountPerUserSpawner for this user",
            f"remove it (userdel {account}) or choose another AccountPerUserSpawner.account_prefix",
        )
    if entry is not None and binding is not None:
        if binding.uid == entry.pw_uid:
            return entry, False
        if binding.uid is None and entry.pw_gecos == MARK:  # made, then stopped before recording
            bindings.set_uid(binding, entry.pw_uid)
            return entry, False
        raise _refuse(account, f"its uid changed ({binding.uid} -> {entry.pw_uid})", remove)
    home = Path(home_root) / account
    if os.path.lexists(home):
        raise _refuse(
            account,
            f"{home} already exists (left by a removed account?) and would become its home",
            f"move {home} away",
        )
    if binding is None:
        binding = Binding(account, hub_user, sub)
        try:
            bindings.create(binding)
        except FileExistsError:  # another spawn for this account got there first
            return claim_account(bindings, account, hub_user, sub, home_root)
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    subprocess.run(
        [
            useradd,
            "--create-home",
            "--home-dir",
            str(home),
            "--shell",
            "/bin/bash",  # JupyterLab's terminal; no password: no login anyway
            "--user-group",
            "--comment",
            MARK,
            account,
        ],
        check=True,
        capture_output=True,
    )
    entry = pwd.getpwnam(account)
    bindings.set_uid(binding, entry.pw_uid)
    return entry, True
