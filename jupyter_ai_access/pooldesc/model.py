"""The validated pool description as typed values (what :mod:`.pool` produces).

Only the standard library is imported, so the Pulumi program can use it too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AWS_LIMITS",
    "DEFAULT_VALIDITY",
    "EXCHANGE_PLANS",
    "EXPLICIT_AUTH_FLOWS",
    "FEATURE_PLANS",
    "OAUTH_FLOWS",
    "STANDARD_SCOPES",
    "TOKEN_EXCHANGE_FLAGS",
    "AppClient",
    "IdentityProvider",
    "PoolDescription",
    "ResourceServer",
    "User",
]

STANDARD_SCOPES = frozenset(
    {"openid", "email", "profile", "phone", "aws.cognito.signin.user.admin"}
)
OAUTH_FLOWS = frozenset({"code", "client_credentials"})
# Cognito's limits, in seconds. The emulator accepts shorter lifetimes so tests can watch tokens
# expire; provisioning a real pool (for_aws=True) enforces these.
AWS_LIMITS = {
    "access_token": (300, 86400),
    "id_token": (300, 86400),
    "refresh_token": (3600, 315360000),
}
DEFAULT_VALIDITY = {"access_token": 3600, "id_token": 3600, "refresh_token": 2592000}
# Cognito's ExplicitAuthFlowsType (the ALLOW_* values; botocore's cognito-idp model).
TOKEN_EXCHANGE_FLAGS = frozenset(
    {"ALLOW_TOKEN_EXCHANGE_IMPERSONATION", "ALLOW_TOKEN_EXCHANGE_DELEGATION"}
)
EXPLICIT_AUTH_FLOWS = TOKEN_EXCHANGE_FLAGS | {
    "ALLOW_ADMIN_USER_PASSWORD_AUTH",
    "ALLOW_CUSTOM_AUTH",
    "ALLOW_USER_PASSWORD_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_REFRESH_TOKEN_AUTH",
    "ALLOW_USER_AUTH",
}
# Cognito's UserPoolTierType; token exchange needs ESSENTIALS or PLUS (new pools: ESSENTIALS).
FEATURE_PLANS = ("LITE", "ESSENTIALS", "PLUS")
EXCHANGE_PLANS = frozenset({"ESSENTIALS", "PLUS"})
DEFAULT_FEATURE_PLAN = "ESSENTIALS"


@dataclass(frozen=True)
class User:
    """A user of the pool (local emulator only: real pools get users by sign-up or federation)."""

    username: str
    #: None: the emulator generates one on first run and keeps it in its state folder
    password: str | None = field(repr=False)
    groups: tuple[str, ...] = ()
    attributes: Mapping[str, Any] = field(default_factory=dict)
    enabled: bool = True


@dataclass(frozen=True)
class ResourceServer:
    """A resource server and its custom scopes (``<identifier>/<scope>``)."""

    identifier: str
    name: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class AppClient:
    """An app client: its flows, scopes, URLs and token lifetimes (seconds)."""

    name: str
    client_id: str
    client_secret: str | None = field(repr=False)
    allowed_oauth_flows: tuple[str, ...]
    allowed_oauth_scopes: tuple[str, ...]
    callback_urls: tuple[str, ...]
    logout_urls: tuple[str, ...]
    supported_identity_providers: tuple[str, ...]
    token_validity: Mapping[str, int]
    enable_token_revocation: bool = True
    refresh_token_rotation: bool = False
    #: Cognito's ExplicitAuthFlows (e.g. ALLOW_TOKEN_EXCHANGE_DELEGATION)
    explicit_auth_flows: tuple[str, ...] = ()

    @property
    def may_exchange(self) -> frozenset[str]:
        """The token-exchange flags this client has (impersonation and/or delegation)."""
        return frozenset(self.explicit_auth_flows) & TOKEN_EXCHANGE_FLAGS


@dataclass(frozen=True)
class IdentityProvider:
    """A federated OIDC identity provider; ``users`` are served by the emulator."""

    name: str
    type: str
    issuer: str | None
    attribute_mapping: Mapping[str, str]
    users: tuple[User, ...] = ()


@dataclass(frozen=True)
class PoolDescription:
    """A validated pool description."""

    region: str
    user_pool_id: str
    pool_name: str
    domain_prefix: str | None
    username_case_sensitive: bool
    groups: tuple[str, ...]
    users: tuple[User, ...]
    resource_servers: tuple[ResourceServer, ...]
    app_clients: tuple[AppClient, ...]
    identity_providers: tuple[IdentityProvider, ...]
    raw: Mapping[str, Any] = field(repr=False)
    #: Cognito's feature plan (UserPoolTier): LITE, ESSENTIALS or PLUS
    feature_plan: str = DEFAULT_FEATURE_PLAN

    def client(self, name_or_id: str) -> AppClient:
        """Return the app client with this name or client id."""
        for client in self.app_clients:
            if name_or_id in (client.name, client.client_id):
                return client
        raise KeyError(name_or_id)

    def user(self, username: str) -> User:
        """Return the user with this username (case-folded unless the pool is case-sensitive)."""
        fold = (lambda s: s) if self.username_case_sensitive else str.lower
        for user in self.users:
            if fold(user.username) == fold(username):
                return user
        raise KeyError(username)

    @property
    def custom_scopes(self) -> frozenset[str]:
        """Every ``<resource server>/<scope>`` the pool defines."""
        return frozenset(f"{rs.identifier}/{s}" for rs in self.resource_servers for s in rs.scopes)
