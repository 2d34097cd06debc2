"""Every private name of JupyterHub and oauthenticator this package touches, in one place.

The authenticator subclasses oauthenticator through documented hooks; these few things have no
public equivalent. ``tests/test_compat.py`` checks each against the installed versions, so an
upgrade that renames or changes one fails loudly there rather than quietly in a login; the
version bounds in ``pyproject.toml`` are the versions those tests ran against.

- ``oauthenticator.oauth2._serialize_state`` / ``_deserialize_state``: the state cookie's
  encoding, which we extend with the login's nonce;
- ``OAuthenticator._token_to_auth_model``: turns a token response into an auth model (shared by
  login and refresh upstream; we call it for our own refresh);
- ``BaseHandler._token_authenticated``: whether a Hub request came with an API token rather than
  a browser cookie;
- ``User.db``: the ORM session, to commit a demotion made outside a request.
"""

from __future__ import annotations

from typing import Any

from oauthenticator import oauth2

__all__ = [
    "commit_user",
    "deserialize_state",
    "is_token_authenticated",
    "serialize_state",
    "token_to_auth_model",
]


def serialize_state(state: dict[str, Any]) -> str:
    """Encode the OAuth state cookie's value as oauthenticator does."""
    return str(oauth2._serialize_state(state))


def deserialize_state(value: str) -> dict[str, Any]:
    """Decode the OAuth state cookie's value ({} when it is not valid)."""
    state = oauth2._deserialize_state(value)
    return state if isinstance(state, dict) else {}


async def token_to_auth_model(authenticator: Any, token_info: dict[str, Any]) -> dict[str, Any]:
    """oauthenticator's token response → auth model (user model hooks, managed groups)."""
    model: dict[str, Any] = await authenticator._token_to_auth_model(token_info)
    return model


def is_token_authenticated(handler: Any) -> bool:
    """True when the Hub request was authenticated by an API token (not a browser cookie)."""
    return bool(getattr(handler, "_token_authenticated", False))


def commit_user(user: Any) -> None:
    """Commit changes made to a Hub ``User`` (e.g. ``admin``) outside a request."""
    user.db.commit()
