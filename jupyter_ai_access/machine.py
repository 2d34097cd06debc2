"""Machine tokens for headless jobs: Cognito's ``client_credentials`` grant, from the environment.

Outside any Jupyter process, :func:`jupyter_ai_access.client.get_token` (and so ``HttpxAuth``,
``RequestsAuth`` and ``jupyter-ai-access token``) gets its access token here when a machine app
client is configured::

    COGNITO_DOMAIN              the user-pool domain, https://<prefix>.auth.<region>.amazoncognito.com
    COGNITO_CLIENT_ID           the machine app client (client credentials flow, with a secret):
                                one id, as everywhere (a resource's list is COGNITO_CLIENT_IDS)
    COGNITO_CLIENT_SECRET_FILE  a file holding its secret (or COGNITO_CLIENT_SECRET; the file is
                                better: environments are copied into child processes and logs)
    COGNITO_SCOPES              space-separated custom scopes to ask for (default: Cognito grants
                                every scope the app client allows)

Standard library only. A token is renewed when it has less than ``min_valid`` seconds left, one
request at a time per process (a lock). When Cognito cannot be reached, a token that is still
valid keeps being served.

Cache: in memory, and — when ``$XDG_RUNTIME_DIR`` exists (the user's private, memory-backed
runtime folder) — in a 0600 file in a 0700 folder there, keyed by a hash of (domain, client id,
scopes). The processes of one job (data-loader workers, ranks, ``multiprocessing`` spawns) then
share one token instead of each asking Cognito, which bills and rate-limits ``client_credentials``
requests per app client. The file holds only the short-lived access token, beside a secret the
same account can read anyway; it is never written elsewhere (no shared ``/tmp`` fallback).
``JUPYTER_AI_ACCESS_MACHINE_CACHE=memory`` keeps it in memory only.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .cognito.endpoint import TokenEndpoint
from .cognito.http import MAX_RESPONSE_BYTES
from .cognito.oauth2 import token_expiry
from .errors import (
    IdPUnavailableError,
    LoginRequiredError,
    MachineTokenError,
    TokenEndpointError,
    TokensUnavailableError,
)
from .files import ensure_private_dir, write_private_file
from .net import is_loopback
from .protocol import CognitoEnv, scope_key

__all__ = ["MachineConfig", "MachineTokens", "machine_tokens"]

CACHE_ENV = "JUPYTER_AI_ACCESS_MACHINE_CACHE"

_REFUSALS = {
    "invalid_client": (
        "Amazon Cognito refused the machine app client's credentials (invalid_client): check "
        "COGNITO_CLIENT_SECRET (or the file named by COGNITO_CLIENT_SECRET_FILE) and "
        "COGNITO_CLIENT_ID {client_id!r}"
    ),
    "unauthorized_client": (
        "The app client COGNITO_CLIENT_ID {client_id!r} may not use the client credentials flow "
        "(unauthorized_client): use a machine app client with a secret and custom scopes"
    ),
    "invalid_scope": (
        "Amazon Cognito refused the scopes COGNITO_SCOPES={scopes!r} (invalid_scope): ask only for "
        "custom scopes (<resource server>/<scope>) that the app client allows"
    ),
}


@dataclass(frozen=True)
class MachineConfig:
    """A machine app client, read from ``COGNITO_*``."""

    domain: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MachineConfig | None:
        """The configured client, None when COGNITO_CLIENT_ID or COGNITO_DOMAIN is unset."""
        env = os.environ if environ is None else environ
        domain = env.get(CognitoEnv.DOMAIN, "").strip().rstrip("/")
        client_id = env.get(CognitoEnv.CLIENT_ID, "").strip()
        if not domain or not client_id:
            return None
        if "," in client_id or " " in client_id:
            raise MachineTokenError(
                f"COGNITO_CLIENT_ID {client_id!r} holds several ids: set the one machine app "
                "client of this job (COGNITO_CLIENT_IDS lists the clients a resource accepts)"
            )
        parts = urlsplit(domain)
        if not parts.hostname or not (
            parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname))
        ):
            raise MachineTokenError(
                f"COGNITO_DOMAIN {domain!r} must be the user-pool domain's https:// URL "
                "(http:// only on loopback)"
            )
        secret = env.get(CognitoEnv.CLIENT_SECRET, "").strip()
        secret_file = env.get(CognitoEnv.CLIENT_SECRET_FILE, "").strip()
        if not secret and secret_file:
            try:
                secret = Path(secret_file).read_text(encoding="utf-8").strip()
            except OSError as e:
                raise MachineTokenError(
                    f"COGNITO_CLIENT_SECRET_FILE {secret_file!r} cannot be read ({e.strerror})"
                ) from None
        if not secret:
            raise MachineTokenError(
                f"COGNITO_CLIENT_ID {client_id!r} is set but no secret: set "
                "COGNITO_CLIENT_SECRET_FILE (a file holding the machine app client's secret) "
                "or COGNITO_CLIENT_SECRET"
            )
        scopes = tuple(env.get(CognitoEnv.SCOPES, "").split())
        return cls(domain, client_id, secret, scopes)

    @property
    def key(self) -> str:
        """Names this client's cache entries (a hash: no URL or id in a file name)."""
        raw = "\n".join([self.domain, self.client_id, " ".join(sorted(self.scopes))])
        return hashlib.sha256(raw.encode()).hexdigest()[:24]


