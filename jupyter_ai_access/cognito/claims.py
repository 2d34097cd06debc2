"""Per-resource tokens: the audience (``aud``) and the actor (``act``) of an access token.

Cognito's token exchange (RFC 8693) issues access tokens bound to one audience (a resource
server's identifier in ``aud``) and, when the exchange presented an actor token, naming the
intermediary in ``act`` (``{"sub": ..., "client_id": ...}``, earlier actors nested in ``act.act``).
The user's own access token (a *broad* token) carries no ``aud`` on Cognito; the local emulator
(oidc-provider) writes the app client's own id there, which binds it to no resource either.

Shapes decided here (every verifier applies them, whatever it was configured with):

- ``aud``: a non-empty string, or a list of exactly one (RFC 7519 allows both spellings); a list
  of several is refused (a token valid at two resources lets one replay it to the other), as is
  an empty list, ``null``, a number or an object. ``aud`` equal to the token's ``client_id`` is the
  emulator's broad token.
- ``act``: an object with a non-empty string ``client_id`` (``sub`` a string when present, other
  members kept); a nested ``act`` (the earlier actors) must have the same shape. Only the
  outermost ``act`` is the current actor; nested ones are informational (RFC 8693 section 4.1)
  and never count for ``allowed_actors``.

Standard library only.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from ..errors import ClaimError, ConfigurationError
from .jws import _SCALARS
from .jws import json_copy as _json_copy
from .jws import show as _show

__all__ = [
    "CacheEntry",
    "ResourcePolicy",
    "TokenClaims",
    "bound_audience",
    "check_act",
    "check_actor",
    "check_actor_options",
    "nested_names",
    "verified_copy",
]


#: A verified token in the verifier's cache: (claims, exp, the names of its container claims).
CacheEntry = tuple[dict[str, Any], float, tuple[str, ...]]


class TokenClaims(dict[str, Any]):
    """The claims of a verified token: a plain ``dict`` with the per-resource facts as properties.

    Properties are computed from the claims, never read from a member of the same name, so a
    token cannot claim its own ``actor`` or ``audience``.
    """

    __slots__ = ()

    @property
    def act(self) -> dict[str, Any] | None:
        """The ``act`` claim (the current actor, earlier ones nested in it), or None."""
        act = self.get("act")
        return act if type(act) is dict else None

    @property
    def actor(self) -> str | None:
        """The app client that acted for the user (``act.client_id``), or None without ``act``."""
        act = self.act
        return None if act is None else act["client_id"]

    @property
    def audience(self) -> str | None:
        """The audience an access token is bound to, or None for a broad token (or an ID token)."""
        if self.get("token_use") != "access" or "aud" not in self:
            return None
        return bound_audience(self)


def nested_names(claims: dict[str, Any]) -> tuple[str, ...]:
    """The names of the claims whose values are containers (lists, objects)."""
    return tuple([name for name, value in claims.items() if type(value) not in _SCALARS])


def verified_copy(claims: dict[str, Any], nested: tuple[str, ...]) -> TokenClaims:
    """A caller's own deep copy of verified claims (``nested``: :func:`nested_names` of them)."""
    copied = TokenClaims(claims)
    for name in nested:
        copied[name] = _json_copy(claims[name])
    return copied


def bound_audience(claims: dict[str, Any]) -> str | None:
    """The audience an access token carrying ``aud`` is bound to; None when it names its own
    client (the emulator's broad token). :class:`ClaimError` for any other shape."""
    aud = claims["aud"]
    if type(aud) is list:
        if len(aud) != 1:
            raise ClaimError(
                "aud",
                f"must name exactly one audience, not a list of {len(aud)} "
                "(a token valid at several resources is refused by each)",
            )
        aud = aud[0]
    if type(aud) is not str or not aud:
        raise ClaimError("aud", f"must be a resource server identifier, not {_show(aud)}")
    return None if aud == claims.get("client_id") else aud


def check_act(act: Any) -> None:
    """Raise :class:`ClaimError` unless ``act`` (and every nested ``act``) is an actor object.

    The nesting depth is bounded by the JSON parser's own limit.
    """
    while True:
        if type(act) is not dict:
            raise ClaimError("act", f"must be an object naming the actor, not {_show(act)}")
        client = act.get("client_id")
        if type(client) is not str or not client:
            raise ClaimError("act", "must name the acting app client in a non-empty 'client_id'")
        if "sub" in act and type(act["sub"]) is not str:
            raise ClaimError("act", "'sub' must be a string")
        if "act" not in act:
            return
        act = act["act"]


