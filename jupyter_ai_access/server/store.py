"""Per-kernel token folders and secrets, kept fresh from the broker.

Each kernel gets pointers, not long-lived secrets (environment variable names are stable):

=================================  ==========================================================
``JUPYTER_AI_ACCESS_DIR``          the kernel's folder (0700, outside the contents root)
``JUPYTER_AI_ACCESS_TOKEN_FILE``   the access token (0600), replaced atomically ahead of expiry
``JUPYTER_AI_ACCESS_ID_TOKEN_FILE`` the ID token (0600), likewise
``JUPYTER_AI_ACCESS_URL``          the loopback endpoint that hands out fresh tokens
``JUPYTER_AI_ACCESS_SECRET_FILE``  this kernel's secret for that endpoint (0600); dies with it
``JUPYTER_AI_ACCESS_LOGIN_URL``    where to log in again when the session has ended
``JUPYTER_AI_ACCESS_TOKEN``        only with ``inject_token_env``: the access token's value at
                                   launch (it goes stale; prefer the file or the client)
``JUPYTER_AI_ACCESS_AUDIENCES``    only with ``audiences``: JSON, URL prefix -> audience (or
                                   ``{"audience": ..., "scopes": [...]}``); the client's auth
                                   helpers pick the per-resource token by the request's URL
=================================  ==========================================================

A file ``session`` in each folder names the current session while tokens are held (removed when
the session ends, another value after a new login): the client serves the per-resource tokens it
caches in the kernel's memory only while it is unchanged.

With ``broad_token = False`` no token file is written (the pointers stay, to files that do not
exist) and the endpoint refuses ``kind=access`` without an audience (403 ``audience_required``):
kernels get per-resource tokens only.

The names are :class:`jupyter_ai_access.protocol.KernelEnv`. The folders live under
:attr:`KernelTokenStore.token_dir`; the folder of a kernel is removed when the kernel shuts down
(:mod:`jupyter_ai_access.server.provisioner` calls :meth:`KernelTokenStore.add_kernel` and
:meth:`KernelTokenStore.remove_kernel`) and, whatever is left, when the server stops
(:meth:`KernelTokenStore.remove_all`, also at interpreter exit). Beside each folder a file
``<kernel id>.server`` names the server that made it (process id and start time); at start a
server removes the folders whose server no longer runs (:meth:`KernelTokenStore.clear_stale`: a
server killed outright leaves its tokens behind), never those of another running server of the
same user.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

from traitlets import Bool, Dict, TraitError, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from ..errors import ConfigurationError
from ..files import ensure_private_dir, write_private_file
from ..protocol import KernelEnv
from .broker import TokenSet

__all__ = ["KernelTokenStore"]

#: The suffix of the file beside each kernel folder naming the server process that made it.
_OWNER = ".server"


def _process_id(pid: int) -> str:
    """``<pid> <start time>``: names one process, not a later one that reuses its pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return str(pid)  # no /proc (macOS) or no such process: the pid alone
    # the command name (field 2) may hold spaces and parentheses: count after its last ")"
    fields = stat[stat.rfind(")") + 2 :].split()
    return f"{pid} {fields[19]}" if len(fields) > 19 else str(pid)


