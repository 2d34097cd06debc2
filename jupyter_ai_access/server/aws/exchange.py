"""The two unsigned AWS calls that turn the user's Cognito ID token into AWS credentials.

- :func:`assume_role_with_web_identity` — STS ``AssumeRoleWithWebIdentity`` (query protocol, XML
  answer) against an IAM OIDC identity provider for the user pool;
- :func:`identity_pool_credentials` — Cognito identity pools' enhanced flow, ``GetId`` then
  ``GetCredentialsForIdentity`` (JSON 1.1 protocol) with the ID token as the pool's login.

Both are plain HTTPS requests through tornado's client (no AWS SDK, no AWS credentials of the
server's own, nothing on the event loop that blocks). Neither the token nor an answer is logged:
errors carry AWS's error code and message, which name no secret. Failures map to
:class:`~jupyter_ai_access.errors.AWSUnavailableError` (unreachable, 5xx, throttling: retry) or
:class:`~jupyter_ai_access.errors.AWSRefusedError` (AWS said no: a setting or a trust policy).
"""

from __future__ import annotations

import base64
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from ...errors import AWSRefusedError, AWSUnavailableError
from ...pooldesc.session_end import role_session_name
from ...protocol import AWSContainerCredentials, expiry_epoch

__all__ = [
    "IssuedCredentials",
    "assume_role_with_web_identity",
    "identity_pool_credentials",
    "role_session_name",
    "unverified_claims",
]

MAX_ANSWER = 256 * 1024  # bytes: an STS or Cognito answer is a few kilobytes
_RETRYABLE = {"Throttling", "ThrottlingException", "TooManyRequestsException", "ServiceUnavailable",
              "InternalFailure", "InternalErrorException", "IDPCommunicationError"}  # fmt: skip


