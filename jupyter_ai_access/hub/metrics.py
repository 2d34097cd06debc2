"""Prometheus metrics of the Cognito authenticator, on the Hub's own ``/hub/metrics`` endpoint.

JupyterHub serves ``prometheus_client``'s default registry at ``/hub/metrics`` (a token with
``read:metrics``, unless ``JupyterHub.authenticate_prometheus = False``); these join it:

=============================================  ==================================================
``jupyter_ai_access_logins_total``             logins by ``result`` (allowed, refused) and
                                               ``reason``
``jupyter_ai_access_refreshes_total``          refreshes at Cognito by ``result``
``jupyter_ai_access_refresh_duration_seconds`` their latency (a histogram), by ``result``
``jupyter_ai_access_token_requests_total``     requests to the Hub's token endpoint by ``answer``
                                               and ``mode`` (fetch, watch)
``jupyter_ai_access_session_ends_total``       sessions ended, by ``cause``
``jupyter_ai_access_exchanges_total``          per-resource token exchanges by ``result``
                                               (exchanged, exchange_refused, idp_unavailable,
                                               audience_refused)
=============================================  ==================================================

Every label value comes from a fixed set below (anything else is counted as ``other``): never a
user name, a token or text from a request.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Histogram

from ..protocol import ErrorCode, SessionEnd

__all__ = [
    "EXCHANGES",
    "EXCHANGE_RESULTS",
    "LOGINS",
    "LOGIN_REASONS",
    "REFRESHES",
    "REFRESH_RESULTS",
    "REFRESH_SECONDS",
    "SESSION_CAUSES",
    "SESSION_ENDS",
    "TOKEN_ANSWERS",
    "TOKEN_REQUESTS",
    "label",
]

#: Why a login was refused ("none" when allowed).
LOGIN_REASONS: Final = frozenset(
    {
        "none",
        "not_allowed",
        "identity_conflict",
        "email_unverified",
        "no_username",
        "code_refused",
        "nonce_missing",
        "token_invalid",
        "token_endpoint_refused",
        "idp_unavailable",
        "idp_error",
        "state_invalid",
        "no_code",
        "other",
    }
)
#: How a refresh at Cognito ended.
REFRESH_RESULTS: Final = frozenset(
    {
        "ok",
        "invalid_grant",
        "idp_unavailable",
        "refused",
        "token_invalid",
        "identity_changed",
        "not_allowed",
        "unreadable",
        "other",
    }
)
#: The token endpoint's answers.
TOKEN_ANSWERS: Final = frozenset(
    {
        "tokens",
        ErrorCode.LOGIN_REQUIRED.value,
        ErrorCode.IDP_UNAVAILABLE.value,
        "bad_request",
        "forbidden",
        "not_found",
        "superseded",
        ErrorCode.RATE_LIMITED.value,
        "error",
        "other",
    }
)
#: How a per-resource token exchange ended.
EXCHANGE_RESULTS: Final = frozenset(
    {
        "exchanged",
        ErrorCode.EXCHANGE_REFUSED.value,
        ErrorCode.IDP_UNAVAILABLE.value,
        ErrorCode.AUDIENCE_REFUSED.value,
        "other",
    }
)
#: Why a session ended.
SESSION_CAUSES: Final = frozenset({cause.value for cause in SessionEnd} | {"other"})


def label(value: str, allowed: frozenset[str]) -> str:
    """``value`` when it is one of ``allowed``, else ``other``."""
    return value if value in allowed else "other"


LOGINS = Counter(
    "jupyter_ai_access_logins",
    "Logins through Amazon Cognito, by result (allowed, refused) and reason",
    ["result", "reason"],
)
REFRESHES = Counter(
    "jupyter_ai_access_refreshes",
    "Token refreshes at Amazon Cognito, by result",
    ["result"],
)
REFRESH_SECONDS = Histogram(
    "jupyter_ai_access_refresh_duration_seconds",
    "Time of a token refresh at Amazon Cognito (request and verification), by result",
    ["result"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
TOKEN_REQUESTS = Counter(
    "jupyter_ai_access_token_requests",
    "Requests to the Hub's token endpoint for servers, by answer and mode (fetch, watch)",
    ["answer", "mode"],
)
SESSION_ENDS = Counter(
    "jupyter_ai_access_session_ends",
    "Cognito sessions ended (tokens withdrawn from the user's servers), by cause",
    ["cause"],
)
EXCHANGES = Counter(
    "jupyter_ai_access_exchanges",
    "Per-resource token exchanges (RFC 8693) at Amazon Cognito, by result",
    ["result"],
)
