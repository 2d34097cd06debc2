"""A real JupyterHub process (with configurable-http-proxy) for tests, and a browser-like client.

:class:`HubProcess` writes a ``jupyterhub_config.py`` into a folder, starts ``jupyterhub`` on free
loopback ports with the project's configurable-http-proxy, waits until the API answers, and stops
it. Its log goes to ``<folder>/hub.log``. A service token with ``admin:auth_state`` lets tests look
at users, groups and auth_state through the REST API (and start and stop servers).

:class:`HubBrowser` walks login flows like a browser: it follows redirects across the Hub and the
IdP (bounded), signs in on the hosted page when one is shown, and keeps cookies.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

from jupyter_ai_access.net import is_loopback

from .. import leaks
from ..ports import free_port
from ..processes import stop_tree
from . import whatwg

__all__ = ["HubBrowser", "HubProcess", "find_chp"]


def find_chp() -> str:
    """The configurable-http-proxy of the project's node_modules."""
    from jupyter_ai_access.local_cognito.process import LocalCognito

    modules = LocalCognito().node_modules
    chp = Path(modules) / ".bin" / "configurable-http-proxy"
    if not chp.exists():
        raise FileNotFoundError(f"configurable-http-proxy not found in {modules}: run npm ci")
    return str(chp)


# The authenticator with the clock it reads replaced by one a test moves (HubProcess.clock_ahead):
# the product's own seam (``CognitoOAuthenticator.clock``), set in the Hub's configuration.
CLOCK_CONFIG = """
import pathlib as _pathlib
import time as _time

from jupyter_ai_access.hub.authenticator import CognitoOAuthenticator as _Cognito


class TestClockCognitoOAuthenticator(_Cognito):
    @staticmethod
    def clock():
        try:
            return _time.time() + float(_pathlib.Path({path!r}).read_text())
        except (OSError, ValueError):
            return _time.time()


c.JupyterHub.authenticator_class = TestClockCognitoOAuthenticator
"""


