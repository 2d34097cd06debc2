"""Every private name of JupyterHub and oauthenticator this package touches, and every difference
between the supported versions, in one place.

The authenticator subclasses oauthenticator through documented hooks; these few things have no
public equivalent. ``tests/test_compat.py`` checks each against the installed versions, so an
upgrade that renames or changes one fails loudly there rather than quietly in a login; the
version bounds in ``pyproject.toml`` are the versions those tests ran against (the newest by the
main suite, the oldest by ``scripts/compat``, run by ``tests/test_compat_range.py``).

Supported: JupyterHub 5.x and 6.x, oauthenticator 16.3 and 17.x. What oauthenticator 16 lacks
(:data:`OAUTHENTICATOR_16`; feature-detected, not read from the version number):

- ``_token_to_auth_model`` (17.0: the user model built from a token response, shared by login
  and refresh): :func:`token_to_auth_model` builds it with the same public hooks, in the same
  order, and :func:`authenticate` is 17's ``authenticate`` on top of it. 16's own
  ``authenticate`` would also put the *sealed* refresh token of the previous auth_state back into
  a token response without one (``get_prev_refresh_token``), to be sealed a second time;
- managed groups on ``OAuthenticator`` (17.0: ``auth_state_groups_key``, ``allowed_groups`` and
  ``admin_groups`` read from auth_state): 16 has them on ``GenericOAuthenticator`` only, read
  from the userinfo response under ``user_auth_state_key`` (which our auth_state does not keep:
  ``check_allowed`` ended in a ``KeyError``, a 500 at ``/hub/oauth_callback``).
  :func:`apply_managed_groups` and :func:`check_allowed` do 17's;
- PKCE (17.1: ``enable_pkce``): :func:`add_pkce` keeps a verifier in the state cookie and
  returns the S256 challenge for the authorize request, :func:`pkce_token_params` sends the
  verifier with the code.

Private names used on every version:

- ``oauthenticator.oauth2._serialize_state`` / ``_deserialize_state``: the state cookie's
  encoding, which we extend with the login's nonce;
- ``OAuthenticator._token_to_auth_model``: turns a token response into an auth model (shared by
  login and refresh upstream; we call it for our own refresh);
- ``BaseHandler._token_authenticated``: whether a Hub request came with an API token rather than
  a browser cookie;
- ``User.db``: the ORM session, to commit a demotion made outside a request.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable
from functools import reduce
from inspect import isawaitable
from typing import Any

from oauthenticator import oauth2
from oauthenticator.generic import GenericOAuthenticator
from tornado import web

__all__ = [
    "OAUTHENTICATOR_16",
    "add_pkce",
    "apply_managed_groups",
    "authenticate",
    "check_allowed",
    "commit_user",
    "deserialize_state",
    "is_token_authenticated",
    "pkce_token_params",
    "serialize_state",
    "token_to_auth_model",
]

#: oauthenticator 16 (no shared ``_token_to_auth_model``, no managed groups on ``OAuthenticator``,
#: no PKCE); False from 17.1 on, which has all three.
OAUTHENTICATOR_16 = not (
    hasattr(oauth2.OAuthenticator, "_token_to_auth_model")
    and "enable_pkce" in oauth2.OAuthenticator.class_trait_names()
    and "auth_state_groups_key" in oauth2.OAuthenticator.class_trait_names()
)
#: The auth_state key of the groups when the authenticator has no ``auth_state_groups_key``.
DEFAULT_GROUPS_KEY = "cognito_groups"


def serialize_state(state: dict[str, Any]) -> str:
    """Encode the OAuth state cookie's value as oauthenticator does."""
    return str(oauth2._serialize_state(state))


def deserialize_state(value: str) -> dict[str, Any]:
    """Decode the OAuth state cookie's value ({} when it is not valid)."""
    state = oauth2._deserialize_state(value)
    return state if isinstance(state, dict) else {}