class MachineTokens:
    """Access tokens of machine app clients, cached in memory and a private runtime file."""

    def __init__(self, clock: Callable[[], float] = time.time, timeout: float = 10.0) -> None:
        self.clock = clock
        self.timeout = timeout
        self.requests = 0  # token requests sent to Cognito by this process
        self._memory: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(
        self,
        config: MachineConfig,
        min_valid: float = 60.0,
        *,
        force: bool = False,
        audience: str | None = None,
        scopes: tuple[str, ...] = (),
    ) -> str:
        """An access token valid for at least ``min_valid`` seconds when Cognito can give one.

        With ``audience``: the job's token exchanged (RFC 8693, impersonation: no actor) for one
        bound to that audience and ``scopes``, cached in this process's memory per key; the
        machine app client needs ALLOW_TOKEN_EXCHANGE_IMPERSONATION.
        """
        if audience:
            return self._exchanged(config, min_valid, force, audience, scopes)
        with self._lock:
            held = self._memory.get(config.key)
            if held is None or held[1] - self.clock() < min_valid:
                shared = self._read_file(config)  # another process of the job may have renewed
                if shared is not None and (held is None or shared[1] > held[1]):
                    held = self._memory[config.key] = shared
            if held is not None and not force and held[1] - self.clock() >= min_valid:
                return held[0]
            try:
                token, expires = self._request(config)
            except TokensUnavailableError:
                if held is not None and held[1] > self.clock():
                    return held[0]  # renewal failed, the held token still works: keep serving it
                raise
            self._memory[config.key] = (token, expires)
            self._write_file(config, token)
            return token

    def _exchanged(
        self,
        config: MachineConfig,
        min_valid: float,
        force: bool,
        audience: str,
        scopes: tuple[str, ...],
    ) -> str:
        key = f"{config.key} {audience} {scope_key(scopes)}"
        held = self._memory.get(key)
        if held is not None and not force and held[1] - self.clock() >= min_valid:
            return held[0]
        subject = self.get(config, min_valid)
        with self._lock:
            try:
                token, expires = self._exchange(config, subject, audience, scopes)
            except TokensUnavailableError:
                if held is not None and held[1] > self.clock():
                    return held[0]
                raise
            self._memory[key] = (token, expires)
            return token

    def _exchange(
        self, config: MachineConfig, subject: str, audience: str, scopes: tuple[str, ...]
    ) -> tuple[str, float]:
        endpoint = self._endpoint(config)
        self.requests += 1
        try:
            answer = endpoint.token_exchange_sync(subject, audience, list(scopes))
        except IdPUnavailableError as e:
            raise TokensUnavailableError(
                f"Amazon Cognito cannot exchange a token now ({e}): check COGNITO_DOMAIN "
                f"{config.domain!r} and the network"
            ) from None
        except TokenEndpointError as e:
            raise MachineTokenError(
                f"Amazon Cognito refused to exchange the job's token for {audience!r} "
                f"({e.error}): the app client COGNITO_CLIENT_ID {config.client_id!r} needs "
                "ALLOW_TOKEN_EXCHANGE_IMPERSONATION, and the audience must be a resource server "
                "whose scopes it may have."
            ) from None
        token = str(answer["access_token"])
        return token, token_expiry(token) or self.clock() + float(answer.get("expires_in") or 0)

    def _endpoint(self, config: MachineConfig) -> TokenEndpoint:
        return TokenEndpoint(  # the core's client: no redirects, bounded answer
            token_url=f"{config.domain}/oauth2/token",
            revoke_url=f"{config.domain}/oauth2/revoke",
            client_id=config.client_id,
            client_secret=config.client_secret,
            timeout=self.timeout,
        )

    # ---------------------------------------------------------------- Cognito
    def _request(self, config: MachineConfig) -> tuple[str, float]:
        endpoint = self._endpoint(config)
        self.requests += 1
        try:
            answer = endpoint.grant_sync(endpoint.client_credentials_form(config.scopes))
        except IdPUnavailableError as e:
            raise TokensUnavailableError(
                f"Amazon Cognito cannot give a token now ({e}): check COGNITO_DOMAIN "
                f"{config.domain!r} and the network"
            ) from None
        except (LoginRequiredError, TokenEndpointError) as e:
            template = _REFUSALS.get(e.error, "Amazon Cognito refused the machine token ({error})")
            raise MachineTokenError(
                template.format(
                    client_id=config.client_id, scopes=" ".join(config.scopes), error=e.error
                )
            ) from None
        token = str(answer["access_token"])
        expires = token_expiry(token)
        if not expires:
            expires = self.clock() + float(answer.get("expires_in") or 0)
        return token, expires

    # ---------------------------------------------------------------- the runtime file
    @staticmethod
    def _folder() -> Path | None:
        if os.environ.get(CACHE_ENV, "file") == "memory":
            return None
        runtime = os.environ.get("XDG_RUNTIME_DIR", "")
        if not runtime or not Path(runtime).is_dir() or not os.access(runtime, os.W_OK):
            return None
        return Path(runtime) / "jupyter-ai-access" / "machine"

    def _read_file(self, config: MachineConfig) -> tuple[str, float] | None:
        folder = self._folder()
        if folder is None:
            return None
        try:
            fd = os.open(folder / f"{config.key}.json", os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return None
        with os.fdopen(fd, encoding="utf-8") as f:
            info = os.fstat(f.fileno())
            if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
                return None  # not ours, or readable by others: not a token we wrote
            try:
                saved = json.loads(f.read(MAX_RESPONSE_BYTES))
                token = str(saved["access_token"])
            except (ValueError, KeyError, TypeError):
                return None
        if saved.get("client_id") != config.client_id:
            return None
        expires = token_expiry(token)
        return (token, expires) if expires > self.clock() else None

    def _write_file(self, config: MachineConfig, token: str) -> None:
        folder = self._folder()
        if folder is None:
            return
        try:
            ensure_private_dir(folder, "$XDG_RUNTIME_DIR/jupyter-ai-access/machine")
            saved = {"client_id": config.client_id, "access_token": token}
            write_private_file(folder / f"{config.key}.json", json.dumps(saved))
        except OSError:
            pass  # the cache is an optimisation: the token was obtained and is returned


_tokens = MachineTokens()


def machine_tokens() -> tuple[MachineTokens, MachineConfig] | None:
    """This process's machine tokens and the configured client, or None when none is configured.

    Raises :class:`~jupyter_ai_access.errors.MachineTokenError` for a half-configured client.
    """
    config = MachineConfig.from_env()
    return None if config is None else (_tokens, config)
