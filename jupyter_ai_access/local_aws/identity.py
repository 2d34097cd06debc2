"""What the local AWS checks in front of moto: ID tokens, role choice by group, its own API.

moto issues credentials for any role to anyone (``AssumeRoleWithWebIdentity`` checks no token
and no trust policy; its ``cognito-identity`` answers fixed credentials that its own IAM refuses)
and serves all its state, credentials included, at ``/moto-api/``. :class:`IdentityFront` wraps
moto's WSGI application and does what AWS does at those places:

- ``GetId`` / ``GetCredentialsForIdentity`` (Cognito identity pool, enhanced flow): the login
  must be an ID token of the pool's user pool (signature against the user pool's JWKS, ``iss``,
  ``aud`` = the pool's app client, ``exp``); one identity per ``sub``; the role comes from the
  token as with a ``Token`` role mapping and ``AmbiguousRoleResolution = Deny``: ``CustomRoleArn``
  only when it is one of the token's ``cognito:roles``, else ``cognito:preferred_role``. The
  credentials are moto's own (its STS), so its IAM enforces the role's policies; their session is
  named after ``cognito:username`` so ARNs say who (Cognito names every session
  ``CognitoIdentityCredentials``). The emulated
  user pool puts no role claims in its tokens: they are derived from ``cognito:groups`` and the
  description, as Cognito derives them from the groups' ``role_arn``. ``GetOpenIdToken`` (the
  classic flow) is refused.
- ``AssumeRoleWithWebIdentity``: the role's trust policy must admit the token: a statement for
  the user pool's IAM OIDC provider (token verified, ``StringEquals`` on ``<provider>:aud`` and
  ``<provider>:sub`` evaluated). A role that trusts only the identity pool admits no user pool
  token (nor any other: this emulator issues no Cognito OpenID tokens).
- ``/moto-api/...``: refused (403) unless the request carries :data:`OPERATOR_HEADER` with the
  secret of this run (tests and the operator).
"""

from __future__ import annotations

import hmac
import io
import json
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs

from ..cognito.verify import CognitoTokenVerifier
from ..errors import JupyterAIAccessError
from ..server.aws.exchange import role_session_name

__all__ = ["OPERATOR_HEADER", "IdentityFront", "identity_pool_id_for", "login_provider_for"]

OPERATOR_HEADER = "X-Local-AWS-Operator"
_STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
_COGNITO = {  # the unsigned identity-pool operations, as moto would dispatch them
    _op.lower(): _op for _op in ("GetId", "GetCredentialsForIdentity", "GetOpenIdToken")
}
Start = Callable[..., Any]
Issue = Callable[[str, str, int], Any]  # (role ARN, session name, seconds) -> moto AssumedRole


def identity_pool_id_for(region: str, user_pool_id: str, client_id: str) -> str:
    """The identity pool id of the emulated pool (fixed, so a Hub can configure it in advance)."""
    return f"{region}:{uuid.uuid5(uuid.NAMESPACE_URL, f'{user_pool_id}/{client_id}')}"


