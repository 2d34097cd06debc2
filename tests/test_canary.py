"""The canary leak check: every test secret carries a canary, and a leak fails the run."""

from __future__ import annotations

import jwt
import pytest
from jupyter_ai_access_testing.canary import CanaryRegistry


def test_canary_found_plain_and_inside_a_jwt_at_every_alignment(token_factory):
    registry = CanaryRegistry(token_factory.canary)
    assert registry.find(f"oops {registry.secret('client-secret')}") == ["canary"]
    for pad in ("", "x", "xy"):
        token = jwt.encode({"pad": pad, "custom:canary": registry.canary}, "k" * 32, "HS256")
        assert registry.find(f"Authorization: Bearer {token}"), pad
    assert registry.find("nothing to see") == []


def test_registered_values_are_found_and_named(canaries):
    registry = CanaryRegistry()
    registry.register("opaque-refresh-token-value-123", "refresh_token")
    assert registry.find("...opaque-refresh-token-value-123...") == ["refresh_token"]
    assert registry.find("opaque-refresh") == []


def test_test_pool_secrets_carry_the_canary(cognito_pool_description, canaries):
    for user in cognito_pool_description["users"]:
        assert canaries.canary in user["password"]
    for client in cognito_pool_description["app_clients"]:
        if "client_secret" in client:
            assert canaries.canary in client["client_secret"]


def test_token_factory_tokens_carry_the_canary(token_factory, canaries):
    assert canaries.find(token_factory.mint("access")) != []
    assert canaries.find(token_factory.mint("id")) != []


@pytest.mark.parametrize("level", ["debug", "warning"])
def test_a_leaked_secret_in_a_log_fails_the_test(pytester, level):
    pytester.makeconftest('pytest_plugins = ["jupyter_ai_access_testing.pytest_plugin"]')
    pytester.makepyfile(f"""
        import logging

        def test_leaks(canaries):
            logging.getLogger("some.library").{level}("token=%s", canaries.secret("refresh"))

        def test_clean(canaries):
            logging.getLogger("some.library").{level}("token=[secret]")
    """)
    # no:logging: pytest itself would echo the captured record; we check our own report.
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:logging")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*secret leaked into logs: canary in log records*"])
    assert "JAIACANARY" not in result.stdout.str()  # the report names, never shows


def test_a_leak_in_the_emulator_log_fails_the_test(pytester):
    pytester.makeconftest('pytest_plugins = ["jupyter_ai_access_testing.pytest_plugin"]')
    pytester.makepyfile("""
        def test_leaks(local_cognito, canaries):
            with local_cognito.log_file.open("a") as f:
                f.write(canaries.secret("client") + "\\n")
    """)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*secret leaked into logs: canary in *emulator.log*"])
