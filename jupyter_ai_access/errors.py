"""The one exception tree of jupyter_ai_access.

Imports only the standard library, so resource servers can use it without Jupyter::

    JupyterAIAccessError
    ├── ConfigurationError             a setting is missing, malformed or contradictory
    │   ├── PoolDescriptionError       the pool description file asks for something invalid
    │   └── AccountConflictError       a user's system account belongs to someone else
    ├── LocalCognitoError              the local Cognito emulator cannot run
    │   ├── NodeNotFoundError          no usable Node.js executable
    │   ├── NodePackagesMissingError   oidc-provider (the emulator's Node packages) not installed
    │   └── EmulatorStartError         the emulator process failed or did not become ready
    ├── IdentityProviderError          the IdP (discovery, JWKS) cannot be used: 502/503
    │   ├── DiscoveryError             discovery document unreachable, malformed, other issuer
    │   ├── KeySetUnavailableError     the JWKS cannot be fetched and no usable copy is cached
    │   └── IdPUnavailableError        the token/revoke endpoint is unreachable or answered 5xx
    ├── TokenEndpointError             the token endpoint refused the request (``error`` code)
    │   ├── LoginRequiredError         invalid_grant: the refresh token is dead, log in again
    │   └── ExchangeRefusedError       Cognito refused a token exchange (``code``: its error)
    ├── TokenDeliveryError             a kernel or server cannot get the user's tokens
    │   ├── SessionEndedError          the Hub session is over: log in again at ``login_url``
    │   ├── TokensUnavailableError     the Hub or Cognito is unreachable and no valid token is held
    │   │   └── WatchSupersededError   the Hub ended the server's session watch for a newer one
    │   ├── MachineTokenError          a job's machine app client is misconfigured or refused
    │   ├── AudienceRefusedError       the user's groups may not have a token for this audience
    │   ├── AudienceRequiredError      per-resource tokens only here: ask with an audience
    │   └── AWSCredentialsError        the ID token could not be exchanged for AWS credentials
    │       ├── AWSUnavailableError    STS / Cognito identity unreachable or 5xx: retried
    │       ├── AWSRefusedError        AWS refused the exchange (``code`` says why)
    │       └── NoRoleError            no IAM role for the user's groups
    └── TokenError                     a presented token is refused (``status``, ``error``)
        ├── MissingTokenError          401 without error code: no bearer token was sent
        ├── InvalidTokenError          401 invalid_token: the token cannot be trusted
        │   ├── MalformedTokenError    not a compact JWS we accept (segments, base64url, JSON, size)
        │   ├── UnsupportedAlgorithmError  ``alg`` is not the configured algorithm
        │   ├── UnknownKeyError        no key with this ``kid`` in the issuer's JWKS
        │   ├── BadSignatureError      the signature does not verify
        │   ├── ExpiredTokenError      ``exp`` has passed
        │   ├── ClaimError             a claim is missing, mistyped or wrong (``claim`` names it)
        │   └── RevokedTokenError      the token's ``origin_jti`` is on the deny-list
        └── InsufficientPermissionError  403: a valid token without the rights
            ├── InsufficientScopeError 403 insufficient_scope: a required scope is missing
            └── GroupRequiredError     403: the user is not in a required group

Messages say what failed and what to do about it. They never contain a token, a password or a
client secret: callers pass names and hashes, not values.
"""

from __future__ import annotations