def _running(owner: str) -> bool:
    """Whether the process an owner record names still runs (the same one, by start time)."""
    try:
        pid = int(owner.split()[0])
    except (IndexError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another account's: a different server (the folder is ours: pid reuse)
    return _process_id(pid) == owner.strip()


class KernelTokenStore(LoggingConfigurable):
    """The kernels' token folders and per-kernel secrets."""

    token_dir = Unicode(
        config=True,
        help="""Parent folder of the per-kernel token folders (created 0700; must be yours and
        outside the notebook contents root). Default: $XDG_RUNTIME_DIR/jupyter-ai-access/<user>
        when that exists, else <tmp>/jupyter-ai-access-<uid>/<user>; if another account has
        taken (or planted a link at) that name, a fresh private folder <tmp>/jupyter-ai-access-
        <uid>-<random> instead, so another local user cannot deny token delivery.""",
    )
    user = Unicode(
        config=True,
        help="""Whose kernels these are: one folder per user under token_dir's default, whatever
        the spawner. Default: $JUPYTERHUB_USER, else "local".""",
    )
    inject_token_env = Bool(
        False,
        config=True,
        help=f"""Also put the access token's value in {KernelEnv.TOKEN} at kernel launch. It is NOT
        renewed (a kernel's environment cannot change): prefer the file or the client. Default:
        False.""",
    )
    remove_hub_token = Bool(
        False,
        config=True,
        help="""Remove JUPYTERHUB_API_TOKEN (and JPY_API_TOKEN) from kernels' environment, so that
        notebook code cannot call the Hub API as the server. Default: False (some extensions
        need it in kernels).""",
    )

    broad_token = Bool(
        True,
        config=True,
        help="""Hand kernels the user's broad access token (the token files, kind=access without
        an audience). False: per-resource tokens only; no token file is written and asking
        without an audience is refused (403 audience_required) with a message saying how to
        ask (get_token(audience=...)). Default: True.""",
    )
    audiences = Dict(
        config=True,
        help=f"""URL prefix -> audience, handed to kernels as JSON in {KernelEnv.AUDIENCES}: the
        client's RequestsAuth()/HttpxAuth() without an audience send the token bound to the
        audience of the longest matching prefix (the broad token when none matches). A value
        is the audience (a resource server identifier, e.g. "model-registry") or
        {{"audience": "...", "scopes": ["model-registry/read", ...]}}. Prefixes are absolute
        http(s) URLs. Default: {{}} (none).""",
    )

    @validate("audiences")
    def _check_audiences(self, proposal: Any) -> dict[str, Any]:
        checked: dict[str, Any] = {}
        for prefix, value in dict(proposal["value"]).items():
            where = f"KernelTokenStore.audiences[{prefix!r}]"
            if not isinstance(prefix, str) or not prefix.startswith(("https://", "http://")):
                raise TraitError(f"{where}: the key must be an absolute http(s) URL prefix")
            if isinstance(value, str):
                value = {"audience": value}
            if not isinstance(value, dict) or set(value) - {"audience", "scopes"}:
                raise TraitError(
                    f'{where} = {value!r}: give an audience or {{"audience": ..., "scopes": [...]}}'
                )
            audience, scopes = value.get("audience"), value.get("scopes", [])
            if not isinstance(audience, str) or not audience.strip():
                raise TraitError(f"{where} = {value!r}: the audience must be a non-empty string")
            if not isinstance(scopes, list) or not all(isinstance(x, str) for x in scopes):
                raise TraitError(f"{where} = {value!r}: scopes must be a list of strings")
            checked[prefix] = (
                {"audience": audience.strip(), "scopes": scopes} if scopes else (audience.strip())
            )
        return checked

    @default("user")
    def _user_default(self) -> str:
        return os.environ.get("JUPYTERHUB_USER") or "local"

    def _default_base(self) -> Path:
        """The default token_dir, or a fresh private folder when that one is not ours."""
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if runtime and Path(runtime).is_dir() and os.access(runtime, os.W_OK):
            parent = Path(runtime) / "jupyter-ai-access"
        else:
            parent = Path(tempfile.gettempdir()) / f"jupyter-ai-access-{os.getuid()}"
        try:
            ensure_private_dir(parent, "KernelTokenStore.token_dir")
            return parent / self.user.replace("/", "_")
        except (PermissionError, FileExistsError, NotADirectoryError) as e:
            fresh = Path(tempfile.mkdtemp(prefix=f"jupyter-ai-access-{os.getuid()}-"))
            self.log.warning("%s; using %s instead", e, fresh)
            return fresh

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernels: dict[str, Path] = {}
        self._secrets: dict[bytes, str] = {}  # sha256(secret) -> kernel id
        self.endpoint_url = ""
        self.login_url = ""
        self._session = 1  # bumped when a session ends: the kernels' "session" file

    # ---------------------------------------------------------------- folders
    def prepare(self, contents_root: str | None = None) -> Path:
        """Create the parent folder safely; refuse one inside the contents root or not ours."""
        if not self.token_dir:
            self.token_dir = str(self._default_base())  # chosen once, kept for this server
        base = Path(self.token_dir)
        if contents_root:
            root = Path(contents_root).resolve()
            resolved = base.resolve()
            if resolved == root or root in resolved.parents:
                raise ConfigurationError(
                    f"KernelTokenStore.token_dir {str(base)!r} is inside the notebook contents "
                    f"root {str(root)!r}: tokens would be visible in the file browser. "
                    "Choose a folder outside it."
                )
        try:
            return ensure_private_dir(base, "KernelTokenStore.token_dir")
        except PermissionError as e:
            raise ConfigurationError(f"{e}: tokens are not put there.") from None

    def add_kernel(self, kernel_id: str, tokens: TokenSet | None) -> dict[str, str]:
        """Create the kernel's folder, files and secret; return the environment to add."""
        base = self.prepare()
        write_private_file(base / f"{kernel_id}{_OWNER}", _process_id(os.getpid()))  # first
        folder = base / kernel_id
        folder.mkdir(mode=0o700, exist_ok=True)
        folder.chmod(0o700)
        self.forget_secrets(kernel_id)
        secret = secrets.token_urlsafe(32)
        write_private_file(folder / "secret", secret)
        self._secrets[hashlib.sha256(secret.encode()).digest()] = kernel_id
        self.kernels[kernel_id] = folder
        self._write_tokens(folder, tokens)
        env = {
            KernelEnv.DIR: str(folder),
            KernelEnv.TOKEN_FILE: str(folder / "access_token"),
            KernelEnv.ID_TOKEN_FILE: str(folder / "id_token"),
            KernelEnv.URL: self.endpoint_url,
            KernelEnv.SECRET_FILE: str(folder / "secret"),
            KernelEnv.LOGIN_URL: self.login_url,
        }
        if self.inject_token_env and self.broad_token and tokens is not None:
            env[KernelEnv.TOKEN] = tokens.access_token
        if self.audiences:
            env[KernelEnv.AUDIENCES] = json.dumps(self.audiences, sort_keys=True)
        return env

    def remove_kernel(self, kernel_id: str) -> None:
        """The kernel ended: its secret stops working and its folder is removed."""
        self.forget_secrets(kernel_id)
        folder = self.kernels.pop(kernel_id, None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
            folder.with_name(f"{folder.name}{_OWNER}").unlink(missing_ok=True)

    def forget_secrets(self, kernel_id: str) -> None:
        """Invalidate every secret issued to this kernel."""
        for digest in [d for d, k in self._secrets.items() if k == kernel_id]:
            del self._secrets[digest]

    def kernel_for_secret(self, secret: str) -> str | None:
        """The live kernel that owns this secret, or None."""
        # Looked up by SHA-256 digest: the lookup's timing says nothing about the secret itself.
        return self._secrets.get(hashlib.sha256(secret.encode()).digest())

    # ---------------------------------------------------------------- token files
    def update(self, tokens: TokenSet | None) -> None:
        """Broker listener: rewrite every kernel's token files (or remove them when withdrawn)."""
        if tokens is None:
            self._session += 1
        for folder in list(self.kernels.values()):
            self._write_tokens(folder, tokens)

    def _write_tokens(self, folder: Path, tokens: TokenSet | None) -> None:
        if not folder.is_dir():
            return
        if tokens is None:
            (folder / "session").unlink(missing_ok=True)  # the kernels' per-resource tokens too
        else:
            write_private_file(folder / "session", str(self._session))
        if tokens is None or not self.broad_token:
            for name in ("access_token", "id_token"):
                (folder / name).unlink(missing_ok=True)
            return
        write_private_file(folder / "access_token", tokens.access_token)
        write_private_file(folder / "id_token", tokens.id_token)

    def remove_all(self) -> None:
        """Server shutdown: remove every kernel folder."""
        for kernel_id in list(self.kernels):
            self.remove_kernel(kernel_id)

    def clear_stale(self) -> list[str]:
        """At start: remove the kernel folders that no running server owns; return their names.

        A folder is kept while the server named in ``<kernel id>.server`` beside it runs
        (another server of the same user shares token_dir); one without that record, or whose
        server is gone, is a leftover of a server that was killed, and its tokens may still be
        valid. Runs as the server's user in the user's own 0700 folder; links are never followed.
        """
        base = self.prepare()
        removed = []
        with os.scandir(base) as entries:
            names = {e.name: e.is_dir(follow_symlinks=False) for e in entries}
        for name, is_dir in names.items():
            kernel_id = name.removesuffix(_OWNER) if name.endswith(_OWNER) else name
            if kernel_id in self.kernels or not (is_dir or name.endswith(_OWNER)):
                continue
            try:
                owner = (base / f"{kernel_id}{_OWNER}").read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError):
                owner = ""
            if _running(owner):
                continue
            if is_dir:
                shutil.rmtree(base / name, ignore_errors=True)
                removed.append(name)
            else:
                (base / name).unlink(missing_ok=True)
        if removed:
            self.log.info("Removed %d token folder(s) left by a stopped server", len(removed))
        return removed