def login_provider_for(region: str, issuer: str) -> str:
    """The ``Logins`` key of a user pool: ``cognito-idp.<region>.amazonaws.com/<pool id>``."""
    return f"cognito-idp.{region}.amazonaws.com/{issuer.rstrip('/').rsplit('/', 1)[-1]}"


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class IdentityFront:
    """WSGI middleware in front of moto's server (see the module's docstring)."""

    def __init__(
        self,
        moto_app: Any,
        *,
        operator_secret: str,
        issue: Issue,
        trust_of: Callable[[str], Mapping[str, Any] | None],
        issuer: str = "",
        jwks_uri: str = "",
        client_id: str = "",
        region: str = "us-east-1",
        identity_pool_id: str = "",
        oidc_provider: str = "",
        group_roles: Mapping[str, str] | None = None,
        group_order: Iterable[str] = (),
    ) -> None:
        self.moto_app, self.operator_secret = moto_app, operator_secret
        self.issue, self.trust_of = issue, trust_of
        self.issuer, self.client_id, self.region = issuer, client_id, region
        self.identity_pool_id = identity_pool_id
        self.provider = login_provider_for(region, issuer) if issuer else ""
        self.oidc_provider = oidc_provider
        self.group_roles = dict(group_roles or {})
        self.group_order = [g for g in group_order if g in self.group_roles]
        self.identities: dict[str, str] = {}  # identity id -> sub
        self.verifier = (
            CognitoTokenVerifier(
                issuer=issuer, client_ids=[client_id], token_use="id", jwks_uri=jwks_uri or None
            )
            if issuer
            else None
        )

    # ---------------------------------------------------------------- WSGI
    def __call__(self, environ: dict[str, Any], start_response: Start) -> Iterable[bytes]:
        backend_app = self.moto_app.get_application(environ)
        api = {self.moto_app.app_instances.get(n) for n in ("moto_api", "moto_api._internal")}
        if backend_app in api - {None} and not self._operator(environ):
            body = b"moto's management API is for the operator only (X-Local-AWS-Operator)\n"
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [body]
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        operation = _norm(target.rpartition(".")[2])  # moto dispatches case-insensitively
        try:
            if self.verifier is not None and operation in _COGNITO:
                answer = self._cognito(_COGNITO[operation], _body(environ))
                return _reply(start_response, "200 OK", "application/x-amz-json-1.1", answer)
            if self.verifier is not None:
                self._check_web_identity(environ, operation)
        except _Refused as e:
            if target:
                body = json.dumps({"__type": e.code, "message": e.message}).encode()
                return _reply(start_response, _status(e.status), "application/x-amz-json-1.1", body)
            return _reply(start_response, _status(e.status), "text/xml", _sts_error(e))
        return backend_app(environ, start_response)  # type: ignore[no-any-return]

    def _operator(self, environ: Mapping[str, Any]) -> bool:
        given = str(environ.get("HTTP_" + OPERATOR_HEADER.upper().replace("-", "_"), ""))
        return bool(self.operator_secret) and hmac.compare_digest(
            given.encode(), self.operator_secret.encode()
        )

    # ---------------------------------------------------------------- ID tokens
    def _claims(self, token: Any, what: str) -> dict[str, Any]:
        assert self.verifier is not None
        if not isinstance(token, str) or not token:
            raise _Refused(400, what, "no token")
        try:
            return self.verifier.verify(token)
        except JupyterAIAccessError as e:  # the reason names no secret
            raise _Refused(400, what, f"Invalid login token. {type(e).__name__}: {e}") from None

    def _roles(self, claims: Mapping[str, Any]) -> tuple[list[str], str]:
        """The token's ``cognito:roles`` and ``cognito:preferred_role`` (derived from groups)."""
        roles, preferred = claims.get("cognito:roles"), claims.get("cognito:preferred_role")
        if isinstance(roles, list):
            return [str(r) for r in roles], str(preferred or "")
        groups = claims.get("cognito:groups") or []
        mine = [g for g in self.group_order if g in groups]
        return [self.group_roles[g] for g in mine], (self.group_roles[mine[0]] if mine else "")

    # ---------------------------------------------------------------- cognito-identity
    def _cognito(self, operation: str, body: bytes) -> bytes:
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            raise _Refused(400, "InvalidParameterException", "body is not JSON") from None
        if not isinstance(request, dict):
            raise _Refused(400, "InvalidParameterException", "body is not a JSON object")
        if operation != "GetId" and operation != "GetCredentialsForIdentity":
            raise _Refused(400, "InvalidParameterException", "Basic (classic) flow is disabled")
        sub = self._login(request)
        if operation == "GetId":
            if request.get("IdentityPoolId") != self.identity_pool_id:
                raise _Refused(400, "ResourceNotFoundException", "IdentityPool not found")
            identity = f"{self.region}:{uuid.uuid5(uuid.NAMESPACE_URL, self.issuer + '#' + sub)}"
            self.identities[identity] = sub
            return json.dumps({"IdentityId": identity}).encode()
        identity = str(request.get("IdentityId", ""))
        if self.identities.get(identity) != sub:
            raise _Refused(400, "NotAuthorizedException", "Logins don't match the identity")
        roles, preferred = self._roles(request["_claims"])
        role = str(request.get("CustomRoleArn") or preferred)
        if not role or role not in roles:
            raise _Refused(
                400,
                "NotAuthorizedException" if role else "InvalidIdentityPoolConfigurationException",
                f"the login's cognito:roles do not include {role}"
                if role
                else "no role for the login's groups (AmbiguousRoleResolution: Deny)",
            )
        issued = self.issue(
            role, role_session_name(str(request["_claims"].get("cognito:username") or sub)), 3600
        )
        return json.dumps(
            {
                "IdentityId": identity,
                "Credentials": {
                    "AccessKeyId": issued.access_key_id,
                    "SecretKey": issued.secret_access_key,
                    "SessionToken": issued.session_token,
                    "Expiration": issued.expiration.timestamp(),
                },
            }
        ).encode()

    def _login(self, request: dict[str, Any]) -> str:
        logins = request.get("Logins")
        if not isinstance(logins, dict) or set(logins) != {self.provider}:
            raise _Refused(400, "NotAuthorizedException", f"Logins must be {{{self.provider}: …}}")
        claims = self._claims(logins[self.provider], "NotAuthorizedException")
        request["_claims"] = claims
        return str(claims["sub"])

    # ---------------------------------------------------------------- STS
    def _check_web_identity(self, environ: dict[str, Any], operation: str) -> None:
        """Refuse ``AssumeRoleWithWebIdentity`` (query, form or JSON) that the trust refuses."""
        form = parse_qs(str(environ.get("QUERY_STRING", "")))
        form_body = "form-urlencoded" in str(environ.get("CONTENT_TYPE", ""))
        # STS comes as a form (query protocol) or as JSON with X-Amz-Target: other requests
        # (S3 uploads, possibly large and chunked) go to moto untouched
        body = _body(environ) if form_body or operation else b""
        if form_body:
            for key, values in parse_qs(body.decode("utf-8", "replace")).items():
                form.setdefault(key, []).extend(values)
        asked = {operation} | {_norm(a) for a in form.get("Action", [])}
        if "assumerolewithwebidentity" not in asked:
            return
        roles, tokens = form.get("RoleArn", []), form.get("WebIdentityToken", [])
        if operation:
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                data = {}
            if isinstance(data, dict):
                roles.append(str(data.get("RoleArn", "")))
                tokens.append(str(data.get("WebIdentityToken", "")))
        if len(set(roles)) != 1 or len(set(tokens)) != 1:
            raise _Refused(400, "InvalidParameterValue", "one RoleArn and one WebIdentityToken")
        role, token = roles[0], tokens[0]
        trust = self.trust_of(role)
        if trust is None:
            raise _Refused(403, "AccessDenied", f"Not authorized to assume {role}")
        claims = self._claims(token, "InvalidIdentityToken")
        host = self.issuer.split("://", 1)[-1]
        for statement in _list(trust.get("Statement")):
            federated = (statement.get("Principal") or {}).get("Federated")
            actions = _list(statement.get("Action"))
            if (
                statement.get("Effect") == "Allow"
                and federated == self.oidc_provider
                and "sts:AssumeRoleWithWebIdentity" in actions
                and _conditions_hold(statement.get("Condition") or {}, claims, self.provider, host)
            ):
                return
        raise _Refused(
            403,
            "AccessDenied",
            f"Not authorized to perform sts:AssumeRoleWithWebIdentity on {role}",
        )


