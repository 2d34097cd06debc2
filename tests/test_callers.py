"""Which token asks the token endpoint: a server's own API token, also after a Hub restart.

Against JupyterHub's real database models (an in-memory SQLite database made by
``jupyterhub.orm``): a Hub that restarted no longer holds ``Spawner.api_token`` in memory, and
the server's token is recognised by the secret of its OAuth client. The request handler is a
stand-in for JupyterHub's (only the four things the check reads); the end-to-end cases run
against the README's deployment in ``test_attacks.py``.
"""

from __future__ import annotations

import secrets
from types import SimpleNamespace
from typing import Any

import pytest
from jupyterhub import orm
from jupyterhub.utils import hash_token

from jupyter_ai_access.hub.callers import CallerCheck


@pytest.fixture
def db() -> Any:
    session = orm.new_session_factory("sqlite://")()
    session.add(orm.OAuthClient(identifier="jupyterhub"))  # the Hub's own client, as at start
    session.commit()
    yield session
    session.close()


def hub_with_server(db: Any, *, in_memory: bool) -> tuple[Any, str, Any]:
    """alice with a running default server; ``in_memory``: the Hub still holds its token."""
    user = orm.User(name="alice")
    db.add(user)
    db.commit()
    token = secrets.token_hex(16)
    orm.APIToken.new(token=token, user=user, note="Server at /user/alice/", scopes=["inherit"])
    orm_token = orm.APIToken.find(db, token)
    client_id = "jupyterhub-user-alice"
    db.add(orm.OAuthClient(identifier=client_id, secret=hash_token(token)))
    db.commit()
    spawner = SimpleNamespace(api_token=token if in_memory else "", oauth_client_id=client_id)
    users = {"alice": SimpleNamespace(name="alice", spawners={"": spawner})}
    return users, token, orm_token


def handler(db: Any, users: dict[str, Any], token: str) -> Any:
    return SimpleNamespace(
        db=db,
        get_auth_token=lambda: token,
        get_token=lambda: orm.APIToken.find(db, token),
        find_user=users.get,
    )


@pytest.mark.parametrize("in_memory", [True, False], ids=["running hub", "after a hub restart"])
def test_the_servers_own_token_is_recognised(db, in_memory):
    users, token, orm_token = hub_with_server(db, in_memory=in_memory)
    caller = CallerCheck().identify(handler(db, users, token), "alice")
    assert caller.server == ""
    assert caller.token_id == orm_token.api_id
    assert (caller.owner_kind, caller.owner) == ("user", "alice")
    assert token not in repr(caller.audit_fields())


@pytest.mark.parametrize("in_memory", [True, False], ids=["running hub", "after a hub restart"])
def test_a_token_made_for_the_user_is_not_a_server_token(db, in_memory):
    users, _, _ = hub_with_server(db, in_memory=in_memory)
    user = db.query(orm.User).filter_by(name="alice").one()
    other = secrets.token_hex(16)
    orm.APIToken.new(
        token=other, user=user, note="Requested via api by user admin", scopes=["inherit"]
    )
    caller = CallerCheck().identify(handler(db, users, other), "alice")
    assert caller.server is None
    assert caller.note == "Requested via api by user admin"  # who made it


def test_a_verdict_is_cached_per_token_row(db):
    users, token, _ = hub_with_server(db, in_memory=False)
    check = CallerCheck()
    assert check.identify(handler(db, users, token), "alice").server == ""
    # the server's OAuth client goes: the cached verdict no longer needs the hash check
    db.query(orm.OAuthClient).filter_by(identifier="jupyterhub-user-alice").delete()
    db.commit()
    assert check.identify(handler(db, users, token), "alice").server == ""
    assert CallerCheck().identify(handler(db, users, token), "alice").server is None
