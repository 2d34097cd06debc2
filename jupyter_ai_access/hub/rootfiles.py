"""What the Hub, running as root, does in folders that users can write: never by path.

Each operation opens a verified folder (``O_DIRECTORY|O_NOFOLLOW``, then ``fstat``: a real folder
with the expected owner) and works against its descriptor: new files are created with
``O_CREAT|O_EXCL|O_NOFOLLOW`` (an existing entry, file or link, is left alone), ownership and
modes are changed on open descriptors, and entries are inspected with ``lstat``. A link a user
plants in their home therefore never leads root anywhere else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from ..errors import ConfigurationError

__all__ = [
    "open_dir",
    "open_home",
    "place_file",
    "private_runtime_dir",
    "remove_entry",
    "remove_owned_by",
]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@contextlib.contextmanager
def open_dir(path: str | Path, what: str, *, mode: int | None = None) -> Iterator[int]:
    """A descriptor of ``path``, a folder owned by this process's account, writable by it only.

    ``mode`` creates the folder (and its parents) when missing and sets its permissions (without
    ``mode``, a folder writable by others is refused); ``what`` names the setting in errors
    (``AccountPerUserSpawner.runtime_root``).
    """
    if mode is not None:
        with contextlib.suppress(FileExistsError):  # a link or a file: refused just below
            Path(path).mkdir(mode=mode, parents=True, exist_ok=True)
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError as e:
        raise ConfigurationError(f"{what} {str(path)!r} is not a folder (or is a link): {e}") from e
    try:
        info = os.fstat(fd)
        loose = mode is None and stat.S_IMODE(info.st_mode) & 0o022
        if info.st_uid != os.getuid() or loose:
            raise ConfigurationError(
                f"{what} {str(path)!r} must belong to the Hub's account (uid {os.getuid()}) and "
                f"be writable by it only (it is uid {info.st_uid}, mode "
                f"{stat.S_IMODE(info.st_mode):o}): users could swap what the Hub finds there"
            )
        if mode is not None and stat.S_IMODE(info.st_mode) != mode:
            os.fchmod(fd, mode)  # ours: set on the open folder, not by path
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def open_home(home: str | Path, uid: int) -> Iterator[int]:
    """A descriptor of the home folder ``home``, verified to be a real folder owned by ``uid``.

    Its parent must be the Hub's and not writable by others (so the home cannot be swapped).
    """
    home = Path(home)
    with open_dir(home.parent, "the parent of the home folder") as parent:
        try:
            fd = os.open(home.name, _DIR_FLAGS, dir_fd=parent)
        except OSError as e:
            raise ConfigurationError(f"the home folder {str(home)!r} is not a folder: {e}") from e
    try:
        if os.fstat(fd).st_uid != uid:
            raise ConfigurationError(
                f"the home folder {str(home)!r} does not belong to uid {uid}: not touching it"
            )
        yield fd
    finally:
        os.close(fd)


def place_file(dir_fd: int, name: str, source: str | Path, uid: int, gid: int) -> bool:
    """Copy ``source`` to a NEW entry ``name`` in the folder, owned by uid/gid; True if copied.

    An existing entry (a file, a link, anything) is left alone and False is returned.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with open(source, "rb") as data:  # first: a missing source leaves no empty file behind
        try:
            fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
        except (FileExistsError, IsADirectoryError):
            return False
        with os.fdopen(fd, "wb") as target:
            os.fchown(fd, uid, gid)
            shutil.copyfileobj(data, target)
            os.fchmod(fd, 0o644)
    return True


def remove_entry(dir_fd: int, name: str) -> None:
    """Remove ``name`` from the folder (a whole tree, without following links); gone is fine."""
    try:
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(name, dir_fd=dir_fd)
        return
    fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)  # descend by descriptor: links are not followed
    try:
        with os.scandir(fd) as entries:
            children = [e.name for e in entries]
        for child in children:
            remove_entry(fd, child)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dir_fd)


def remove_owned_by(dir_fd: int, uid: int) -> list[str]:
    """Remove every entry of the folder that belongs to ``uid``; return their names."""
    removed = []
    with os.scandir(dir_fd) as entries:
        names = [e.name for e in entries if e.stat(follow_symlinks=False).st_uid == uid]
    for name in names:
        remove_entry(dir_fd, name)
        removed.append(name)
    return removed


def private_runtime_dir(root_fd: int, name: str, uid: int, gid: int) -> None:
    """Make ``name`` in the runtime root a 0700 folder of uid/gid, emptied if it was not theirs.

    A leftover of a removed account (another owner, a file, wider permissions) is removed first:
    nobody inherits another account's token folders.
    """
    try:
        info = os.stat(name, dir_fd=root_fd, follow_symlinks=False)
    except FileNotFoundError:
        info = None
    if info is not None and (
        not stat.S_ISDIR(info.st_mode)
        or (info.st_uid, info.st_gid) != (uid, gid)
        or stat.S_IMODE(info.st_mode) != 0o700
    ):
        remove_entry(root_fd, name)
        info = None
    if info is None:
        os.mkdir(name, 0o700, dir_fd=root_fd)
        fd = os.open(name, _DIR_FLAGS, dir_fd=root_fd)
        try:
            os.fchown(fd, uid, gid)
            os.fchmod(fd, 0o700)
        finally:
            os.close(fd)