__all__ = [
    "AWSCredentialsError",
    "AWSRefusedError",
    "AWSUnavailableError",
    "AccountConflictError",
    "AudienceRefusedError",
    "AudienceRequiredError",
    "BadSignatureError",
    "ClaimError",
    "ConfigurationError",
    "DiscoveryError",
    "EmulatorStartError",
    "ExchangeRefusedError",
    "ExpiredTokenError",
    "GroupRequiredError",
    "IdPUnavailableError",
    "IdentityProviderError",
    "InsufficientPermissionError",
    "InsufficientScopeError",
    "InvalidTokenError",
    "JupyterAIAccessError",
    "KeySetUnavailableError",
    "LocalCognitoError",
    "LoginRequiredError",
    "MachineTokenError",
    "MalformedTokenError",
    "MissingTokenError",
    "NoRoleError",
    "NodeNotFoundError",
    "NodePackagesMissingError",
    "PoolDescriptionError",
    "RevokedTokenError",
    "SessionEndedError",
    "TokenDeliveryError",
    "TokenEndpointError",
    "TokenError",
    "TokensUnavailableError",
    "UnknownKeyError",
    "UnsupportedAlgorithmError",
    "WatchSupersededError",
]


class JupyterAIAccessError(Exception):
    """Base class of every error raised by jupyter_ai_access."""


class ConfigurationError(JupyterAIAccessError):
    """A setting is missing, malformed or contradictory; the message names the setting."""


class PoolDescriptionError(ConfigurationError):
    """The pool description file asks for something a Cognito user pool would refuse.

    ``entry`` names the offending entry (for example ``app_clients[1] 'training-jobs'``).
    """

    def __init__(self, source: str, entry: str, problem: str) -> None:
        self.source = source
        self.entry = entry
        self.problem = problem
        super().__init__(f"{source}: {entry}: {problem}")


class AccountConflictError(ConfigurationError):
    """A Hub user's system account is bound to someone else, or was not made for them.

    The spawn is refused; the message says which account and what an administrator can do.
    """


class LocalCognitoError(JupyterAIAccessError):
    """The local Cognito emulator cannot run."""


class NodeNotFoundError(LocalCognitoError):
    """No Node.js executable (version 20.19 or newer) was found."""


class NodePackagesMissingError(LocalCognitoError):
    """The emulator's Node packages (oidc-provider) are not installed."""


class EmulatorStartError(LocalCognitoError):
    """The emulator process exited or did not report that it was ready in time."""


class IdentityProviderError(JupyterAIAccessError):
    """The identity provider's discovery document or keys cannot be used (HTTP 502/503)."""

    status = 503


class DiscoveryError(IdentityProviderError):
    """The discovery document is unreachable, malformed, or names another issuer."""


class KeySetUnavailableError(IdentityProviderError):
    """The JWKS cannot be fetched and no usable copy is cached."""


class IdPUnavailableError(IdentityProviderError):
    """The IdP's token or revocation endpoint is unreachable or answered with a server error."""


class TokenEndpointError(JupyterAIAccessError):
    """The token endpoint refused the request; ``error`` is the OAuth error code it sent."""

    def __init__(self, error: str, message: str) -> None:
        self.error = error
        super().__init__(message)


class LoginRequiredError(TokenEndpointError):
    """``invalid_grant`` on refresh: the session is gone and the user must log in again."""


class ExchangeRefusedError(TokenEndpointError):
    """Cognito refused a token exchange (RFC 8693); ``code`` is its OAuth error code
    (``invalid_target``, ``invalid_scope``, ``invalid_grant``, ``unauthorized_client``, ...).

    The message names the audience and the code, never a token.
    """

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(code, message)


class TokenError(JupyterAIAccessError):
    """A presented token is refused.

    ``status`` is the HTTP status to answer with and ``error`` the RFC 6750 error code. The message
    says which check failed; it never contains the token.
    """

    status = 401
    error = "invalid_token"


class MissingTokenError(TokenError):
    """401 without an error code (RFC 6750 section 3.1): the request carried no bearer token."""

    error = ""


class InvalidTokenError(TokenError):
    """401 ``invalid_token``: the token cannot be trusted."""


class MalformedTokenError(InvalidTokenError):
    """Not a compact JWS we accept: segments, base64url, JSON objects or size."""


class UnsupportedAlgorithmError(InvalidTokenError):
    """The header's ``alg`` is not the algorithm fixed by configuration."""


