"""The refresh token, sealed inside auth_state so that readers of the Hub API cannot use it.

JupyterHub encrypts auth_state at rest, but hands it in clear to anyone whose token has
``admin:auth_state`` (Hub admins, tools, backups of API answers). The refresh token in it is
therefore sealed again, with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``), under a
key that only the authenticator holds: ``CognitoOAuthenticator.refresh_token_key`` when set, else
derived with HKDF-SHA256 from ``$JUPYTERHUB_CRYPT_KEY`` (which the Hub process has and its API
never returns). What an admin reads is ``sealed:v1:<ciphertext>``: Cognito refuses it.

Who can still use the refresh token: whoever reads the Hub's environment or configuration (the
Hub's OS account, root) — the same people who can decrypt auth_state itself.
"""

from __future__ import annotations

import base64
import secrets

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["PREFIX", "RefreshTokenSeal"]

PREFIX = "sealed:v1:"
_INFO = b"jupyter_ai_access refresh-token seal v1"


class RefreshTokenSeal:
    """Seal and unseal refresh tokens with one key (32 bytes, or key material to derive it from)."""

    def __init__(self, material: str | bytes | None) -> None:
        self.ephemeral = not material
        raw = material.encode() if isinstance(material, str) else material
        if not raw:
            raw = secrets.token_bytes(32)  # no configured key: valid for this process only
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(raw)
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, refresh_token: str | None) -> str | None:
        """The sealed form of ``refresh_token`` (None stays None; sealing twice is a no-op)."""
        if not refresh_token or refresh_token.startswith(PREFIX):
            return refresh_token
        return PREFIX + self._fernet.encrypt(refresh_token.encode()).decode()

    def unseal(self, stored: str | None) -> str | None:
        """The refresh token, or None when absent or sealed under another key.

        A value without the prefix (auth_state written before sealing existed) is returned as
        is; it is sealed at the next save.
        """
        if not stored:
            return None
        if not stored.startswith(PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored[len(PREFIX) :].encode()).decode()
        except InvalidToken:
            return None
