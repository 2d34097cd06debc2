"""The Hub's settings of per-resource tokens (RFC 8693 token exchange): who may ask for what,
and the actor the issued tokens name.

A traitlets mixin of :class:`~jupyter_ai_access.hub.authenticator.CognitoOAuthenticator`
(configure as ``c.CognitoOAuthenticator.<name>``); :mod:`.exchange` does the exchanges and
:mod:`.exchange_api` answers the user's servers. Messages name ``<class in use>.<trait>``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from traitlets import Dict, Float, List, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from ..errors import ConfigurationError
from ..protocol import CognitoEnv, getenv

__all__ = ["ExchangeSettings"]


class ExchangeSettings(LoggingConfigurable):
    """Which groups may get tokens for which audiences, and the Hub's actor client."""

    exchange_policy = Dict(
        config=True,
        help="""Which audiences (resource server identifiers) and scopes each Cognito group may
        ask per-resource tokens for: {group: {audience: [scope, ...]}}, each scope in full
        ("<audience>/<name>"), e.g. {"ml-publishers": {"model-registry":
        ["model-registry/models.read", "model-registry/models.write"]}}. A user may ask for the
        union of their groups' entries; anything else is refused (403 audience_refused). The
        Hub's login scopes (scope) must include these scopes: Cognito narrows an exchanged
        token to the scopes of the user's access token. Default: {} (no per-resource tokens).""",
    )
    exchange_actor_client_id = Unicode(
        config=True,
        help="""App client (client_credentials grant) whose access token the Hub presents as
        the actor of each exchange, so the issued token's act claim names the notebook
        platform (delegation; the Hub's own client then needs ALLOW_TOKEN_EXCHANGE_DELEGATION).
        Empty: exchanges without an actor (impersonation; ALLOW_TOKEN_EXCHANGE_IMPERSONATION).
        Default: $COGNITO_ACTOR_CLIENT_ID.""",
    )
    exchange_actor_client_secret = Unicode(
        config=True,
        help="""The actor client's secret. Keep it out of the config file. Never logged.
        Default: $COGNITO_ACTOR_CLIENT_SECRET, else the content of
        exchange_actor_client_secret_file.""",
    )
    exchange_actor_client_secret_file = Unicode(
        config=True,
        help="""File holding the actor client's secret (read when exchange_actor_client_secret
        and $COGNITO_ACTOR_CLIENT_SECRET are empty). Default: $COGNITO_ACTOR_CLIENT_SECRET_FILE.""",
    )
    exchange_actor_scopes = List(
        Unicode(),
        config=True,
        help="""Scopes asked for in the actor's client_credentials grant (e.g.
        ["notebook-platform/act"]). Default: [] (every scope the actor client is allowed).""",
    )
    exchange_renew_margin = Float(
        60.0,
        config=True,
        help="""Renew a cached per-resource token when it expires within this many seconds
        (from the user's current access token, refreshed first when due). Exchanged tokens
        never outlive the user's access token, so keep it below refresh_margin. Default: 60.""",
    )

    @default("exchange_actor_client_id")
    def _actor_id_default(self) -> str:
        return getenv(CognitoEnv.ACTOR_CLIENT_ID)

    @default("exchange_actor_client_secret_file")
    def _actor_secret_file_default(self) -> str:
        return getenv(CognitoEnv.ACTOR_CLIENT_SECRET_FILE)

    @default("exchange_actor_client_secret")
    def _actor_secret_default(self) -> str:
        secret = getenv(CognitoEnv.ACTOR_CLIENT_SECRET)
        path = self.exchange_actor_client_secret_file
        if secret or not path:
            return secret
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as e:
            name = f"{type(self).__name__}.exchange_actor_client_secret_file"
            raise ConfigurationError(f"{name} {path!r} cannot be read: {e.strerror}") from None

    @validate("exchange_policy")
    def _validate_policy(self, proposal: Any) -> dict[str, dict[str, list[str]]]:
        name = f"{type(self).__name__}.exchange_policy"
        policy: dict[str, dict[str, list[str]]] = {}
        for group, audiences in dict(proposal["value"]).items():
            if not isinstance(group, str) or not group or not isinstance(audiences, dict):
                raise ConfigurationError(
                    f"{name} maps a group name to {{audience: [scopes]}}; "
                    f"got {group!r}: {audiences!r}"
                )
            entry: dict[str, list[str]] = {}
            for audience, scopes in audiences.items():
                if not isinstance(audience, str) or not audience or "/" in audience:
                    raise ConfigurationError(
                        f"{name}[{group!r}]: {audience!r} is not a resource server identifier"
                    )
                if isinstance(scopes, str) or not isinstance(scopes, list | tuple) or not scopes:
                    raise ConfigurationError(
                        f"{name}[{group!r}][{audience!r}] must be a non-empty list of scopes, "
                        f"not {scopes!r}"
                    )
                for scope in scopes:
                    if not isinstance(scope, str) or not scope.startswith(f"{audience}/"):
                        raise ConfigurationError(
                            f"{name}[{group!r}][{audience!r}]: scope {scope!r} is not one of "
                            f"{audience!r}'s (write it in full: '{audience}/<name>')"
                        )
                entry[audience] = sorted(set(scopes))
            policy[group] = entry
        return policy

    @validate("exchange_renew_margin")
    def _validate_renew_margin(self, proposal: Any) -> float:
        value = float(proposal["value"])
        if not 0 <= value < math.inf:
            raise ConfigurationError(
                f"{type(self).__name__}.exchange_renew_margin must be a number of seconds >= 0, "
                f"not {value!r}"
            )
        return value

    def check_exchange_settings(self) -> None:
        """Raise :class:`ConfigurationError` for an actor id without a secret (or vice versa)."""
        cls = type(self).__name__
        if self.exchange_actor_client_id and not self.exchange_actor_client_secret:
            raise ConfigurationError(
                f"{cls}.exchange_actor_client_secret is not set for the actor client "
                f"{self.exchange_actor_client_id!r}: use $COGNITO_ACTOR_CLIENT_SECRET or "
                f"{cls}.exchange_actor_client_secret_file"
            )
        margin = getattr(self, "refresh_margin", None)
        if self.exchange_policy and margin is not None and self.exchange_renew_margin >= margin:
            self.log.warning(
                "%s.exchange_renew_margin (%s s) is not below refresh_margin (%s s): "
                "per-resource tokens are renewed only once the user's tokens are refreshed",
                cls,
                self.exchange_renew_margin,
                margin,
            )
        if self.exchange_actor_client_secret and not self.exchange_actor_client_id:
            raise ConfigurationError(
                f"{cls}.exchange_actor_client_id is not set, but an actor secret is: give the "
                "actor app client's id ($COGNITO_ACTOR_CLIENT_ID)"
            )

    def allowed_exchange(self, groups: list[str], audience: str) -> set[str]:
        """The scopes ``groups`` may ask for ``audience`` (empty: the audience is refused)."""
        allowed: set[str] = set()
        for group in groups:
            allowed.update(self.exchange_policy.get(group, {}).get(audience, ()))
        return allowed
