"""Token exchange (RFC 8693) on the provisioned pool: client flags, feature plan, the actor client.

Cognito's exchange needs, per the pool description: the pool on the ESSENTIALS or PLUS feature
plan (``feature_plan`` → ``user_pool_tier``); the requesting client with
``ALLOW_TOKEN_EXCHANGE_DELEGATION`` (or ``_IMPERSONATION``) in ``explicit_auth_flows``; for
delegation, the ``jupyterhub-actor`` machine client whose token is presented as the actor. Setting
``ExplicitAuthFlows`` on AWS replaces Cognito's defaults (which include SRP and custom auth), so
every client gets exactly ``ALLOW_REFRESH_TOKEN_AUTH`` plus the exchange flags it is described
with: nothing that would let a client take a password.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import pulumi_aws as aws

from jupyter_ai_access.errors import ConfigurationError, PoolDescriptionError
from jupyter_ai_access.pooldesc.model import EXCHANGE_PLANS, TOKEN_EXCHANGE_FLAGS
from jupyter_ai_access.pooldesc.pool import AppClient, PoolDescription

__all__ = [
    "ACTOR_CLIENT",
    "REFRESH",
    "auth_flows",
    "check_exchange",
    "provider_gap",
]

ACTOR_CLIENT = "jupyterhub-actor"
REFRESH = "ALLOW_REFRESH_TOKEN_AUTH"
DELEGATION = "ALLOW_TOKEN_EXCHANGE_DELEGATION"
#: what infra/ provisions: OAuth clients (hosted sign-in, client credentials) and the exchange
PROVISIONED_FLOWS = frozenset({REFRESH}) | TOKEN_EXCHANGE_FLAGS


def auth_flows(client: AppClient) -> list[str]:
    """The client's ExplicitAuthFlows: refresh (always: they replace Cognito's defaults) + flags."""
    return [REFRESH, *sorted(set(client.explicit_auth_flows) - {REFRESH})]


def check_exchange(
    pool: PoolDescription,
    hub_name: str,
    advanced_security: str,
    fail: Callable[[str, str], PoolDescriptionError],
) -> None:
    """Refuse an exchange set-up Cognito would refuse or that grants more than it needs."""
    if advanced_security and pool.feature_plan != "PLUS":
        raise ConfigurationError(
            f"advancedSecurity {advanced_security} needs the PLUS feature plan: set "
            f'"feature_plan": "PLUS" in the pool description (it is {pool.feature_plan})'
        )
    names = {c.name: c for c in pool.app_clients}
    hub = names.get(hub_name)
    for i, client in enumerate(pool.app_clients):
        entry = f"app_clients[{i}] {client.name!r}"
        extra = sorted(set(client.explicit_auth_flows) - PROVISIONED_FLOWS)
        if extra:
            raise fail(
                entry,
                f"explicit_auth_flows {extra}: infra/ provisions OAuth clients only (hosted "
                "sign-in, client credentials, token exchange); allowed: "
                f"{sorted(PROVISIONED_FLOWS)}",
            )
        if client.may_exchange and pool.feature_plan not in EXCHANGE_PLANS:
            raise fail(
                entry,
                f"{sorted(client.may_exchange)} needs the pool on feature_plan ESSENTIALS or PLUS "
                f"(the description says {pool.feature_plan}): Cognito refuses token exchange on "
                "LITE",
            )
        if DELEGATION in client.may_exchange and client.name == hub_name:
            actor = names.get(ACTOR_CLIENT)
            if actor is None or actor.allowed_oauth_flows != ("client_credentials",):
                raise fail(
                    entry,
                    f"{DELEGATION} needs a machine client {ACTOR_CLIENT!r} (allowed_oauth_flows "
                    "['client_credentials'], one scope of its own such as "
                    "'notebook-platform/act'): its token is the actor of every exchange",
                )
        if client.name == ACTOR_CLIENT and hub is not None:
            shared = sorted(set(client.allowed_oauth_scopes) & set(hub.allowed_oauth_scopes))
            if shared:
                raise fail(
                    entry,
                    f"scopes {shared} are also the Hub's: the actor carries only the actor's scope "
                    "(a resource server of its own), never a downstream service's",
                )


_DOCUMENTED = re.compile(r"`(ALLOW_[A-Z_]+)`")


def provider_gap(flows: Iterable[str], documented: Iterable[str] | None = None) -> str | None:
    """A warning when the installed pulumi-aws does not document some of ``flows``.

    Its Terraform provider validates ``explicit_auth_flows`` against the AWS SDK it was built
    with; a release from before token exchange refuses the flags at ``pulumi preview``.
    ``documented``: the values the installed package lists (read from its docstring when None).
    """
    if documented is None:
        doc = aws.cognito.UserPoolClientArgs.explicit_auth_flows.__doc__ or ""
        documented = _DOCUMENTED.findall(doc)
    known = set(documented)
    missing = sorted(set(flows) - known)
    if not known or not missing:
        return None
    try:
        from importlib.metadata import version

        installed = f"pulumi-aws {version('pulumi-aws')}"
    except Exception:  # only for the message
        installed = "the installed pulumi-aws"
    return (
        f"{installed} does not list {missing} among UserPoolClient.explicit_auth_flows; if "
        '`pulumi preview` refuses them ("expected ... to be one of"), upgrade: '
        "pip install -U pulumi-aws (and `pulumi plugin install resource aws` for its provider)"
    )
