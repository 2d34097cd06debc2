"""The revocation feed on disk, so that a Hub restart does not forget which sessions ended.

One JSON file, ``{"version": 1, "origin_jti": {"<origin_jti>": <exp>, ...}}``, beside the Hub's
database by default (``CognitoOAuthenticator.revocations_file``). Written on every session end
before the logout answers (a SIGKILL right after loses nothing), read at start. Entries leave the
file when their access tokens have expired, so it stays small (sessions ended within one
access-token lifetime).

The Hub often runs as root: the file is reached through a descriptor of its folder only
(``O_NOFOLLOW``; a new file is made ``O_CREAT | O_EXCL`` with mode 0600 and renamed over the old
one, so readers never see half a file), and a folder or file that another account could change
stops the Hub at start with a message naming the setting (a folder writable by the Hub's own
group, as a Kubernetes volume with ``fsGroup`` is, is accepted).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from pathlib import Path

from ..errors import ConfigurationError

__all__ = ["RevocationFile"]

_SETTING = "CognitoOAuthenticator.revocations_file"
_MAX_BYTES = 16 * 1024 * 1024


class RevocationFile:
    """Load and atomically replace the ended sessions' file (``origin_jti`` -> expiry)."""

    def __init__(self, path: str | os.PathLike[str], setting: str = _SETTING) -> None:
        self.path = Path(os.path.abspath(path))
        self.setting = setting  # the setting messages name: <authenticator class>.revocations_file
        self.writes = 0

    def _folder(self) -> int:
        """A descriptor of the folder, refused when another account could write in it."""
        try:
            fd = os.open(self.path.parent, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as e:
            raise ConfigurationError(
                f"{self.setting}: cannot open the folder {str(self.path.parent)!r} "
                f"({e.strerror}); create it or choose another path"
            ) from None
        info = os.fstat(fd)
        # group-writable only for the Hub's own group (a Kubernetes volume with fsGroup is)
        foreign_group = info.st_mode & stat.S_IWGRP and info.st_gid != os.getegid()
        if info.st_uid not in (0, os.geteuid()) or info.st_mode & stat.S_IWOTH or foreign_group:
            os.close(fd)
            raise ConfigurationError(
                f"{self.setting}: the folder {str(self.path.parent)!r} can be written by other "
                "accounts; choose a folder only the Hub's account can write (like the database's)"
            )
        return fd

    def load(self) -> dict[str, float]:
        """The saved entries ({} when there is no file yet); a bad file stops the Hub."""
        folder = self._folder()
        try:
            try:
                fd = os.open(self.path.name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=folder)
            except FileNotFoundError:
                return {}
            except OSError as e:
                raise ConfigurationError(
                    f"{self.setting}: cannot read {str(self.path)!r} ({e.strerror})"
                ) from None
            with os.fdopen(fd, "rb") as f:
                info = os.fstat(f.fileno())
                if (
                    not stat.S_ISREG(info.st_mode)
                    or info.st_uid != os.geteuid()
                    or info.st_mode & 0o077
                ):
                    raise ConfigurationError(
                        f"{self.setting}: {str(self.path)!r} is not a file of the Hub's account "
                        "with mode 0600; remove it (ended sessions are then accepted again "
                        "until their tokens expire) or choose another path"
                    )
                body = f.read(_MAX_BYTES + 1)
        finally:
            os.close(folder)
        try:
            data = json.loads(body)
            entries = data["origin_jti"]
            return {str(k): float(v) for k, v in entries.items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConfigurationError(
                f"{self.setting}: {str(self.path)!r} is not a revocation file "
                '({"version": 1, "origin_jti": {...}}); move it away or choose another path'
            ) from None

    def save(self, entries: dict[str, float]) -> None:
        """Replace the file with ``entries`` (new file 0600, fsync, rename, fsync the folder)."""
        body = json.dumps({"version": 1, "origin_jti": entries}, sort_keys=True).encode()
        folder = self._folder()
        tmp = f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            fd = os.open(tmp, flags, 0o600, dir_fd=folder)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(body)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path.name, src_dir_fd=folder, dst_dir_fd=folder)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=folder)
                raise
            os.fsync(folder)
            self.writes += 1
        finally:
            os.close(folder)
