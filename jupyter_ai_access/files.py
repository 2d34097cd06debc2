"""Private files and folders: the one writer for tokens, secrets and generated credentials.

Standard library only. Files are written 0600 and replaced atomically (a reader sees the old or
the new file, never half of one); folders are created 0700 and refused when they are a link or
belong to another user.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["ensure_private_dir", "write_private_file"]


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (0600) atomically: readers see the old or the new file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)  # no fsync: readers need atomicity, not durability
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def ensure_private_dir(path: Path, what: str) -> Path:
    """Create ``path`` (and parents) 0700; refuse a link or a folder owned by someone else.

    ``what`` names the setting in the error, e.g. ``"KernelTokenStore.token_dir"``.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid():
        raise PermissionError(
            f"{what} {str(path)!r} is a link or belongs to another user: refusing to use it"
        )
    if stat.S_IMODE(info.st_mode) != 0o700:
        path.chmod(0o700)
    return path