def _conditions_hold(condition: Mapping[str, Any], claims: Mapping[str, Any], *hosts: str) -> bool:
    """``StringEquals`` on ``<provider>:aud`` / ``:sub``; any other condition is not met."""
    for operator, tests in condition.items():
        if operator != "StringEquals" or not isinstance(tests, dict):
            return False
        for key, wanted in tests.items():
            host, _, claim = str(key).rpartition(":")
            if claim not in ("aud", "sub") or not any(host.endswith(h) for h in hosts):
                return False
            if str(claims.get(claim)) not in [str(w) for w in _list(wanted)]:
                return False
    return True


def _norm(action: str) -> str:
    """An action name as moto matches it (``assume_role…``, ``assumeRole…``: the same)."""
    return action.replace("_", "").replace("-", "").lower()


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _body(environ: dict[str, Any]) -> bytes:
    """The request body, read once and put back for moto.

    A chunked request (``Transfer-Encoding: chunked``, as the AWS C++ SDK sends uploads) has no
    ``Content-Length``: the server then marks the input as ending by itself
    (``wsgi.input_terminated``) and it is read to its end.
    """
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        try:
            size = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            size = 0
        body = stream.read(size) if size > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return bytes(body)


def _status(code: int) -> str:
    return {400: "400 Bad Request", 403: "403 Forbidden"}.get(code, f"{code} Error")


def _sts_error(e: _Refused) -> bytes:
    from xml.sax.saxutils import escape

    return (
        f'<ErrorResponse xmlns="{_STS_NS}"><Error><Type>Sender</Type>'
        f"<Code>{escape(e.code)}</Code><Message>{escape(e.message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()


def _reply(start_response: Start, status: str, kind: str, body: bytes) -> list[bytes]:
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]
