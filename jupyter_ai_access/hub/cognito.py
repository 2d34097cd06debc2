"""The Hub's side of the Cognito core: discovery into oauthenticator's settings, the login's code
exchange, and its failures as login pages.

Discovery, the token endpoint, verification and revocation are the core's
(:class:`~jupyter_ai_access.cognito.client.CognitoClient`, one per authenticator, shared in code
with the standalone server). Here only what is the Hub's: the discovered endpoints fill
oauthenticator's ``authorize_url`` / ``token_url`` / ``userdata_url`` unless configured, the
login's nonce comes from oauthenticator's state cookie, and the core's exceptions become clear
error pages (:class:`~.audit.RefusedLogin`) that never contain token text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..cognito.client import CognitoClient, VerifiedClaims
from ..errors import (
    IdentityProviderError,
    IdPUnavailableError,
    LoginRequiredError,
    TokenEndpointError,
    TokenError,
)
from ._compat import deserialize_state
from .audit import RefusedLogin

if TYPE_CHECKING:  # type-only: the authenticator imports this module
    from .authenticator import CognitoOAuthenticator

__all__ = ["TokenResponse", "VerifiedClaims", "discover", "exchange_code", "login_refusal"]


class TokenResponse(dict[str, Any]):
    """Cognito's token response (a dict, as oauthenticator expects) plus its verified claims.

    ``verified`` is set once the tokens passed verification (at login with the nonce, at refresh
    without); the user-model hooks verify themselves when it is None.
    """

    verified: VerifiedClaims | None = None

    @classmethod
    def of(cls, answer: dict[str, Any], verified: VerifiedClaims | None) -> TokenResponse:
        """A token response holding ``answer`` and its verified claims."""
        response = cls(answer)
        response.verified = verified
        return response


async def discover(auth: CognitoOAuthenticator, client: CognitoClient) -> dict[str, Any]:
    """The pool's discovery document (once); its endpoints fill oauthenticator's URL settings
    that the configuration did not set."""
    first = client.document is None
    doc = await client.discover()
    if first:
        explicit = auth.explicit_endpoints()
        for trait, key in (
            ("authorize_url", "authorization_endpoint"),
            ("token_url", "token_endpoint"),
            ("userdata_url", "userinfo_endpoint"),
        ):
            if trait not in explicit and doc.get(key):
                setattr(auth, trait, doc[key])
    return doc


async def exchange_code(
    client: CognitoClient, handler: Any, params: dict[str, Any]
) -> TokenResponse:
    """The login's code exchange (oauthenticator's ``params``), both tokens verified with the
    nonce of the login's state cookie. Raises the core's exceptions (see :func:`login_refusal`)."""
    state = handler.get_state_cookie()
    nonce = deserialize_state(state).get("nonce") if state else None
    if not nonce:
        raise RefusedLogin(
            400, "nonce_missing", "The login's nonce is missing: start the login again."
        )
    endpoint = await client.endpoint()
    answer = await endpoint.grant({k: v for k, v in params.items() if k != "data"})
    return TokenResponse.of(answer, await client.verify_answer(answer, nonce=nonce))


def login_refusal(error: Exception, log: Any) -> RefusedLogin:
    """The login page for a failed code exchange or verification (no token text in it)."""
    if isinstance(error, LoginRequiredError):
        return RefusedLogin(
            400,
            "code_refused",
            "Amazon Cognito refused the sign-in code (invalid_grant): it was used "
            "already or has expired. Start the login again.",
        )
    if isinstance(error, TokenEndpointError):
        return RefusedLogin(
            403, "token_endpoint_refused", f"Amazon Cognito refused the login ({error.error})."
        )
    if isinstance(error, IdPUnavailableError):
        log.error("Cognito token endpoint unavailable during login: %s", error)
        return RefusedLogin(
            503,
            "idp_unavailable",
            "Amazon Cognito cannot be reached right now. Try again in a minute.",
        )
    if isinstance(error, TokenError):
        log.warning("Refused a login: the ID or access token failed verification: %s", error)
        return RefusedLogin(403, "token_invalid", f"The sign-in could not be verified ({error}).")
    assert isinstance(error, IdentityProviderError)
    log.error("Cognito keys unavailable during login: %s", error)
    return RefusedLogin(
        503,
        "idp_unavailable",
        "Amazon Cognito's signing keys cannot be fetched right now. Try again in a minute.",
    )


#: What :func:`login_refusal` turns into a page.
LOGIN_FAILURES = (IdentityProviderError, TokenEndpointError, TokenError)
