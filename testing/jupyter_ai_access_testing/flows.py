"""Drive a Cognito (or local emulator) hosted UI the way a browser does, with plain HTTP.

Used by the tests and benchmarks: an authorization-code login with PKCE, nonce and state, the
token endpoint with HTTP Basic client authentication, refresh, revoke and logout.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

__all__ = ["AuthorizationResult", "HostedUIClient", "LoginError", "pkce_pair"]


def pkce_pair() -> tuple[str, str]:
    """A PKCE ``(code_verifier, code_challenge)`` pair for S256."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class LoginError(Exception):
    """The hosted UI did not redirect back to the application; ``response`` shows why."""

    def __init__(self, message: str, response: httpx.Response) -> None:
        super().__init__(message)
        self.response = response


@dataclass
class AuthorizationResult:
    """What came back to the redirect URI."""

    redirect: str
    params: dict[str, str]
    state: str
    nonce: str
    code_verifier: str

    @property
    def code(self) -> str:
        """The authorization code."""
        return self.params["code"]


class HostedUIClient:
    """A cookie-keeping HTTP client that walks the hosted UI like a browser (bounded redirects)."""

    def __init__(self, domain: str, *, max_redirects: int = 10, timeout: float = 10.0) -> None:
        self.domain = domain.rstrip("/")
        self.max_redirects = max_redirects
        self.http = httpx.Client(follow_redirects=False, timeout=timeout)
        self.last_page: httpx.Response | None = None

    def close(self) -> None:
        """Close the connection pool."""
        self.http.close()

    def __enter__(self) -> HostedUIClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _follow(self, response: httpx.Response, redirect_uri: str) -> httpx.Response | str:
        """Follow redirects until one leaves for ``redirect_uri`` (returned) or a page shows."""
        for _ in range(self.max_redirects):
            if response.status_code not in (301, 302, 303, 307, 308):
                self.last_page = response
                return response
            location = urljoin(str(response.url), response.headers["location"])
            if location.startswith(redirect_uri):
                return location
            response = self.http.get(location)
        raise LoginError("too many redirects", response)

    def authorize(
        self,
        client_id: str,
        redirect_uri: str,
        *,
        scope: str = "openid email profile",
        username: str | None = None,
        password: str | None = None,
        extra: dict[str, str] | None = None,
        pkce: bool = True,
    ) -> AuthorizationResult:
        """Run /oauth2/authorize, sign in on the hosted page when asked, return the redirect."""
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        verifier, challenge = pkce_pair()
        params: dict[str, Any] = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state,
            "nonce": nonce,
        }
        if pkce:
            params.update(code_challenge=challenge, code_challenge_method="S256")
        params.update(extra or {})
        result = self._follow(
            self.http.get(f"{self.domain}/oauth2/authorize", params=params), redirect_uri
        )
        if not isinstance(result, str):
            form = self.login_form(result)
            if username is None or form is None:
                raise LoginError("the hosted UI showed a page instead of redirecting", result)
            result = self.submit_login(form, username, password or "", redirect_uri)
        query = parse_qs(urlsplit(result).query)
        return AuthorizationResult(
            result, {k: v[0] for k, v in query.items()}, state, nonce, verifier
        )

    @staticmethod
    def login_form(page: httpx.Response) -> str | None:
        """The action URL of the sign-in form on a hosted-UI page, if there is one."""
        match = re.search(r'<form method="post" action="([^"]+)"', page.text)
        return urljoin(str(page.url), match.group(1).replace("&amp;", "&")) if match else None

    def submit_login(self, action: str, username: str, password: str, redirect_uri: str) -> str:
        """Post the sign-in form; return the redirect to the application or raise LoginError."""
        response = self.http.post(action, data={"username": username, "password": password})
        result = self._follow(response, redirect_uri)
        if isinstance(result, str):
            return result
        raise LoginError("sign-in did not complete", result)

    def token(self, client_id: str, client_secret: str | None, **form: str) -> httpx.Response:
        """POST /oauth2/token with HTTP Basic client authentication (or client_id for public)."""
        if not client_secret:
            form["client_id"] = client_id
            return self.http.post(f"{self.domain}/oauth2/token", data=form)
        return self.http.post(
            f"{self.domain}/oauth2/token", data=form, auth=(client_id, client_secret)
        )

    def exchange(
        self,
        result: AuthorizationResult,
        client_id: str,
        client_secret: str | None,
        redirect_uri: str,
    ) -> httpx.Response:
        """Exchange an authorization code (with its PKCE verifier) for tokens."""
        return self.token(
            client_id,
            client_secret,
            grant_type="authorization_code",
            code=result.code,
            redirect_uri=redirect_uri,
            code_verifier=result.code_verifier,
        )

    def refresh(
        self, client_id: str, client_secret: str | None, refresh_token: str
    ) -> httpx.Response:
        """Use a refresh token."""
        return self.token(
            client_id, client_secret, grant_type="refresh_token", refresh_token=refresh_token
        )

    def revoke(self, client_id: str, client_secret: str | None, token: str) -> httpx.Response:
        """POST /oauth2/revoke."""
        if not client_secret:
            return self.http.post(
                f"{self.domain}/oauth2/revoke", data={"token": token, "client_id": client_id}
            )
        return self.http.post(
            f"{self.domain}/oauth2/revoke", data={"token": token}, auth=(client_id, client_secret)
        )

    def logout(self, client_id: str, logout_uri: str) -> httpx.Response:
        """GET /logout (ends the hosted-UI session; does not revoke tokens)."""
        return self.http.get(
            f"{self.domain}/logout", params={"client_id": client_id, "logout_uri": logout_uri}
        )

    def userinfo(self, access_token: str) -> httpx.Response:
        """GET /oauth2/userInfo with a bearer access token."""
        return self.http.get(
            f"{self.domain}/oauth2/userInfo", headers={"Authorization": f"Bearer {access_token}"}
        )
