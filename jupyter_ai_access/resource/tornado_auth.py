"""Protect tornado handlers with a :class:`~jupyter_ai_access.resource.CognitoTokenVerifier`.

One line per handler method::

    class DatasetHandler(web.RequestHandler):
        @bearer_required(verifier, scopes=["ai-access/datasets.read"], groups=["ml-training"])
        async def get(self, name):
            user = self.cognito_claims["username"]
            actor = self.cognito_claims.actor   # the acting app client (``act``), or None

``require_actor`` / ``allowed_actors`` add an actor policy per route (on top of the verifier's).

or a mixin that checks every method (``required_scopes`` / ``required_groups`` /
``require_actor`` / ``allowed_actors`` class attributes, the verifier from
``self.settings["cognito_verifier"]``, the actor in ``self.cognito_actor``). Refusals follow
RFC 6750 (401 ``invalid_token``, 403 ``insufficient_scope``, 503 when the IdP's keys cannot be
fetched) and never echo the token.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Collection, Iterable
from typing import Any, TypeVar

from tornado import web

from ..cognito.claims import TokenClaims
from ..cognito.verify import CognitoTokenVerifier
from ..errors import IdentityProviderError, TokenError
from .bearer import bearer_error_response, extract_bearer

__all__ = ["BearerAuthMixin", "bearer_required"]

F = TypeVar("F", bound=Callable[..., Any])


async def _authenticate(
    handler: web.RequestHandler,
    verifier: CognitoTokenVerifier,
    scopes: Iterable[str],
    groups: Iterable[str],
    require_actor: bool | None = None,
    allowed_actors: Collection[str] = (),
) -> bool:
    try:
        token = extract_bearer(handler.request.headers.get("Authorization"))
        handler.cognito_claims = await verifier.verify_async(  # type: ignore[attr-defined]
            token,
            scopes=scopes,
            groups=groups,
            require_actor=require_actor,
            allowed_actors=allowed_actors,
        )
    except (TokenError, IdentityProviderError) as e:
        status, headers, body = bearer_error_response(e)
        handler.set_status(status)
        for name, value in headers.items():
            handler.set_header(name, value)
        handler.finish(body)
        return False
    return True


def bearer_required(
    verifier: CognitoTokenVerifier,
    *,
    scopes: Iterable[str] = (),
    groups: Iterable[str] = (),
    require_actor: bool | None = None,
    allowed_actors: Iterable[str] = (),
) -> Callable[[F], F]:
    """Decorate a handler method: verify the bearer token first, set ``self.cognito_claims``
    (:class:`~jupyter_ai_access.cognito.claims.TokenClaims`: ``.actor``, ``.audience``).

    Raises :class:`~jupyter_ai_access.errors.ConfigurationError` at once when the verifier
    cannot enforce ``scopes`` (an ID-token verifier) or the actor policy contradicts its own.
    """
    scopes, groups, actors = tuple(scopes), tuple(groups), frozenset(allowed_actors)
    verifier.check_scopes(scopes)
    verifier.check_actor_options(require_actor, actors)

    def decorator(method: F) -> F:
        @functools.wraps(method)
        async def wrapper(self: web.RequestHandler, *args: Any, **kwargs: Any) -> Any:
            if not await _authenticate(self, verifier, scopes, groups, require_actor, actors):
                return None
            result = method(self, *args, **kwargs)
            if inspect.isawaitable(result):
                result = await result
            return result

        return wrapper  # type: ignore[return-value]

    return decorator


class BearerAuthMixin:
    """Verify the bearer token in ``prepare()`` for every method of a ``RequestHandler``."""

    required_scopes: tuple[str, ...] = ()
    required_groups: tuple[str, ...] = ()
    require_actor: bool | None = None
    allowed_actors: frozenset[str] = frozenset()
    cognito_claims: TokenClaims

    @property
    def cognito_actor(self) -> str | None:
        """The app client that acted for the user (``act.client_id``), or None."""
        return self.cognito_claims.actor

    def get_cognito_verifier(self) -> CognitoTokenVerifier:
        """The verifier; by default ``self.settings["cognito_verifier"]``."""
        return self.settings["cognito_verifier"]  # type: ignore[attr-defined,no-any-return]

    async def prepare(self) -> None:
        """Refuse the request unless its bearer token verifies."""
        handler: Any = self
        await _authenticate(
            handler,
            self.get_cognito_verifier(),
            self.required_scopes,
            self.required_groups,
            self.require_actor,
            self.allowed_actors,
        )
