"""One client of Cognito's token and revocation endpoints, for every process.

The Hub, the standalone login and jobs' machine tokens all send their grants through
:class:`TokenEndpoint`, so a fix to how an answer is read lands once:

- the client authenticates with HTTP Basic when it has a secret, else sends ``client_id`` in the
  form (a public client, PKCE only);
- every grant is one :meth:`TokenEndpoint.grant` (async, tornado) or
  :meth:`TokenEndpoint.grant_sync` (standard library): no redirects, at most
  :data:`~.http.MAX_RESPONSE_BYTES` read, the answer mapped by :func:`~.oauth2.token_answer`
  (``invalid_grant`` → :class:`LoginRequiredError`, other refusals → :class:`TokenEndpointError`,
  outages, oversized or non-JSON answers → :class:`IdPUnavailableError`); messages never contain
  the answer's body;
- the grants are small methods over it: :meth:`~TokenEndpoint.authorization_code` (with the PKCE
  verifier), :meth:`~TokenEndpoint.refresh`, :meth:`~TokenEndpoint.client_credentials`,
  :meth:`~TokenEndpoint.token_exchange` (RFC 8693, names in :mod:`.exchange`; any refusal →
  :class:`ExchangeRefusedError` with Cognito's code);
- :meth:`TokenEndpoint.revoke` posts to ``/oauth2/revoke`` and returns the HTTP status.

Standard library at import time (tornado is imported when an async call first runs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from ..errors import ExchangeRefusedError, IdPUnavailableError, TokenEndpointError
from .exchange import exchange_form
from .http import MAX_RESPONSE_BYTES, ResponseTooLarge, post_async, post_sync
from .oauth2 import basic_auth, token_answer

__all__ = ["TokenEndpoint"]


@dataclass
class TokenEndpoint:
    """Cognito's ``/oauth2/token`` and ``/oauth2/revoke`` for one app client.

    ``client_secret`` empty means a public client. ``validate_cert`` is only ever turned off by a
    deployment's own setting (oauthenticator's ``validate_server_cert``).
    """

    token_url: str
    revoke_url: str
    client_id: str
    client_secret: str = field(default="", repr=False)
    timeout: float = 10.0
    max_bytes: int = MAX_RESPONSE_BYTES
    validate_cert: bool = True
    requests: int = 0  # answers asked for (a job's metrics; tests count Cognito calls)

    # ---------------------------------------------------------------- the grants
    async def authorization_code(
        self, code: str, redirect_uri: str, code_verifier: str | None = None
    ) -> dict[str, Any]:
        """Exchange a sign-in code (with its PKCE verifier when the login used one)."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier:
            form["code_verifier"] = code_verifier
        return await self.grant(form)

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """New tokens for a refresh token (Cognito returns no new refresh token unless it
        rotates them: the caller keeps its own when the answer has none)."""
        return await self.grant({"grant_type": "refresh_token", "refresh_token": refresh_token})

    async def client_credentials(self, scopes: Iterable[str] = ()) -> dict[str, Any]:
        """A machine access token (async; jobs without a loop use :meth:`grant_sync`)."""
        return await self.grant(self.client_credentials_form(scopes))

    @staticmethod
    def client_credentials_form(scopes: Iterable[str] = ()) -> dict[str, str]:
        """The form of a ``client_credentials`` grant (no scope: all the client may have)."""
        form = {"grant_type": "client_credentials"}
        wanted = " ".join(scopes)
        if wanted:
            form["scope"] = wanted
        return form

    async def token_exchange(
        self,
        subject_token: str,
        audience: str,
        scopes: Iterable[str] = (),
        actor_token: str | None = None,
    ) -> dict[str, Any]:
        """Exchange the user's access token for one bound to ``audience`` (RFC 8693).

        ``scopes`` empty: every scope the subject token holds for the audience. With
        ``actor_token`` (delegation) the issued token's ``act`` names the actor's client.
        Raises :class:`ExchangeRefusedError` (Cognito's ``code``) or :class:`IdPUnavailableError`.
        """
        form = exchange_form(subject_token, audience, scopes, actor_token)
        try:
            return await self.grant(form)
        except TokenEndpointError as e:
            raise _refused(e, audience) from None

    def token_exchange_sync(
        self,
        subject_token: str,
        audience: str,
        scopes: Iterable[str] = (),
        actor_token: str | None = None,
    ) -> dict[str, Any]:
        """:meth:`token_exchange` with the standard library (jobs without an event loop)."""
        form = exchange_form(subject_token, audience, scopes, actor_token)
        try:
            return self.grant_sync(form)
        except TokenEndpointError as e:
            raise _refused(e, audience) from None

    # ---------------------------------------------------------------- one request, one mapping
    def _request(self, form: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        data = {k: str(v) for k, v in form.items() if v is not None}
        if self.client_secret:
            headers["Authorization"] = basic_auth(self.client_id, self.client_secret)
        else:
            data["client_id"] = self.client_id  # a public client: PKCE only
        return urlencode(data).encode(), headers

    async def post(self, url: str, form: Mapping[str, Any], what: str) -> tuple[int, bytes]:
        """POST ``form`` to one of Cognito's endpoints: ``(status, body)``.

        Raises :class:`IdPUnavailableError` when it cannot be reached or answers too much.
        """
        body, headers = self._request(form)
        self.requests += 1
        try:
            return await post_async(
                url, body, headers, self.timeout, self.max_bytes, self.validate_cert
            )
        except ResponseTooLarge:
            raise IdPUnavailableError(
                f"the {what} answered more than {self.max_bytes} bytes"
            ) from None
        except OSError as e:
            raise IdPUnavailableError(f"the {what} is unreachable ({type(e).__name__})") from None

    async def grant(self, form: Mapping[str, Any]) -> dict[str, Any]:
        """One token request; the answer's JSON object, or the matching exception."""
        status, body = await self.post(self.token_url, form, "token endpoint")
        return token_answer(status, body, limit=self.max_bytes)

    def grant_sync(self, form: Mapping[str, Any]) -> dict[str, Any]:
        """:meth:`grant` with the standard library, for processes without an event loop."""
        body, headers = self._request(form)
        self.requests += 1
        try:
            status, answer = post_sync(self.token_url, body, headers, self.timeout, self.max_bytes)
        except ResponseTooLarge:
            raise IdPUnavailableError(
                f"the token endpoint answered more than {self.max_bytes} bytes"
            ) from None
        except OSError as e:
            raise IdPUnavailableError(
                f"the token endpoint is unreachable ({type(e).__name__})"
            ) from None
        return token_answer(status, answer, limit=self.max_bytes)

    async def revoke(self, token: str) -> int:
        """Revoke a refresh token: the HTTP status of the answer (200: revoked).

        Raises :class:`IdPUnavailableError` only when the endpoint cannot be reached.
        """
        status, _ = await self.post(self.revoke_url, {"token": token}, "revocation endpoint")
        return status


def _refused(error: TokenEndpointError, audience: str) -> ExchangeRefusedError:
    """A token endpoint refusal of an exchange, with Cognito's code (never a token)."""
    if isinstance(error, ExchangeRefusedError):
        return error
    return ExchangeRefusedError(
        error.error,
        f"Amazon Cognito refused to exchange the token for audience {audience!r} ({error.error})",
    )
