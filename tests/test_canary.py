"""The canary leak check: every test secret carries a canary, and a leak fails the run."""

from __future__ import annotations

import logging
import textwrap

import jwt
import pytest
from jupyter_ai_access_testing.canary import CanaryRegistry
from jupyter_ai_access_testing.leaks import LeakWatcher


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
    result.stdout.fnmatch_lines(["*secret leaked: canary in log records*"])
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
    result.stdout.fnmatch_lines(["*secret leaked: canary in *emulator.log*"])


SERVER_CONFTEST = """
import pytest

pytest_plugins = ["jupyter_ai_access_testing.pytest_plugin", "pytest_jupyter.jupyter_server"]


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"jupyter_ai_access": True}}}
"""


def test_a_canary_logged_inside_the_server_extension_fails_the_test(pytester):
    """The broker logs through the extension app's traitlets logger, which does not propagate.

    A handler on the root logger (the check before issue #17) never saw these records.
    """
    pytester.makeconftest(SERVER_CONFTEST)
    pytester.makepyfile("""
        from jupyter_ai_access.server.app import AIAccessApp

        async def test_leaks(jp_serverapp, canaries):
            broker = AIAccessApp.active.broker
            assert broker.log.name == "AIAccessApp" and broker.log.propagate is False
            broker.log.warning("Renewed the tokens: %s", canaries.secret("access-token"))

        async def test_leaks_in_an_exception(jp_serverapp, canaries):
            store = AIAccessApp.active.store
            try:
                raise ValueError(canaries.secret("id-token"))
            except ValueError:
                store.log.exception("Token listener failed")

        async def test_clean(jp_serverapp):
            AIAccessApp.active.broker.log.warning("Renewed the tokens of alice")
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--show-capture=no")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaks *", "*secret leaked: canary*"])
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaks_in_an_exception*"])
    assert "JAIACANARY" not in result.stdout.str()


@pytest.mark.parametrize(
    ("body", "where"),
    [
        pytest.param(
            """
            import subprocess, sys
            # A child that inherited stdout/stderr, as the kernels of in-process servers do.
            subprocess.run([sys.executable, "-c", "import os, sys; sys.stderr.write(os.environ['S'])"],
                           env={**os.environ, "S": canaries.secret("kernel")}, check=True)
            """,
            "*secret leaked: canary in Captured stderr call*",
            id="child-process-stderr",
        ),
        pytest.param(
            """
            import http.server, threading
            from jupyter_ai_access_testing.harness.hub import HubBrowser
            secret = canaries.secret("page").encode()

            class Page(http.server.BaseHTTPRequestHandler):
                def do_GET(self):
                    self.send_response(500)
                    self.send_header("Content-Length", str(len(secret)))
                    self.end_headers()
                    self.wfile.write(secret)

                def log_message(self, *args):
                    pass

            server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            with HubBrowser(f"http://127.0.0.1:{server.server_address[1]}") as browser:
                assert browser.go("/hub/error").status_code == 500
            server.shutdown()
            """,
            "*secret leaked: canary in HTTP answer 500 to GET http://127.0.0.1:*/hub/error*",
            id="http-answer",
        ),
        pytest.param(
            """
            leak_watcher.watch_tree(tmp_path, exclude={"config.py"})
            (tmp_path / "config.py").write_text(canaries.secret("the test's own file"))
            (tmp_path / "hub.sqlite").write_bytes(canaries.secret("db").encode())
            """,
            "*secret leaked: canary in */hub.sqlite",
            id="file-in-a-watched-folder",
        ),
    ],
)
def test_leaks_outside_log_records_fail_the_test(pytester, body, where):
    pytester.makeconftest('pytest_plugins = ["jupyter_ai_access_testing.pytest_plugin"]')
    indented = textwrap.indent(textwrap.dedent(body), "    ")
    pytester.makepyfile(
        "import os\n\n"
        f"def test_leaks(canaries, leak_watcher, tmp_path):\n{indented}\n\n"
        "def test_clean(canaries):\n    print('nothing secret')\n"
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--show-capture=no")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines([where])


def test_watcher_sees_records_of_loggers_that_do_not_propagate():
    canaries = CanaryRegistry()  # not the session's: this leak is on purpose
    watcher = LeakWatcher().install()
    try:
        private = logging.getLogger("jaia.test.private")
        private.propagate = False
        private.setLevel(logging.DEBUG)
        private.debug("value %s", canaries.secret("debug"))
    finally:
        watcher.uninstall()
    found = dict(watcher.take())
    assert canaries.find(found["log records"]) == ["canary"]
    assert LeakWatcher.active is not watcher
