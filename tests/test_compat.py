"""Every private name of JupyterHub and oauthenticator that ``hub/_compat.py`` touches still works.

An upgrade that renames or changes one of them fails here, loudly and by name, rather than in a
login. The version bounds of the ``hub`` extra in ``pyproject.toml`` are the versions these tests
ran against; widen them only with this file green.
"""

from __future__ import annotations

import inspect

import jupyterhub
import oauthenticator
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.user import User
from oauthenticator import oauth2
from oauthenticator.generic import GenericOAuthenticator

from jupyter_ai_access.hub import _compat


def test_state_cookie_round_trips_with_our_nonce():
    state = {"state_id": "abc", "next_url": "/hub/home", "code_verifier": "v", "nonce": "n"}
    encoded = _compat.serialize_state(state)
    assert isinstance(encoded, str)
    assert _compat.deserialize_state(encoded) == state
    # oauthenticator's own functions agree with ours (same encoding both ways)
    assert oauth2._deserialize_state(encoded) == state
    assert _compat.deserialize_state(oauth2._serialize_state(state)) == state


def test_a_broken_state_cookie_decodes_to_an_empty_state():
    assert _compat.deserialize_state("not base64 json!") == {}


def test_token_to_auth_model_is_the_coroutine_shared_by_login_and_refresh():
    fn = GenericOAuthenticator._token_to_auth_model
    assert inspect.iscoroutinefunction(fn)
    assert list(inspect.signature(fn).parameters) == ["self", "token_info"]
    source = inspect.getsource(fn)
    # the hooks we override are the ones it calls, in this order
    for hook in ("token_to_user", "user_info_to_username", "build_auth_state_dict"):
        assert f"self.{hook}(" in source, hook
    assert "self.update_auth_model(" in source


async def test_token_to_auth_model_calls_our_hooks():
    calls = []

    class Probe(GenericOAuthenticator):
        async def token_to_user(self, token_info):
            calls.append("token_to_user")
            return {"name": "ann"}

        def user_info_to_username(self, user_info):
            calls.append("user_info_to_username")
            return user_info["name"]

        def build_auth_state_dict(self, token_info, user_info):
            calls.append("build_auth_state_dict")
            return {"ok": True}

    model = await _compat.token_to_auth_model(Probe(), {"access_token": "x"})
    assert model["name"] == "ann" and model["auth_state"] == {"ok": True}
    assert calls == ["token_to_user", "user_info_to_username", "build_auth_state_dict"]


def test_api_token_authentication_still_sets_token_authenticated():
    source = inspect.getsource(BaseHandler)
    assert "self._token_authenticated = True" in source
    assert _compat.is_token_authenticated(type("H", (), {"_token_authenticated": True})())
    assert not _compat.is_token_authenticated(object())


def test_hub_user_still_carries_its_db_session():
    assert "self.db = db" in inspect.getsource(User.__init__)
    committed = []
    user = type("U", (), {"db": type("DB", (), {"commit": lambda self: committed.append(1)})()})()
    _compat.commit_user(user)
    assert committed == [1]


def test_versions_match_the_bounds_in_pyproject():
    from pathlib import Path

    import tomllib
    from packaging.requirements import Requirement

    meta = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    bounds = {
        Requirement(r).name: Requirement(r).specifier
        for r in meta["project"]["optional-dependencies"]["hub"]
    }
    assert jupyterhub.__version__ in bounds["jupyterhub"]
    assert oauthenticator.__version__ in bounds["oauthenticator"]
    assert all("<" in str(spec) for spec in bounds.values()), "upper bounds are required"


def test_the_servers_signal_stop_is_the_handler_sigterm_uses():
    # server/app.py makes SIGINT stop a non-interactive server the way SIGTERM does, with
    # jupyter_server's private ServerApp._signal_stop (JupyterHub's singleuser uses it too).
    from jupyter_server.serverapp import ServerApp

    assert list(inspect.signature(ServerApp._signal_stop).parameters) == ["self", "sig", "frame"]
    assert "self._signal_stop" in inspect.getsource(ServerApp.init_signal)