async def token_to_auth_model(authenticator: Any, token_info: dict[str, Any]) -> dict[str, Any]:
    """oauthenticator's token response → auth model (user model hooks, managed groups)."""
    if not OAUTHENTICATOR_16:
        model: dict[str, Any] = await authenticator._token_to_auth_model(token_info)
        return model
    # oauthenticator 17.4's _token_to_auth_model, with the hooks 16 has
    user_info = await authenticator.token_to_user(token_info)
    username = authenticator.normalize_username(authenticator.user_info_to_username(user_info))
    auth_state = authenticator.build_auth_state_dict(token_info, user_info)
    if isawaitable(auth_state):
        auth_state = await auth_state
    model = {
        "name": username,
        "admin": True if username in authenticator.admin_users else None,
        "auth_state": auth_state,
    }
    model = await authenticator.update_auth_model(model)
    return await apply_managed_groups(authenticator, model)


async def authenticate(authenticator: Any, handler: Any, data: Any = None) -> dict[str, Any]:
    """The login's code → auth model, as oauthenticator 17 does on every version."""
    params = authenticator.build_access_tokens_request_params(handler, data)
    token_info = await authenticator.get_token_info(handler, params)
    return await token_to_auth_model(authenticator, token_info)


def _groups(authenticator: Any, auth_state: dict[str, Any]) -> set[str]:
    key = getattr(authenticator, "auth_state_groups_key", None) or DEFAULT_GROUPS_KEY
    if callable(key):
        found: Any = key(auth_state)
    else:
        try:
            found = reduce(dict.get, str(key).split("."), auth_state)  # type: ignore[arg-type]
        except TypeError:
            found = None
    return set(found) if isinstance(found, Iterable) and not isinstance(found, str) else set()


async def apply_managed_groups(authenticator: Any, model: dict[str, Any]) -> dict[str, Any]:
    """oauthenticator 17's managed groups on 16: ``groups`` from auth_state, admin from
    ``admin_groups`` (unless ``admin_users`` made the user an admin). 17 did it already."""
    if OAUTHENTICATOR_16 and authenticator.manage_groups:
        groups = _groups(authenticator, model["auth_state"] or {})
        model["groups"] = sorted(groups)
        if authenticator.admin_groups and not model["admin"]:
            model["admin"] = bool(groups & set(authenticator.admin_groups))
    return model


async def check_allowed(authenticator: Any, username: str, auth_model: dict[str, Any]) -> bool:
    """oauthenticator's allow decision, with 17's ``allowed_groups`` (the model's ``groups``).

    16's ``GenericOAuthenticator.check_allowed`` reads the groups from a userinfo response we do
    not keep; its base ``OAuthenticator.check_allowed`` (allow_all, admin, allowed_users, ...)
    is the same as 17's before the groups.
    """
    if not OAUTHENTICATOR_16:  # what super() reaches from CognitoOAuthenticator
        return bool(await GenericOAuthenticator.check_allowed(authenticator, username, auth_model))
    if await oauth2.OAuthenticator.check_allowed(authenticator, username, auth_model):
        return True
    groups = set(auth_model.get("groups") or ())
    allowed = set(authenticator.allowed_groups)
    return bool(authenticator.manage_groups and groups & allowed)


def add_pkce(state: dict[str, Any]) -> str | None:
    """On oauthenticator 16: keep a new PKCE verifier in ``state`` (the state cookie) and return
    its S256 challenge for the authorize request. None when oauthenticator does PKCE itself."""
    if not OAUTHENTICATOR_16 or state.get("code_verifier"):
        return None
    verifier = secrets.token_urlsafe(32)
    state["code_verifier"] = verifier
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def pkce_token_params(handler: Any, params: dict[str, Any]) -> dict[str, Any]:
    """On oauthenticator 16: the code exchange's ``params`` with the state cookie's verifier."""
    if not OAUTHENTICATOR_16 or "code_verifier" in params:
        return params
    state = handler.get_state_cookie()
    verifier = deserialize_state(state).get("code_verifier") if state else None
    if not verifier:
        raise web.HTTPError(400, "Missing code_verifier: start the login again")
    return {**params, "code_verifier": verifier}


def is_token_authenticated(handler: Any) -> bool:
    """True when the Hub request was authenticated by an API token (not a browser cookie)."""
    return bool(getattr(handler, "_token_authenticated", False))


def commit_user(user: Any) -> None:
    """Commit changes made to a Hub ``User`` (e.g. ``admin``) outside a request."""
    user.db.commit()