@dataclass(frozen=True)
class IssuedCredentials:
    """Temporary AWS credentials (kept in memory only, never written or logged)."""

    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expires_at: float
    #: the assumed role's ARN (web identity) or the identity id (identity pool), for status pages
    principal: str = ""

    def container_answer(self, advertise_until: float | None = None) -> AWSContainerCredentials:
        """The JSON botocore's container-credentials provider reads.

        ``advertise_until`` (seconds since the epoch) is the expiry told to the kernel when it is
        earlier than the real one: botocore then asks again sooner (:mod:`.endpoint`).
        """
        until = self.expires_at
        if advertise_until is not None:
            until = min(advertise_until, until)
        when = datetime.fromtimestamp(until, tz=timezone.utc)
        return {
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "Token": self.session_token,
            "Expiration": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


def unverified_claims(token: str) -> dict[str, Any]:
    """A JWT's claims without verification: the token came from our Hub, which verified it."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}


async def _post(
    http: AsyncHTTPClient, url: str, body: str, headers: dict[str, str], timeout: float, what: str
) -> tuple[int, bytes]:
    request = HTTPRequest(
        url,
        method="POST",
        body=body,
        headers=headers,
        request_timeout=timeout,
        connect_timeout=timeout,
        follow_redirects=False,
    )
    try:
        response = await http.fetch(request, raise_error=False)
    except (OSError, HTTPClientError) as e:
        raise AWSUnavailableError(
            f"{what} at {url} cannot be reached ({type(e).__name__}); retrying with backoff."
        ) from None
    if response.code == 599:  # tornado's "no answer": timeout, connection reset, too large
        reason = type(response.error).__name__ if response.error else "no answer"
        raise AWSUnavailableError(
            f"{what} at {url} cannot be reached ({reason}); retrying with backoff."
        )
    return response.code, response.body or b""


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml(body: bytes) -> ET.Element:
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise ValueError("DTDs are refused")
    return ET.fromstring(body)  # noqa: S314 - no DTD (checked above), size capped by the client


def _xml_fields(root: ET.Element, *names: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for element in root.iter():
        name = _local(element.tag)
        if name in names and name not in found:
            found[name] = (element.text or "").strip()
    return found


def _refusal(status: int, code: str, message: str, what: str) -> Exception:
    text = f"{what} refused the exchange: {code or f'HTTP {status}'}: {message or 'no message'}"
    if status >= 500 or code in _RETRYABLE:
        return AWSUnavailableError(text.replace("refused the exchange", "failed") + "; retrying.")
    return AWSRefusedError(code or f"HTTP{status}", text)


async def assume_role_with_web_identity(
    http: AsyncHTTPClient,
    endpoint: str,
    *,
    role_arn: str,
    session_name: str,
    id_token: str,
    duration: int,
    timeout: float,
) -> IssuedCredentials:
    """STS ``AssumeRoleWithWebIdentity`` (unsigned) with the ID token; the role's credentials."""
    what = "AWS STS (AssumeRoleWithWebIdentity)"
    body = urlencode(
        {
            "Action": "AssumeRoleWithWebIdentity",
            "Version": "2011-06-15",
            "RoleArn": role_arn,
            "RoleSessionName": session_name,
            "WebIdentityToken": id_token,
            "DurationSeconds": str(duration),
        }
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    status, raw = await _post(http, endpoint.rstrip("/") + "/", body, headers, timeout, what)
    try:
        root = _xml(raw)
    except (ValueError, ET.ParseError):
        raise _refusal(status if status >= 400 else 502, "", "answer is not XML", what) from None
    if status != 200:
        error = _xml_fields(root, "Code", "Message")
        raise _refusal(status, error.get("Code", ""), error.get("Message", ""), what)
    got = _xml_fields(root, "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration", "Arn")
    try:
        return IssuedCredentials(
            got["AccessKeyId"],
            got["SecretAccessKey"],
            got["SessionToken"],
            expiry_epoch(got["Expiration"]),
            got.get("Arn", ""),
        )
    except (KeyError, ValueError):
        raise AWSUnavailableError(f"{what} answered without usable credentials") from None


async def _cognito_call(
    http: AsyncHTTPClient, endpoint: str, operation: str, payload: dict[str, Any], timeout: float
) -> dict[str, Any]:
    what = f"Amazon Cognito identity ({operation})"
    headers = {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": f"AWSCognitoIdentityService.{operation}",
    }
    status, raw = await _post(
        http, endpoint.rstrip("/") + "/", json.dumps(payload), headers, timeout, what
    )
    try:
        answer = json.loads(raw or b"{}")
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise _refusal(status if status >= 400 else 502, "", "answer is not JSON", what)
    if status != 200:
        code = str(answer.get("__type", "")).rsplit("#", 1)[-1]
        message = str(answer.get("message") or answer.get("Message") or "")
        raise _refusal(status, code, message, what)
    return answer


async def identity_pool_credentials(
    http: AsyncHTTPClient,
    endpoint: str,
    *,
    identity_pool_id: str,
    login_provider: str,
    id_token: str,
    custom_role_arn: str,
    timeout: float,
) -> IssuedCredentials:
    """Identity pools' enhanced flow: ``GetId`` + ``GetCredentialsForIdentity`` (unsigned)."""
    logins = {login_provider: id_token}
    found = await _cognito_call(
        http, endpoint, "GetId", {"IdentityPoolId": identity_pool_id, "Logins": logins}, timeout
    )
    identity_id = str(found.get("IdentityId", ""))
    if not identity_id:
        raise AWSUnavailableError("Amazon Cognito identity (GetId) answered without IdentityId")
    request: dict[str, Any] = {"IdentityId": identity_id, "Logins": logins}
    if custom_role_arn:
        request["CustomRoleArn"] = custom_role_arn
    answer = await _cognito_call(http, endpoint, "GetCredentialsForIdentity", request, timeout)
    creds = answer.get("Credentials")
    try:
        if not isinstance(creds, dict):
            raise TypeError("Credentials")
        return IssuedCredentials(
            str(creds["AccessKeyId"]),
            str(creds["SecretKey"]),
            str(creds["SessionToken"]),
            expiry_epoch(creds["Expiration"]),
            identity_id,
        )
    except (KeyError, ValueError, TypeError):
        raise AWSUnavailableError(
            "Amazon Cognito identity (GetCredentialsForIdentity) answered without credentials"
        ) from None
