"""Every private name of JupyterHub and oauthenticator that ``hub/_compat.py`` touches still works.

An upgrade that renames or changes one of them fails here, loudly and by name, rather than in a
login. The version bounds of the ``hub`` extra in ``pyproject.toml`` are the versions these tests
ran against: the newest in the main suite, the oldest in ``scripts/compat``
(tests/test_compat_range.py); widen them only with this file green on both.
"""

from __future__ import annotations

import base64
import hashlib
import inspect

import jupyterhub
import oauthenticator
import pytest
from jupyterhub.handlers.base import BaseHandler
from jupyterhub.user import User
from oauthenticator import oauth2
from oauthenticator.generic import GenericOAuthenticator
from tornado import web

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


def test_the_oauthenticator_generation_is_recognised_by_its_features():
    assert oauthenticator.__version__.startswith("16.") == _compat.OAUTHENTICATOR_16
    if _compat.OAUTHENTICATOR_16:
        # 16's authenticate (not used) puts back the previous, sealed refresh token: _compat's
        # authenticate is 17's, on the hooks 16 has
        assert "get_prev_refresh_token" in inspect.getsource(GenericOAuthenticator.authenticate)
        for hook in ("token_to_user", "user_info_to_username", "build_auth_state_dict"):
            assert callable(getattr(GenericOAuthenticator, hook)), hook


def test_token_to_auth_model_is_the_coroutine_shared_by_login_and_refresh():
    if _compat.OAUTHENTICATOR_16:
        assert not hasattr(GenericOAuthenticator, "_token_to_auth_model")
        return  # _compat builds the model itself (test_token_to_auth_model_calls_our_hooks)
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


class GroupsProbe(GenericOAuthenticator):
    """The user model hooks, answering from the token response alone."""

    async def token_to_user(self, token_info):
        return {"name": token_info["who"]}

    def user_info_to_username(self, user_info):
        return user_info["name"]

    def build_auth_state_dict(self, token_info, user_info):
        return {"cognito_groups": token_info["groups"]}

    async def update_auth_model(self, auth_model):
        return auth_model  # as CognitoOAuthenticator's: no userinfo, so none of 16's groups


@pytest.mark.parametrize(
    ("groups", "admin", "allowed"),
    [(["ml"], False, True), (["other"], False, False), (["adm"], True, True), ([], False, False)],
)
async def test_managed_groups_decide_admin_and_access_as_oauthenticator_17_does(
    groups, admin, allowed
):
    extra = {} if _compat.OAUTHENTICATOR_16 else {"auth_state_groups_key": "cognito_groups"}
    probe = GroupsProbe(
        manage_groups=True, allowed_groups={"ml"}, admin_groups={"adm"}, **extra
    )
    model = await _compat.token_to_auth_model(probe, {"who": "ann", "groups": groups})
    assert model["groups"] == sorted(groups)
    assert model["admin"] is admin
    assert await _compat.check_allowed(probe, "ann", model) is allowed


async def test_authenticate_is_the_code_exchange_then_the_shared_model():
    seen = []

    class Probe(GroupsProbe):
        def build_access_tokens_request_params(self, handler, data=None):
            return {"code": handler}

        async def get_token_info(self, handler, params):
            seen.append(params)
            return {"who": "ann", "groups": ["ml"]}  # no refresh token: none is made up

    model = await _compat.authenticate(Probe(), "the-code")
    assert seen == [{"code": "the-code"}]
    assert model["name"] == "ann" and model["auth_state"] == {"cognito_groups": ["ml"]}


def test_pkce_is_sent_on_every_supported_oauthenticator():
    state: dict[str, str] = {}
    challenge = _compat.add_pkce(state)
    if not _compat.OAUTHENTICATOR_16:
        assert "enable_pkce" in GenericOAuthenticator.class_trait_names()  # upstream does it
        assert challenge is None and state == {}
        return
    verifier = state["code_verifier"]
    assert len(verifier) >= 43
    digest = hashlib.sha256(verifier.encode()).digest()
    assert challenge == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert _compat.add_pkce(state) is None and state["code_verifier"] == verifier  # kept once

    class Handler:
        cookie: str | None = _compat.serialize_state(state)

        def get_state_cookie(self):
            return self.cookie

    params = _compat.pkce_token_params(Handler(), {"code": "c"})
    assert params == {"code": "c", "code_verifier": verifier}
    Handler.cookie = None
    with pytest.raises(web.HTTPError) as refused:
        _compat.pkce_token_params(Handler(), {"code": "c"})
    assert refused.value.status_code == 400


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

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10 (scripts/compat installs tomli)
        import tomli as tomllib
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
