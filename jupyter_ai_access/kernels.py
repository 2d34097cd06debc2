"""Kernel injection: per-kernel token folders and a kernel provisioner that points kernels at them.

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
=================================  ==========================================================

The folders live under :attr:`KernelTokenStore.token_dir`; the folder of a kernel is removed
when the kernel shuts down. ``AIAccessProvisioner`` (a ``LocalProvisioner``) is made the default
provisioner by the extension's configuration, so it also runs on kernel restart.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jupyter_client.provisioning.local_provisioner import LocalProvisioner
from traitlets import Bool, Unicode, default
from traitlets.config import LoggingConfigurable

from .errors import ConfigurationError, TokenDeliveryError

if TYPE_CHECKING:
    from .tokens import TokenSet

__all__ = ["ENV", "AIAccessProvisioner", "KernelTokenStore", "write_private_file"]

ENV = {
    "dir": "JUPYTER_AI_ACCESS_DIR",
    "token_file": "JUPYTER_AI_ACCESS_TOKEN_FILE",
    "id_token_file": "JUPYTER_AI_ACCESS_ID_TOKEN_FILE",
    "url": "JUPYTER_AI_ACCESS_URL",
    "secret_file": "JUPYTER_AI_ACCESS_SECRET_FILE",
    "login_url": "JUPYTER_AI_ACCESS_LOGIN_URL",
    "token": "JUPYTER_AI_ACCESS_TOKEN",
}


def write_private_file(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` (0600) atomically: readers see the old or the new file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)  # no fsync: readers need atomicity, not durability (tokens are ephemeral)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class KernelTokenStore(LoggingConfigurable):
    """The kernels' token folders and per-kernel secrets."""

    token_dir = Unicode(
        config=True,
        help="""Parent folder of the per-kernel token folders (created 0700; must be yours and
        outside the notebook contents root). Default: $XDG_RUNTIME_DIR/jupyter-ai-access when
        that exists, else <tmp>/jupyter-ai-access-<uid>.""",
    )
    inject_token_env = Bool(
        False,
        config=True,
        help=f"""Also put the access token's value in {ENV["token"]} at kernel launch. It is NOT
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

    @default("token_dir")
    def _token_dir_default(self) -> str:
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        if runtime and Path(runtime).is_dir() and os.access(runtime, os.W_OK):
            return str(Path(runtime) / "jupyter-ai-access")
        return str(Path(tempfile.gettempdir()) / f"jupyter-ai-access-{os.getuid()}")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernels: dict[str, Path] = {}
        self._secrets: dict[bytes, str] = {}  # sha256(secret) -> kernel id
        self.endpoint_url = ""
        self.login_url = ""

    # ---------------------------------------------------------------- folders
    def prepare(self, contents_root: str | None = None) -> Path:
        """Create the parent folder safely; refuse one inside the contents root or not ours."""
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
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = base.lstat()
        if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid():
            raise ConfigurationError(
                f"KernelTokenStore.token_dir {str(base)!r} is a link or belongs to another user: "
                "refusing to put tokens there."
            )
        if stat.S_IMODE(info.st_mode) != 0o700:
            base.chmod(0o700)
        return base

    def add_kernel(self, kernel_id: str, tokens: TokenSet | None) -> dict[str, str]:
        """Create the kernel's folder, files and secret; return the environment to add."""
        folder = self.prepare() / kernel_id
        folder.mkdir(mode=0o700, exist_ok=True)
        folder.chmod(0o700)
        self.forget_secrets(kernel_id)
        secret = secrets.token_urlsafe(32)
        write_private_file(folder / "secret", secret)
        self._secrets[hashlib.sha256(secret.encode()).digest()] = kernel_id
        self.kernels[kernel_id] = folder
        self._write_tokens(folder, tokens)
        env = {
            ENV["dir"]: str(folder),
            ENV["token_file"]: str(folder / "access_token"),
            ENV["id_token_file"]: str(folder / "id_token"),
            ENV["url"]: self.endpoint_url,
            ENV["secret_file"]: str(folder / "secret"),
            ENV["login_url"]: self.login_url,
        }
        if self.inject_token_env and tokens is not None:
            env[ENV["token"]] = tokens.access_token
        return env

    def remove_kernel(self, kernel_id: str) -> None:
        """The kernel ended: its secret stops working and its folder is removed."""
        self.forget_secrets(kernel_id)
        folder = self.kernels.pop(kernel_id, None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

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
        for folder in list(self.kernels.values()):
            self._write_tokens(folder, tokens)

    @staticmethod
    def _write_tokens(folder: Path, tokens: TokenSet | None) -> None:
        if not folder.is_dir():
            return
        if tokens is None:
            for name in ("access_token", "id_token"):
                (folder / name).unlink(missing_ok=True)
            return
        write_private_file(folder / "access_token", tokens.access_token)
        write_private_file(folder / "id_token", tokens.id_token)

    def remove_all(self) -> None:
        """Server shutdown: remove every kernel folder."""
        for kernel_id in list(self.kernels):
            self.remove_kernel(kernel_id)


def _active() -> Any:
    from .app import AIAccessApp

    return AIAccessApp.active


class AIAccessProvisioner(LocalProvisioner):
    """A LocalProvisioner that gives each kernel its token folder, endpoint URL and secret."""

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        """Prepare the kernel's token folder and environment (also on restart)."""
        kwargs = await super().pre_launch(**kwargs)
        app = _active()
        if app is None or app.store is None:
            return kwargs
        tokens = None
        if app.broker.enabled:
            try:
                tokens = await app.broker.get(min_valid=0)
            except TokenDeliveryError as e:
                self.log.warning("Kernel %s starts without tokens: %s", self.kernel_id, e)
        env = dict(kwargs.get("env") or os.environ)
        env.update(app.store.add_kernel(self.kernel_id, tokens))
        if app.store.remove_hub_token:
            env.pop("JUPYTERHUB_API_TOKEN", None)
            env.pop("JPY_API_TOKEN", None)
        kwargs["env"] = env
        if app.broker.enabled:
            app.broker.start()
        return kwargs

    async def cleanup(self, restart: bool = False) -> None:
        """Remove the kernel's folder and secret, unless it is restarting."""
        await super().cleanup(restart=restart)
        app = _active()
        if app is not None and app.store is not None:
            if restart:
                app.store.forget_secrets(self.kernel_id)
            else:
                app.store.remove_kernel(self.kernel_id)
