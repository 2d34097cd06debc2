"""The pool description: one JSON file that describes a Cognito user pool.

The local emulator runs it and ``infra/`` provisions it on AWS, so both describe the same thing.
Field names follow Cognito's own settings (``allowed_oauth_flows``, ``callback_urls``,
``token_validity`` in seconds, ...). :func:`load_pool` reads and validates a file;
:func:`validate_pool` validates a mapping. Every refusal names the offending entry.

Only the standard library is imported, so the Pulumi program can use this module too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from ..errors import PoolDescriptionError
from ..net import POOL_ID, is_loopback
from .model import (
    AWS_LIMITS,
    DEFAULT_VALIDITY,
    OAUTH_FLOWS,
    STANDARD_SCOPES,
    AppClient,
    IdentityProvider,
    PoolDescription,
    ResourceServer,
    User,
)

__all__ = [
    "DEMO_POOL_FILE",
    "STANDARD_SCOPES",
    "AppClient",
    "IdentityProvider",
    "PoolDescription",
    "ResourceServer",
    "User",
    "load_pool",
    "validate_pool",
]

#: The demo's pool description, shipped in the package: the default of ``LocalCognito.pool_file``,
#: ``$JAIA_POOL_FILE`` and every demo, benchmark and test that runs the demo pool.
DEMO_POOL_FILE: Final = Path(__file__).resolve().with_name("demo-pool.json")

_REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
_SCOPE_PART = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]+$")


class _Checker:
    """Collects the source name so that every refusal says where it came from."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, entry: str, problem: str) -> PoolDescriptionError:
        return PoolDescriptionError(self.source, entry, problem)

    def string(self, obj: Mapping[str, Any], key: str, entry: str, *, required: bool = True) -> str:
        value = obj.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str) or not value:
            raise self.fail(entry, f"'{key}' must be a non-empty string")
        return value

    def strings(self, obj: Mapping[str, Any], key: str, entry: str) -> tuple[str, ...]:
        value = obj.get(key, [])
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise self.fail(entry, f"'{key}' must be a list of strings")
        if not all(isinstance(v, str) and v for v in value):
            raise self.fail(entry, f"'{key}' must contain only non-empty strings")
        if len(set(value)) != len(value):
            raise self.fail(entry, f"'{key}' lists the same value twice")
        return tuple(value)

    def mapping(self, obj: Mapping[str, Any], key: str, entry: str) -> Mapping[str, Any]:
        value = obj.get(key, {})
        if not isinstance(value, Mapping):
            raise self.fail(entry, f"'{key}' must be an object")
        return value

    def records(self, obj: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        value = obj.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise self.fail(key, "must be a list of objects")
        return value


def _check_url(check: _Checker, url: str, entry: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise check.fail(entry, f"URL {url!r} must be an absolute http(s) URL")
    if parts.fragment:
        raise check.fail(entry, f"URL {url!r} must not contain a fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise check.fail(entry, f"URL {url!r} uses http: only loopback hosts may (use https)")


def _users(
    check: _Checker, records: list[Mapping[str, Any]], where: str, groups: set[str], fold: Any
) -> tuple[User, ...]:
    users: list[User] = []
    seen: set[str] = set()
    for i, rec in enumerate(records):
        entry = f"{where}[{i}]"
        username = check.string(rec, "username", entry)
        entry = f"{where}[{i}] {username!r}"
        if fold(username) in seen:
            raise check.fail(entry, "username is used twice (usernames are case-insensitive)")
        seen.add(fold(username))
        password = check.string(rec, "password", entry) if "password" in rec else None
        user_groups = check.strings(rec, "groups", entry)
        for group in user_groups:
            if group not in groups:
                raise check.fail(entry, f"unknown group {group!r}: declare it under 'groups'")
        attributes = check.mapping(rec, "attributes", entry)
        if "email_verified" in attributes and not isinstance(attributes["email_verified"], bool):
            raise check.fail(entry, "attribute 'email_verified' must be true or false")
        users.append(
            User(
                username,
                password,
                user_groups,
                dict(attributes),
                rec.get("enabled", True) is not False,
            )
        )
    return tuple(users)


def _validity(
    check: _Checker, rec: Mapping[str, Any], entry: str, *, for_aws: bool
) -> dict[str, int]:
    given = check.mapping(rec, "token_validity", entry)
    unknown = set(given) - set(DEFAULT_VALIDITY)
    if unknown:
        raise check.fail(entry, f"token_validity has unknown keys {sorted(unknown)}")
    validity = dict(DEFAULT_VALIDITY)
    for key, value in given.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise check.fail(entry, f"token_validity.{key} must be a positive number of seconds")
        low, high = AWS_LIMITS[key]
        if for_aws and not low <= value <= high:
            raise check.fail(entry, f"token_validity.{key}={value}: Cognito allows {low}-{high} s")
        validity[key] = value
    return validity


def _app_client(
    check: _Checker,
    rec: Mapping[str, Any],
    i: int,
    *,
    scopes: frozenset[str],
    idps: set[str],
    for_aws: bool,
) -> AppClient:
    name = check.string(rec, "name", f"app_clients[{i}]")
    entry = f"app_clients[{i}] {name!r}"
    client_id = check.string(rec, "client_id", entry, required=not for_aws) or name
    secret = rec.get("client_secret")
    if secret is not None and (not isinstance(secret, str) or len(secret) < 16):
        raise check.fail(entry, "client_secret must be a string of at least 16 characters")
    flows = check.strings(rec, "allowed_oauth_flows", entry)
    if "implicit" in flows:
        raise check.fail(entry, "the implicit grant is not offered (RFC 9700): use 'code'")
    if not flows or not set(flows) <= OAUTH_FLOWS:
        raise check.fail(entry, f"allowed_oauth_flows must be one of {sorted(OAUTH_FLOWS)}")
    if "client_credentials" in flows and len(flows) > 1:
        raise check.fail(
            entry,
            "Cognito refuses client_credentials together with code: "
            "describe a separate machine app client",
        )
    client_scopes = check.strings(rec, "allowed_oauth_scopes", entry)
    for scope in client_scopes:
        if scope not in scopes:
            raise check.fail(entry, f"unknown scope {scope!r}: declare it on a resource server")
    callbacks = check.strings(rec, "callback_urls", entry)
    logouts = check.strings(rec, "logout_urls", entry)
    supported = check.strings(rec, "supported_identity_providers", entry) or ("COGNITO",)
    for idp in supported:
        if idp != "COGNITO" and idp not in idps:
            raise check.fail(entry, f"unknown identity provider {idp!r}")
    if flows == ("client_credentials",):
        if not secret and not rec.get("generate_secret", for_aws):
            raise check.fail(entry, "a client_credentials client needs a client secret")
        bad = sorted(set(client_scopes) & STANDARD_SCOPES)
        if bad:
            raise check.fail(
                entry, f"client_credentials tokens carry only custom scopes, not {bad}"
            )
        if not client_scopes:
            raise check.fail(entry, "a client_credentials client needs at least one custom scope")
        if callbacks:
            raise check.fail(entry, "a client_credentials client has no callback_urls")
    else:
        if not callbacks:
            raise check.fail(entry, "a code-flow client needs at least one callback URL")
        if not client_scopes:
            raise check.fail(entry, "a code-flow client needs allowed_oauth_scopes (e.g. openid)")
    for url in callbacks + logouts:
        _check_url(check, url, entry)
    rotation = rec.get("refresh_token_rotation", False)
    revocation = rec.get("enable_token_revocation", True)
    if not isinstance(rotation, bool) or not isinstance(revocation, bool):
        raise check.fail(entry, "refresh_token_rotation and enable_token_revocation are booleans")
    return AppClient(
        name=name,
        client_id=client_id,
        client_secret=secret,
        allowed_oauth_flows=flows,
        allowed_oauth_scopes=client_scopes,
        callback_urls=callbacks,
        logout_urls=logouts,
        supported_identity_providers=supported,
        token_validity=_validity(check, rec, entry, for_aws=for_aws),
        enable_token_revocation=revocation,
        refresh_token_rotation=rotation,
    )


def validate_pool(data: Any, source: str = "<pool>", *, for_aws: bool = False) -> PoolDescription:
    """Validate a pool description mapping; raise :class:`PoolDescriptionError` naming the entry.

    ``for_aws=True`` also enforces limits that only a real user pool has (token lifetimes of at
    least five minutes). Callback URLs of the Hub's client are derived from the Hub's URL when
    provisioning (``infra/``), so the loopback URLs of the emulator are fine here.
    """
    check = _Checker(source)
    if not isinstance(data, Mapping):
        raise check.fail("(top level)", "must be a JSON object")
    region = check.string(data, "region", "region")
    if not _REGION.match(region):
        raise check.fail("region", f"{region!r} is not an AWS region name such as 'eu-west-1'")
    pool_id = check.string(data, "user_pool_id", "user_pool_id")
    match = POOL_ID.match(pool_id)
    if not match or match.group("region") != region:
        raise check.fail("user_pool_id", f"{pool_id!r} must look like '{region}_AbC123xyz'")
    case_sensitive = data.get("username_case_sensitive", False)
    if not isinstance(case_sensitive, bool):
        raise check.fail("username_case_sensitive", "must be true or false")
    fold = (lambda s: s) if case_sensitive else str.lower

    groups: list[str] = []
    for i, rec in enumerate(check.records(data, "groups")):
        name = check.string(rec, "name", f"groups[{i}]")
        if name in groups:
            raise check.fail(f"groups[{i}] {name!r}", "group declared twice")
        groups.append(name)
    users = _users(check, check.records(data, "users"), "users", set(groups), fold)

    servers: list[ResourceServer] = []
    for i, rec in enumerate(check.records(data, "resource_servers")):
        ident = check.string(rec, "identifier", f"resource_servers[{i}]")
        entry = f"resource_servers[{i}] {ident!r}"
        names = []
        for j, scope in enumerate(check.records(rec, "scopes")):
            sname = check.string(scope, "name", f"{entry} scopes[{j}]")
            if not _SCOPE_PART.match(sname) or "/" in sname:
                raise check.fail(f"{entry} scopes[{j}]", f"scope name {sname!r} is not valid")
            names.append(sname)
        servers.append(ResourceServer(ident, str(rec.get("name") or ident), tuple(names)))
    scopes = STANDARD_SCOPES | {f"{rs.identifier}/{s}" for rs in servers for s in rs.scopes}

    idps: list[IdentityProvider] = []
    for i, rec in enumerate(check.records(data, "identity_providers")):
        name = check.string(rec, "name", f"identity_providers[{i}]")
        entry = f"identity_providers[{i}] {name!r}"
        if name == "COGNITO":
            raise check.fail(entry, "'COGNITO' is reserved for the pool's own users")
        kind = str(rec.get("type", "OIDC"))
        if kind != "OIDC":
            raise check.fail(entry, "only OIDC identity providers are supported")
        idp_users = _users(check, check.records(rec, "users"), f"{entry} users", set(groups), fold)
        idps.append(
            IdentityProvider(
                name,
                kind,
                rec.get("issuer"),
                dict(check.mapping(rec, "attribute_mapping", entry)),
                idp_users,
            )
        )

    clients: list[AppClient] = []
    for i, rec in enumerate(check.records(data, "app_clients")):
        client = _app_client(
            check, rec, i, scopes=scopes, idps={p.name for p in idps}, for_aws=for_aws
        )
        if any(c.client_id == client.client_id or c.name == client.name for c in clients):
            raise check.fail(f"app_clients[{i}] {client.name!r}", "name or client_id used twice")
        clients.append(client)
    if not clients:
        raise check.fail("app_clients", "describe at least one app client")

    return PoolDescription(
        region=region,
        user_pool_id=pool_id,
        pool_name=str(data.get("pool_name") or pool_id),
        domain_prefix=data.get("domain_prefix"),
        username_case_sensitive=case_sensitive,
        groups=tuple(groups),
        users=users,
        resource_servers=tuple(servers),
        app_clients=tuple(clients),
        identity_providers=tuple(idps),
        raw=data,
    )


def load_pool(path: str | Path, *, for_aws: bool = False) -> PoolDescription:
    """Read and validate a pool description file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PoolDescriptionError(str(path), "(file)", "not found") from None
    except json.JSONDecodeError as e:
        raise PoolDescriptionError(str(path), f"line {e.lineno}", f"not valid JSON: {e.msg}") from e
    return validate_pool(data, str(path), for_aws=for_aws)