class HubProcess:
    """A JupyterHub running as a child process on loopback."""

    def __init__(
        self,
        folder: Path,
        config: str,
        env: dict[str, str] | None = None,
        port: int | None = None,
        *,
        clock: bool = False,
    ) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.hub_port = free_port()
        self.proxy_api_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.admin_token = f"svc-{secrets.token_hex(20)}"
        self.log_file = folder / "hub.log"
        self.config_file = folder / "jupyterhub_config.py"
        self.env = dict(env or {})
        self.env.setdefault("JUPYTERHUB_CRYPT_KEY", secrets.token_hex(32))
        self.user_config = config
        #: Where the crypt key is kept when $JUPYTERHUB_CRYPT_KEY is empty (the demo's file).
        self.crypt_key_file: Path | None = None
        #: With ``clock=True``: the authenticator's clock runs this file's seconds ahead.
        self.clock_file: Path | None = folder / "clock-ahead" if clock else None
        self._proc: subprocess.Popen[bytes] | None = None

    def write_config(self) -> None:
        """Write jupyterhub_config.py: ports, proxy, database, an admin service, then ours."""
        node = os.environ.get("JUPYTER_AI_ACCESS_NODE") or "node"
        base = f'''
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {self.port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {self.hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{self.proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{node!r}, {find_chp()!r}]
c.JupyterHub.db_url = "sqlite:///{self.folder / "hub.sqlite"}"
c.JupyterHub.cookie_secret_file = "{self.folder / "cookie_secret"}"
c.JupyterHub.pid_file = "{self.folder / "hub.pid"}"
c.JupyterHub.cleanup_servers = True
c.JupyterHub.redirect_to_server = False
c.JupyterHub.log_level = "DEBUG"
c.JupyterHub.services = [{{"name": "test-admin", "api_token": {self.admin_token!r}}}]
c.JupyterHub.load_roles = [{{"name": "test-admin", "services": ["test-admin"],
    "scopes": ["admin:users", "admin:auth_state", "admin:groups", "admin:servers", "read:users",
               "list:users", "tokens", "read:metrics"]}}]
'''
        clock = CLOCK_CONFIG.format(path=str(self.clock_file)) if self.clock_file else ""
        self.config_file.write_text(base + "\n" + self.user_config + clock, encoding="utf-8")

    @contextlib.contextmanager
    def clock_ahead(self, seconds: float) -> Iterator[None]:
        """Run the authenticator's clock ``seconds`` ahead inside the block (``clock=True``).

        What the authenticator decides by time (refresh margin, recheck interval, expired
        tokens at the token endpoint) then sees the future without the test sleeping.
        JupyterHub's own clock (``auth_refresh_age``) is not moved.
        """
        if self.clock_file is None:
            raise RuntimeError("HubProcess(clock=True) gives the Hub a clock to move")
        self.clock_file.write_text(repr(float(seconds)), encoding="utf-8")
        try:
            yield
        finally:
            self.clock_file.write_text("0", encoding="utf-8")

    def watch_for_leaks(self) -> None:
        """Have the running leak check search the Hub's log and the files in its folder.

        The log holds the output of the Hub and of everything it spawns (proxy, single-user
        servers, their kernels); the folder the database. The config file is the test's own.
        """
        leaks.watch_file(self.log_file)
        leaks.watch_tree(self.folder, exclude={self.log_file.name, self.config_file.name})

    def start(self, timeout: float = 60.0) -> HubProcess:
        """Start the Hub and wait until its API answers (bounded)."""
        self.write_config()
        self.watch_for_leaks()
        log = self.log_file.open("ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", str(self.config_file)],
            cwd=self.folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env},
            start_new_session=True,  # stopped by the harness, not by a terminal's Ctrl-C
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"JupyterHub exited with {self._proc.returncode}: {self.log_tail()}"
                )
            try:
                if httpx.get(f"{self.url}/hub/api/", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"JupyterHub did not answer within {timeout} s: {self.log_tail()}")

    def run_to_exit(self, timeout: float = 60.0) -> tuple[int, str]:
        """Start the Hub expecting it to refuse to start; return (exit status, its log)."""
        self.write_config()
        self.watch_for_leaks()
        result = subprocess.run(
            [sys.executable, "-m", "jupyterhub", "-f", str(self.config_file)],
            cwd=self.folder,
            capture_output=True,
            timeout=timeout,
            text=True,
            env={**os.environ, **self.env},
            check=False,
        )
        with self.log_file.open("a") as f:
            f.write(result.stdout + result.stderr)
        return result.returncode, result.stdout + result.stderr

    def stop(self, timeout: float = 20.0) -> None:
        """Stop the Hub (SIGTERM, then SIGKILL), then whatever it left running.

        Its servers, services and kernels run in sessions of their own: they are found as the
        Hub's process tree, taken before the Hub is stopped (:func:`.processes.stop_tree`).
        """
        proc, self._proc = self._proc, None
        stop_tree(proc, timeout)

    def kill(self, sig: signal.Signals = signal.SIGKILL, timeout: float = 30.0) -> int:
        """Send the Hub ``sig`` only (not what it started) and wait for it to exit; its status.

        SIGTERM lets the Hub clean up (per its configuration); SIGKILL leaves its proxy,
        services and users' servers as they are, as a crash or an OOM kill does.
        """
        proc, self._proc = self._proc, None
        if proc is None:
            raise RuntimeError("the Hub is not running")
        proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
            raise RuntimeError(f"JupyterHub did not exit {timeout} s after {sig.name}") from None

    def restart(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 90.0) -> HubProcess:
        """Stop the Hub with ``sig`` and start it again: same folder, ports, env and config."""
        self.kill(sig)
        with self.log_file.open("a") as log:
            log.write(f"\n----- test: Hub stopped with {sig.name}, starting again -----\n")
        return self.start(timeout=timeout)

    def log_tail(self, lines: int = 40) -> str:
        """The end of the Hub's log."""
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Call the Hub's REST API as the admin service.

        Bounded at 30 s: ``POST /users/{name}/server`` answers only once the server started or
        after ``JupyterHub.slow_spawn_timeout`` (10 s), so a client bound at 10 s loses that race
        on a loaded machine.
        """
        headers = {"Authorization": f"token {self.admin_token}"}
        return httpx.request(
            method, f"{self.url}/hub/api{path}", headers=headers, timeout=30, **kwargs
        )

    @property
    def pid(self) -> int | None:
        """The Hub process's pid while it runs."""
        return self._proc.pid if self._proc is not None else None

    def unseal(self, stored: str | None) -> str | None:
        """The refresh token behind a sealed auth_state value (what only the Hub can open)."""
        from jupyter_ai_access.hub.sealing import RefreshTokenSeal, crypt_key_bytes

        key = self.env.get("JUPYTERHUB_CRYPT_KEY", "")
        if not key and self.crypt_key_file is not None:
            key = self.crypt_key_file.read_text().strip()
        return RefreshTokenSeal(crypt_key_bytes(key.split(";")[0])).unseal(stored)

    def user(self, name: str, *, auth_state: bool = True) -> dict[str, Any] | None:
        """The user model (with auth_state), or None when the user does not exist."""
        response = self.api("GET", f"/users/{name}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        model: dict[str, Any] = response.json()
        return model


class HubBrowser:
    """Follows redirects across the Hub and the IdP like a browser, signing in when asked.

    Every ``Location`` is resolved with the browser's URL parser (:mod:`.whatwg`), so a redirect
    that a browser would take off-site is seen as off-site. Redirects to hosts other than
    loopback are recorded (``visited``, ``redirects``) but never requested.
    """

    def __init__(self, hub_url: str, *, max_hops: int = 20) -> None:
        self.hub_url = hub_url
        self.max_hops = max_hops
        self.http = httpx.Client(
            follow_redirects=False, timeout=15, event_hooks={"response": [self._seen]}
        )
        self.visited: list[str] = []
        #: (the answering URL, its raw Location header, where a browser goes) for every redirect.
        self.redirects: list[tuple[str, str, str]] = []

    def close(self) -> None:
        """Close the client."""
        self.http.close()

    def __enter__(self) -> HubBrowser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def _seen(response: httpx.Response) -> None:
        """Hand every answer to the leak check (no page a browser sees may hold a secret)."""
        response.read()
        url = response.request.url
        leaks.observe(
            f"HTTP answer {response.status_code} to {response.request.method} "
            f"{url.scheme}://{url.netloc.decode()}{url.path}",
            response.content,
        )

    def go(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        stop_at: str | None = None,
    ) -> httpx.Response:
        """GET ``url`` and follow redirects; post the sign-in form once if one is shown."""
        response = self.http.get(urljoin(self.hub_url, url))
        signed_in = False
        for _ in range(self.max_hops):
            self.visited.append(str(response.url))
            if response.status_code in (301, 302, 303, 307, 308):
                raw = response.headers["location"]
                target = whatwg.resolve(raw, str(response.url))
                location = str(target["href"])
                self.redirects.append((str(response.url), raw, location))
                if not is_loopback(target["hostname"]):
                    self.visited.append(location)  # a browser would go there; we do not
                    return response
                if stop_at and location.startswith(stop_at):
                    return response
                response = self.http.get(location)
                continue
            form = re.search(r'<form method="post" action="([^"]+)"', response.text)
            if (
                form
                and username is not None
                and not signed_in
                and "signInFormPassword" in response.text
            ):
                action = urljoin(str(response.url), form.group(1).replace("&amp;", "&"))
                response = self.http.post(
                    action, data={"username": username, "password": password or ""}
                )
                signed_in = True
                continue
            return response
        raise RuntimeError(f"too many redirects: {self.visited[-5:]}")

    def login(self, username: str, password: str, next_url: str | None = None) -> httpx.Response:
        """Log in through /hub/oauth_login (and the IdP's hosted page when asked)."""
        url = "/hub/oauth_login"
        if next_url:
            url += "?" + str(httpx.QueryParams({"next": next_url}))
        return self.go(url, username=username, password=password)

    @property
    def logged_in(self) -> bool:
        """Whether the Hub's login cookie is set."""
        return any(c.name == "jupyterhub-hub-login" for c in self.http.cookies.jar)
