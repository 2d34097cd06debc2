"""The refresh token, sealed inside auth_state so that readers of the Hub API cannot use it.

JupyterHub encrypts auth_state at rest, but hands it in clear to anyone whose token has
``admin:auth_state`` (Hub admins, tools, backups of API answers). The refresh token in it is
therefore sealed again, with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``), under a
key that only the authenticator holds: ``CognitoOAuthenticator.refresh_token_key`` when set, else
derived with HKDF-SHA256 from the keys JupyterHub encrypts auth_state with (``CryptKeeper.keys``,
which ``$JUPYTERHUB_CRYPT_KEY`` or the configuration gives; the Hub's API never returns them).
What an admin reads is ``sealed:v1:<ciphertext>``: Cognito refuses it.

The key is the deployment's, never a throwaway one: a Hub restart opens what the previous process
sealed, and with no key at all the Hub refuses to start (:func:`seal_for_hub`). With several crypt
keys (JupyterHub's key rotation) the first seals and every one opens.

Who can still use the refresh token: whoever reads the Hub's environment or configuration (the
Hub's OS account, root) — the same people who can decrypt auth_state itself.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import ConfigurationError

__all__ = ["PREFIX", "RefreshTokenSeal", "crypt_key_bytes", "seal_for_hub"]

PREFIX = "sealed:v1:"
_INFO = b"jupyter_ai_access refresh-token seal v1"


def crypt_key_bytes(key: str | bytes) -> bytes:
    """A crypt key as JupyterHub's CryptKeeper reads it: 32 bytes, given raw, hex or base64."""
    if isinstance(key, bytes) and len(key) == 32:
        return key
    text = key.decode() if isinstance(key, bytes) else key
    text = text.strip()
    try:
        raw = bytes.fromhex(text) if len(text) == 64 else base64.urlsafe_b64decode(text)
    except (ValueError, binascii.Error):
        raw = b""
    if len(raw) != 32:
        raise ConfigurationError(
            "A crypt key (CryptKeeper.keys, $JUPYTERHUB_CRYPT_KEY) must be 32 bytes, given as "
            "64 hex digits or base64 (openssl rand -hex 32)"
        )
    return raw


class RefreshTokenSeal:
    """Seal with the first key material, open with any (32 bytes, or text to derive a key from)."""

    def __init__(
        self, *materials: str | bytes, setting: str = "CognitoOAuthenticator.refresh_token_key"
    ) -> None:
        keys = [m.encode() if isinstance(m, str) else m for m in materials]
        if not keys or not all(keys):
            raise ConfigurationError(
                "No key to seal refresh tokens with: set CryptKeeper.keys or "
                f"$JUPYTERHUB_CRYPT_KEY (auth_state needs it too), or {setting}"
            )
        self._fernet = MultiFernet([Fernet(_derive(k)) for k in keys])

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


def seal_for_hub(
    refresh_token_key: str,
    crypt_keys: Sequence[bytes],
    env_crypt_key: str = "",
    setting: str = "CognitoOAuthenticator.refresh_token_key",
) -> RefreshTokenSeal:
    """The Hub's seal: ``refresh_token_key`` if set, else the auth_state crypt keys.

    ``env_crypt_key`` (the text of ``$JUPYTERHUB_CRYPT_KEY``) also opens what earlier versions
    sealed (they derived the key from that text, so a restart with the same environment keeps
    those sessions). Raises :class:`ConfigurationError` naming
    the settings when there is no key: a throwaway key would end every session at a restart.
    """
    if refresh_token_key:
        return RefreshTokenSeal(refresh_token_key, setting=setting)
    if not crypt_keys:
        return RefreshTokenSeal(setting=setting)  # raises: no key
    legacy = [env_crypt_key] if env_crypt_key else []
    return RefreshTokenSeal(*[crypt_key_bytes(k) for k in crypt_keys], *legacy, setting=setting)


def _derive(material: bytes) -> bytes:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(material)
    return base64.urlsafe_b64encode(key)
