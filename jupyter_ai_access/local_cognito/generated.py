"""What the emulator generates once per state folder: client secrets and users' passwords.

So that no two demos share secrets, the shipped demo pool has no password and no client secret:
they are made on first run, kept 0600 in the state folder (``client_secrets.json``,
``passwords.json``) and reused on restart. Printed by ``jupyter-ai-access local-cognito`` (and
``./run-demo``) for the person trying the demo; never logged.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..files import ensure_private_dir, write_private_file
from ..pooldesc import PoolDescription

__all__ = ["Generated", "ensure_generated", "generate_password", "with_passwords"]


@dataclass(frozen=True)
class Generated:
    """A pool's generated secrets, kept in its state folder, and the description to run."""

    client_secrets: dict[str, str] = field(repr=False)
    passwords: dict[str, str] = field(repr=False)
    description: dict[str, Any] = field(repr=False)


def ensure_generated(state: Path, pool: PoolDescription) -> Generated:
    """Create the state folder (0700) and the secrets the description leaves to the emulator.

    Client secrets (``generate_secret: true``) go to ``client_secrets.json``, users' passwords
    (no ``password`` in the description) to ``passwords.json``, both 0600 and generated once per
    state folder: no two demos share them and a restart keeps them. The Hub's configuration calls
    this before the emulator runs, to learn its client's secret.
    """
    ensure_private_dir(state, "LocalCognito.state_dir")
    secrets_file = state / "client_secrets.json"
    saved: dict[str, str] = {}
    if secrets_file.exists():
        saved = json.loads(secrets_file.read_text(encoding="utf-8"))
    effective: dict[str, str] = {}
    clients = []
    for client, raw in zip(pool.app_clients, pool.raw["app_clients"], strict=True):
        secret = client.client_secret
        if secret is None and raw.get("generate_secret"):
            secret = saved.get(client.client_id) or secrets.token_urlsafe(32)
        if secret is not None:
            effective[client.client_id] = secret
        clients.append(
            {
                **raw,
                "client_id": client.client_id,
                "client_secret": secret,
                "allowed_oauth_flows": list(client.allowed_oauth_flows),
                "allowed_oauth_scopes": list(client.allowed_oauth_scopes),
                "supported_identity_providers": list(client.supported_identity_providers),
                "token_validity": dict(client.token_validity),
                "explicit_auth_flows": list(client.explicit_auth_flows),
            }
        )
    if effective != saved:
        write_private_file(secrets_file, json.dumps(effective))
    passwords, raw = with_passwords(state, pool.raw)
    description = {**raw, "app_clients": clients, "feature_plan": pool.feature_plan}
    return Generated(effective, passwords, description)


def generate_password() -> str:
    """A random password that satisfies Cognito's default policy (upper, lower, digit, symbol)."""
    return f"{secrets.token_urlsafe(12)}-Aa7!"


def with_passwords(state: Path, raw: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """Fill in the users' passwords that the description leaves out, kept in the state folder.

    Generated once per state folder (``passwords.json``, 0600), so no two demos share passwords
    and a restart keeps them. Returns (every user's password, the description with them filled in).
    """
    file = state / "passwords.json"
    saved: dict[str, str] = json.loads(file.read_text(encoding="utf-8")) if file.exists() else {}
    passwords: dict[str, str] = {}
    generated: dict[str, str] = {}

    def fill(users: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
        out = []
        for user in users:
            key = prefix + user["username"]
            if "password" not in user:
                generated[key] = saved.get(key) or generate_password()
                user = {**user, "password": generated[key]}
            passwords[key] = user["password"]
            out.append(user)
        return out

    filled = {**raw, "users": fill(list(raw.get("users", [])), "")}
    filled["identity_providers"] = [
        {**idp, "users": fill(list(idp.get("users", [])), f"{idp['name']}/")}
        for idp in raw.get("identity_providers", [])
    ]
    if generated != saved:
        write_private_file(file, json.dumps(generated))
    return passwords, filled