class UnknownKeyError(InvalidTokenError):
    """No key with the token's ``kid`` in the configured issuer's JWKS."""


class BadSignatureError(InvalidTokenError):
    """The signature does not verify with the issuer's key."""


class ExpiredTokenError(InvalidTokenError):
    """The token's ``exp`` has passed (beyond the configured leeway)."""


class ClaimError(InvalidTokenError):
    """A claim is missing, of the wrong type, or has a refused value; ``claim`` names it."""

    def __init__(self, claim: str, problem: str) -> None:
        self.claim = claim
        super().__init__(f"claim {claim!r} {problem}")


class RevokedTokenError(InvalidTokenError):
    """The token's ``origin_jti`` is on the deny-list (its session was revoked)."""


class InsufficientPermissionError(TokenError):
    """403: a valid token that lacks the rights for this request."""

    status = 403
    error = "insufficient_scope"


class InsufficientScopeError(InsufficientPermissionError):
    """403 ``insufficient_scope``: a required scope is missing; ``scopes`` lists them."""

    def __init__(self, missing: list[str]) -> None:
        self.scopes = missing
        super().__init__(f"missing required scope(s): {' '.join(missing)}")


class GroupRequiredError(InsufficientPermissionError):
    """403: the user is not in the group(s) this resource requires."""

    def __init__(self, groups: list[str], *, any_of: bool = False) -> None:
        self.groups = groups
        words = "one of the groups" if any_of else "the group(s)"
        super().__init__(f"requires membership in {words}: {', '.join(groups)}")


class TokenDeliveryError(JupyterAIAccessError):
    """A Jupyter server or kernel cannot get the logged-in user's tokens."""


class SessionEndedError(TokenDeliveryError):
    """The user's JupyterHub session is over; ``login_url`` says where to log in again."""

    def __init__(self, message: str, login_url: str = "") -> None:
        self.login_url = login_url
        if login_url and login_url in message:
            super().__init__(message)  # the message says where already ("sign in at <url>")
            return
        where = f" Log in again at {login_url}" if login_url else " Log in to JupyterHub again."
        super().__init__(message.rstrip(". ") + "." + where)


class TokensUnavailableError(TokenDeliveryError):
    """JupyterHub or Cognito cannot be reached and no still-valid token is held.

    ``failure`` names the kind of failure for the status API and the audit events
    (``hub_unreachable``, ``hub_error``, ``cognito_unreachable``, ``refused``); ``reason`` is
    the short account the status page and the log show (default: the message).
    """

    def __init__(self, message: str, failure: str = "hub_error", reason: str = "") -> None:
        super().__init__(message)
        self.failure = failure
        self.reason = reason or message


class WatchSupersededError(TokensUnavailableError):
    """The Hub ended this server's session watch for a newer one of the same user or token
    (``CognitoOAuthenticator.session_watches_per_user``): the server reconnects after a back-off."""


class MachineTokenError(TokenDeliveryError):
    """A job's machine token cannot be had: a ``COGNITO_*`` setting is missing or wrong, or
    Cognito refused the machine app client (the message names the setting to check)."""


class AudienceRefusedError(TokenDeliveryError):
    """The user's groups may not ask for a token bound to this audience (or these scopes);
    the message names the audience and the setting that allows it."""


class AudienceRequiredError(TokenDeliveryError):
    """This deployment hands out per-resource tokens only (``KernelTokenStore.broad_token`` is
    False): ask for a token with an audience."""


class AWSCredentialsError(TokenDeliveryError):
    """The user's ID token could not be exchanged for AWS credentials."""


class AWSUnavailableError(AWSCredentialsError):
    """AWS STS or Cognito identity cannot be reached or answered 5xx/throttling: retried."""


class AWSRefusedError(AWSCredentialsError):
    """AWS refused the exchange; ``code`` is AWS's error code (e.g. ``AccessDenied``)."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class NoRoleError(AWSCredentialsError):
    """No IAM role is configured for any of the user's groups."""
