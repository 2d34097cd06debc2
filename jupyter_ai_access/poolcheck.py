"""``jupyter-ai-access check-pool``: is this user pool and app client set up for the Hub?

Reads the same settings as the Hub (``$COGNITO_*`` or a ``jupyterhub_config.py``'s
``c.CognitoOAuthenticator``), then asks Cognito itself, one check per line:

1. the settings are complete and consistent (what the Hub checks at start);
2. the issuer's discovery document names this issuer, and the user-pool domain is its domain;
3. the app client accepts the Hub's callback URL (``/oauth2/authorize`` answers with the sign-in
   page, not ``redirect_mismatch``);
4. the client secret is right (a token request with a made-up code is refused for the code,
   ``invalid_grant``, not for the client, ``invalid_client``);
5. token exchange (``poolcheck_exchange.py``), when a pool description or the actor's credentials
   are given: feature plan, the Hub client's delegation flag, the actor client, each downstream
   audience and its scopes, by real requests to the token and authorization endpoints;
6. with AWS credentials and boto3: the app client's own settings (code flow only, scopes, callback
   and sign-out URLs, token revocation; with the exchange checks also its ExplicitAuthFlows and
   the pool's feature plan).

Nothing is changed anywhere, and no secret is printed.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from .cognito.http import NoRedirect
from .cognito.oidc import fetch_discovery_sync
from .errors import ConfigurationError, IdentityProviderError
from .poolcheck_exchange import DELEGATION, ExchangeInputs, exchange_checks

__all__ = ["Check", "ExchangeInputs", "check_pool"]


_opener = urllib.request.build_opener(NoRedirect, urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Check:
    """One line of the report."""

    ok: bool | None  # None: skipped
    what: str
    detail: str

    def __str__(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "skip"}[self.ok]
        return f"{mark}  {self.what}: {self.detail}"


def _request(
    url: str, data: bytes | None = None, auth: str = ""
) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"} if data else {}
    if auth:
        headers["Authorization"] = auth
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - checked URLs
    try:
        with _opener.open(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read(65536)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read(65536)


def check_pool(
    auth: Any, callback_url: str, exchange: ExchangeInputs | None = None
) -> Iterator[Check]:
    """Run the checks with the settings of ``auth`` (a CognitoOAuthenticator); stop at a FAIL
    that makes the next checks meaningless. ``exchange``: what the token-exchange checks need."""
    exchange = exchange or ExchangeInputs()
    try:
        auth.validate_settings()
    except ConfigurationError as e:
        yield Check(False, "settings", str(e))
        return
    yield Check(True, "settings", f"issuer {auth.issuer}, domain {auth.domain}")
    try:
        doc = fetch_discovery_sync(auth.issuer, timeout=10)
    except IdentityProviderError as e:
        yield Check(False, "discovery", f"{e} (check COGNITO_REGION / COGNITO_USER_POOL_ID)")
        return
    endpoint = str(doc.get("authorization_endpoint", ""))
    if urlsplit(endpoint).netloc != urlsplit(auth.domain).netloc:
        yield Check(
            False, "domain", f"the pool's endpoints are on {endpoint!r}: set COGNITO_DOMAIN"
        )
        return
    yield Check(True, "discovery", "the issuer and the user-pool domain belong together")

    query = urlencode(
        {
            "response_type": "code",
            "client_id": auth.client_id,
            "redirect_uri": callback_url,
            "scope": "openid",
            "state": "check-pool",
        }
    )
    status, headers, body = _request(f"{endpoint}?{query}")
    location = headers.get("Location", "")
    if (
        status in (301, 302, 303)
        and "error" not in location
        and "redirect_mismatch" not in location
    ):
        yield Check(True, "callback URL", f"the app client accepts {callback_url}")
    else:
        reason = _error_of(location, body) or f"HTTP {status}"
        yield Check(
            False,
            "callback URL",
            f"the app client refuses {callback_url} ({reason}): add it to the client's callback "
            "URLs (infra/ sets <hubUrl>/hub/oauth_callback), or check COGNITO_CLIENT_ID",
        )

    basic = base64.b64encode(f"{auth.client_id}:{auth.client_secret}".encode()).decode()
    form = urlencode(
        {"grant_type": "authorization_code", "code": "check-pool", "redirect_uri": callback_url}
    ).encode()
    status, _, body = _request(str(doc.get("token_endpoint")), form, f"Basic {basic}")
    error = _error_of("", body)
    if error == "invalid_grant":
        yield Check(True, "client secret", "accepted (the made-up code was refused, as it should)")
    elif error == "invalid_client":
        yield Check(False, "client secret", "refused (invalid_client): check COGNITO_CLIENT_SECRET")
    else:
        yield Check(False, "client secret", f"unexpected answer {error or status}")
    endpoints = {"token": str(doc.get("token_endpoint")), "authorization": endpoint}
    for finding in exchange_checks(
        auth.client_id, auth.client_secret, endpoints, callback_url, exchange, _request
    ):
        yield Check(*finding)
    yield from _aws_checks(auth, callback_url, exchange.wanted)


def _error_of(location: str, body: bytes) -> str:
    if "error=" in location:
        return parse_qs(urlsplit(location).query).get("error", [""])[0]
    try:
        data = json.loads(body or b"null")
    except ValueError:
        return ""
    return str(data.get("error", "")) if isinstance(data, dict) else ""


def _aws_checks(auth: Any, callback_url: str, exchange: bool) -> Iterator[Check]:
    try:
        import boto3  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        yield Check(None, "app client settings", "install boto3 and set AWS credentials to check")
        return
    if not (auth.region and auth.user_pool_id):
        yield Check(None, "app client settings", "needs COGNITO_REGION and COGNITO_USER_POOL_ID")
        return
    try:
        idp = boto3.client("cognito-idp", region_name=auth.region)
        client = idp.describe_user_pool_client(
            UserPoolId=auth.user_pool_id, ClientId=auth.client_id
        )["UserPoolClient"]
        tier = (
            idp.describe_user_pool(UserPoolId=auth.user_pool_id)["UserPool"].get("UserPoolTier")
            if exchange
            else None
        )
    except Exception as e:  # no credentials, no permission, no such client
        yield Check(None, "app client settings", f"cannot be read ({type(e).__name__})")
        return
    problems = []
    if client.get("AllowedOAuthFlows") != ["code"]:
        problems.append(f"flows {client.get('AllowedOAuthFlows')} (want only 'code')")
    if "openid" not in client.get("AllowedOAuthScopes", []):
        problems.append("scope 'openid' missing")
    if callback_url not in client.get("CallbackURLs", []):
        problems.append(f"callback {callback_url} missing")
    if not client.get("EnableTokenRevocation", False):
        problems.append("token revocation off")
    if exchange and DELEGATION not in client.get("ExplicitAuthFlows", []):
        problems.append(f"{DELEGATION} missing from ExplicitAuthFlows (token exchange)")
    if exchange and tier not in (None, "ESSENTIALS", "PLUS"):
        problems.append(f"the pool is on the {tier} feature plan (token exchange: ESSENTIALS/PLUS)")
    yield Check(not problems, "app client settings", "; ".join(problems) or "as the Hub needs")