def check_actor(
    claims: dict[str, Any], require_actor: bool | None, allowed_actors: Collection[str]
) -> None:
    """Enforce the actor policy on claims whose ``act`` passed :func:`check_act`."""
    act = claims.get("act")
    if act is None:
        if require_actor:
            raise ClaimError(
                "act",
                "is missing: this resource accepts only delegated tokens (an exchange with an "
                "actor token names the intermediary in 'act')",
            )
        return
    if require_actor is False:
        raise ClaimError(
            "act",
            f"names the actor {_show(act['client_id'])}: this resource accepts only tokens the "
            "user presents directly (require_actor=False)",
        )
    if allowed_actors and act["client_id"] not in allowed_actors:
        raise ClaimError(
            "act",
            f"names the actor {_show(act['client_id'])}, not one this resource allows "
            f"({', '.join(sorted(allowed_actors))})",
        )


class ResourcePolicy:
    """What one resource accepts of ``aud`` and ``act`` (the verifier's ``audience``,
    ``accept_broad_tokens``, ``require_actor`` and ``allowed_actors``), checked once per token."""

    def __init__(
        self,
        token_use: str,
        client_ids: Collection[str],
        audience: str | Iterable[str],
        accept_broad_tokens: bool,
        require_actor: bool | None,
        allowed_actors: Iterable[str],
    ) -> None:
        name = "CognitoTokenVerifier"
        self.token_use = token_use
        self.audiences = frozenset((audience,) if isinstance(audience, str) else audience)
        self.accept_broad_tokens = accept_broad_tokens
        self.require_actor = require_actor
        self.allowed_actors = frozenset(allowed_actors)
        if not all(isinstance(a, str) and a for a in self.audiences):
            raise ConfigurationError(f"{name}(audience=...) lists resource server identifiers")
        if self.audiences & set(client_ids):
            raise ConfigurationError(
                f"{name}(audience=...) names an app client id: an audience is a resource server's "
                "identifier (an access token whose aud is its own client_id is a broad token)"
            )
        if type(accept_broad_tokens) is not bool:
            raise ConfigurationError(f"{name}(accept_broad_tokens=...) is True or False")
        if token_use != "access" and (self.audiences or not accept_broad_tokens):
            raise ConfigurationError(
                f"{name}(audience=..., accept_broad_tokens=...) apply to access tokens: an ID "
                "token's aud is its app client (client_ids)"
            )
        if not accept_broad_tokens and not self.audiences:
            raise ConfigurationError(
                f"{name}(accept_broad_tokens=False) needs audience=...: without one every token "
                "is refused"
            )
        check_actor_options(require_actor, self.allowed_actors, None)
        #: False when no token without ``aud`` and ``act`` needs a look (the common fast path).
        self.strict = not accept_broad_tokens or require_actor is not None or bool(allowed_actors)

    def check(self, claims: dict[str, Any]) -> None:
        """Refuse the claims unless ``aud`` and ``act`` are well formed and acceptable here."""
        if self.token_use == "access":
            aud = bound_audience(claims) if "aud" in claims else None
            if aud is None:
                if not self.accept_broad_tokens:
                    raise ClaimError(
                        "aud",
                        "is missing: this resource accepts only tokens bound to its audience "
                        f"({', '.join(sorted(self.audiences))}); ask for one, e.g. "
                        "get_token(audience=...)",
                    )
            elif aud not in self.audiences:
                where = ", ".join(sorted(self.audiences)) or "it names no audience"
                raise ClaimError(
                    "aud",
                    f"binds the token to {_show(aud)}, not to this resource ({where}): ask for a "
                    "token with this resource's audience",
                )
        if "act" in claims:
            check_act(claims["act"])
        if self.require_actor is not None or self.allowed_actors:
            check_actor(claims, self.require_actor, self.allowed_actors)


def check_actor_options(
    require_actor: bool | None, allowed_actors: Collection[str], configured: bool | None
) -> None:
    """Raise :class:`ConfigurationError` when an actor requirement cannot be met."""
    if type(require_actor) not in (bool, type(None)):
        raise ConfigurationError(f"require_actor={require_actor!r} is True, False or None")
    if not all(isinstance(a, str) and a for a in allowed_actors):
        raise ConfigurationError("allowed_actors lists app client ids (non-empty strings)")
    if require_actor is False and allowed_actors:
        raise ConfigurationError(
            "require_actor=False refuses every token with an actor: allowed_actors would never "
            "apply; drop one of them"
        )
    if None not in (require_actor, configured) and require_actor != configured:
        raise ConfigurationError(
            f"require_actor={require_actor!r} contradicts the verifier's "
            f"require_actor={configured!r}: every token would be refused"
        )
