"""A token factory that mints Cognito-shaped tokens with keys generated per test session.

The keys live only in memory for the test session; nothing is written to disk or committed.
``TokenFactory.jwks()`` is the public key set that a loopback JWKS server serves; ``mint()``
makes ID or access tokens with Cognito's claims, and every knob a crafted-token test needs
(other claims, other header fields, another key, another algorithm).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm, get_default_algorithms

__all__ = ["SigningKey", "TokenFactory"]

_MISSING = object()


@dataclass
class SigningKey:
    """A private key with its ``kid`` and algorithm."""

    kid: str
    alg: str
    private: Any

    def public_jwk(self) -> dict[str, Any]:
        """The public half as a JWK (with ``kid``, ``alg`` and ``use``)."""
        public = self.private.public_key()
        algo = RSAAlgorithm if self.alg.startswith("RS") else ECAlgorithm
        jwk = json.loads(algo.to_jwk(public))
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    @classmethod
    def rsa(cls, kid: str | None = None) -> SigningKey:
        """A fresh 2048-bit RSA key for RS256."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(kid or f"rsa-{secrets.token_hex(6)}", "RS256", key)

    @classmethod
    def ec(cls, kid: str | None = None) -> SigningKey:
        """A fresh P-256 key for ES256."""
        return cls(
            kid or f"ec-{secrets.token_hex(6)}", "ES256", ec.generate_private_key(ec.SECP256R1())
        )


@dataclass
class TokenFactory:
    """Mints Cognito-shaped ID and access tokens for one fake user pool."""

    issuer: str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TestPool1"
    client_id: str = "testclient0000000000000000"
    canary: str = ""
    clock: Callable[[], float] = time.time
    id_key: SigningKey = field(default_factory=lambda: SigningKey.rsa("id-key"))
    access_key: SigningKey = field(default_factory=lambda: SigningKey.rsa("access-key"))

    def jwks(self, *extra: SigningKey) -> dict[str, Any]:
        """The pool's public key set (ID key, access key and any extra keys)."""
        return {"keys": [k.public_jwk() for k in (self.id_key, self.access_key, *extra)]}

    def claims(self, token_use: str = "access", /, **overrides: Any) -> dict[str, Any]:
        """Cognito's claims for a token; ``overrides`` replace them (``_MISSING`` removes one)."""
        now = int(self.clock())
        sub = str(uuid.uuid4())
        common: dict[str, Any] = {
            "sub": sub,
            "iss": self.issuer,
            "token_use": token_use,
            "auth_time": now,
            "iat": now,
            "exp": now + 3600,
            "jti": str(uuid.uuid4()),
            "origin_jti": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
            "cognito:groups": ["ml-training"],
        }
        if token_use == "id":
            common.update(
                {
                    "aud": self.client_id,
                    "cognito:username": "alice",
                    "email": "alice@example.org",
                    "email_verified": True,
                }
            )
        else:
            common.update(
                {
                    "client_id": self.client_id,
                    "username": "alice",
                    "version": 2,
                    "scope": "openid email ai-access/datasets.read",
                }
            )
        if self.canary:
            common["custom:canary"] = self.canary
        for name, value in overrides.items():
            name = name.replace("__", ":")  # cognito__groups= sets cognito:groups
            if value is _MISSING:
                common.pop(name, None)
            else:
                common[name] = value
        return common

    def mint(
        self,
        token_use: str = "access",
        /,
        *,
        key: SigningKey | None = None,
        headers: Mapping[str, Any] | None = None,
        claims: Mapping[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        """Sign a token. ``claims`` replaces the payload; ``overrides`` edit the default one."""
        key = key or (self.id_key if token_use == "id" else self.access_key)
        payload = dict(claims) if claims is not None else self.claims(token_use, **overrides)
        header = {"kid": key.kid, **(headers or {})}
        # PyJWS signs raw bytes: no claim validation, so tests can craft any payload.
        body = json.dumps(payload, separators=(",", ":")).encode()
        return jwt.api_jws.PyJWS().encode(body, key.private, algorithm=key.alg, headers=header)

    def sign_raw(
        self,
        payload: bytes,
        token_use: str = "access",
        /,
        *,
        key: SigningKey | None = None,
        header: bytes | None = None,
    ) -> str:
        """Sign exactly these bytes as the payload (and ``header``, default a valid one).

        For JSON no encoder writes (duplicate members, ``NaN``, deep nesting, other encodings):
        the signature is real, so only the JSON is at fault.
        """
        key = key or (self.id_key if token_use == "id" else self.access_key)
        if header is None:
            header = json.dumps({"alg": key.alg, "kid": key.kid, "typ": "JWT"}).encode()
        signing_input = f"{_b64(header)}.{_b64(payload)}".encode()
        signature = get_default_algorithms()[key.alg].sign(signing_input, key.private)
        return f"{signing_input.decode()}.{_b64(signature)}"

    MISSING = _MISSING


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
