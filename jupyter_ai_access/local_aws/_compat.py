"""Every name of moto the local AWS touches beyond its documented server, in one place.

moto documents its server and its decorators; the emulator needs a little more, with no public
equivalent. ``tests/test_local_aws_compat.py`` checks each name against the installed moto, so
an upgrade that renames or changes one fails loudly there, by name, rather than as a refused
request in a kernel. Checked on moto :data:`MOTO_CHECKED` (``constraints.txt``); the ``demo``
extra in ``pyproject.toml`` bounds moto to that minor version. Widen both only with those tests
green.

- ``ActionAuthenticatorMixin._authenticate_and_authorize_action`` (private) and
  ``._get_action()``: wrapped so AWS's unsigned operations pass IAM enforcement, as on AWS;
- ``ActionAuthenticatorMixin.PUBLIC_OPERATIONS``, ``.request_count`` and
  ``moto.settings.INITIAL_NO_AUTH_ACTION_COUNT``: which operations skip the signature, and when
  enforcement starts;
- ``moto.iam.access_control.S3IAMRequest`` and its ``_action``: S3 requests checked under the
  IAM action AWS uses;
- the backends' state: ``cognitoidentity`` ``identity_pools`` / ``pools_identities`` (a fixed
  identity pool id), ``sts`` ``assume_role(...)`` and ``iam`` ``get_role_by_arn`` (credentials of
  a role, its trust policy).
"""

from __future__ import annotations

import contextvars
import fnmatch
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "ACCOUNT",
    "MOTO_CHECKED",
    "authorize_s3_operations_as",
    "enforce_iam",
    "exempt_unsigned_operations",
    "pause_iam",
    "rename_identity_pool",
    "role_issuer",
    "server_app",
    "trust_of",
]

#: The moto version the names below were checked on (constraints.txt pins it).
MOTO_CHECKED = "5.2.6"
ACCOUNT = "123456789012"  # moto's default account


def server_app() -> Any:
    """moto's WSGI application, every service behind one port (as ``moto_server`` runs it)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return DomainDispatcherApplication(create_backend_app)


def pause_iam() -> None:
    """Accept every request, signed or not, until :func:`enforce_iam` (to seed the state)."""
    from moto import settings

    settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")


def enforce_iam() -> None:
    """From now on every request is checked against the caller's IAM policies."""
    from moto import settings
    from moto.core.authorization import ActionAuthenticatorMixin

    settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
    ActionAuthenticatorMixin.request_count = 0


def exempt_unsigned_operations(actions: Iterable[str], targets: Iterable[str]) -> None:
    """Let AWS's unsigned operations through IAM enforcement, as AWS does.

    ``actions``: query-protocol actions (``AssumeRoleWithWebIdentity``) passed when the request
    carries no ``Authorization``; ``targets``: JSON-protocol ``X-Amz-Target`` values never
    checked (moto's ``PUBLIC_OPERATIONS``).
    """
    from moto.core.authorization import ActionAuthenticatorMixin

    unsigned = frozenset(actions)
    ActionAuthenticatorMixin.PUBLIC_OPERATIONS.extend(targets)
    checked = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def check(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if "Authorization" not in self.headers and self._get_action() in unsigned:
            return
        checked(self, iam_request_cls, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = check  # type: ignore[method-assign]


def authorize_s3_operations_as(iam_actions: Mapping[str, str]) -> None:
    """Check S3 requests under the IAM action AWS uses for an operation (``HeadObject`` →
    ``GetObject``); operations not in ``iam_actions`` keep their own name."""
    from moto.iam import access_control

    class S3Request(access_control.S3IAMRequest):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            service, _, operation = self._action.partition(":")
            self._action = f"{service}:{iam_actions.get(operation, operation)}"

    access_control.S3IAMRequest = S3Request  # type: ignore[misc]


def rename_identity_pool(region: str, created: str, fixed: str) -> None:
    """Give moto's identity pool ``created`` the id ``fixed`` (moto draws a random one)."""
    from moto.cognitoidentity.models import cognitoidentity_backends

    backend = cognitoidentity_backends[ACCOUNT][region]
    pool = backend.identity_pools.pop(created)
    pool.identity_pool_id = fixed
    backend.identity_pools[fixed] = pool
    backend.pools_identities[fixed] = {"IdentityPoolId": fixed, "Identities": []}
    backend.pools_identities.pop(created, None)


def role_issuer(region: str) -> Callable[[str, str, int], Any]:
    """``issue(role_arn, session_name, seconds)``: credentials of a role from moto's STS (its IAM
    accepts them and enforces the role's policies)."""
    from moto.sts.models import sts_backends

    def issue(role_arn: str, session_name: str, seconds: int) -> Any:
        return sts_backends[ACCOUNT]["aws"].assume_role(
            region_name=region,
            role_session_name=session_name,
            role_arn=role_arn,
            policy="",
            duration=seconds,
            external_id="",
        )

    return issue


def trust_of(role_arn: str) -> dict[str, Any] | None:
    """A role's trust policy from moto's IAM, or None when there is no such role."""
    from moto.iam.models import iam_backends

    try:
        role = iam_backends[ACCOUNT]["global"].get_role_by_arn(role_arn)
        trust = json.loads(role.assume_role_policy_document)
    except Exception:  # unknown role or unreadable document: no trust
        return None
    return trust if isinstance(trust, dict) else None


#: condition keys :func:`evaluate_session_conditions` knows; statements with others keep moto's way
SESSION_KEYS = frozenset({"aws:userid", "aws:TokenIssueTime"})


def _holds(operator: str, expected: Any, actual: str) -> bool:
    options = expected if isinstance(expected, list) else [expected]
    if operator == "StringEquals":
        return actual in options
    if operator == "StringLike":
        return any(fnmatch.fnmatchcase(actual, str(o)) for o in options)
    if operator in ("DateLessThan", "DateGreaterThan"):
        moment = datetime.fromisoformat(actual.replace("Z", "+00:00"))
        bounds = [datetime.fromisoformat(str(o).replace("Z", "+00:00")) for o in options]
        if operator == "DateLessThan":
            return any(moment < bound for bound in bounds)
        return any(moment > bound for bound in bounds)
    raise ValueError(operator)


def evaluate_session_conditions() -> None:
    """Evaluate identity policies' ``aws:userid`` / ``aws:TokenIssueTime`` conditions for role
    sessions (``StringEquals``, ``StringLike``, ``DateLessThan``, ``DateGreaterThan``), as IAM
    does: the statement applies only when every condition holds.

    moto 5.2 passes no request context to identity policies, ignores every operator but
    ``StringEquals`` and answers DENIED when a condition fails, so a Deny conditioned on one
    person's sessions would deny everyone. Statements with other keys keep moto's behaviour.
    """
    from moto.iam import access_control as ac
    from moto.sts.models import sts_backends

    context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
        "jaia_session_context", default=None
    )
    checked = ac.IAMRequestBase.check_action_permitted
    judged = ac.IAMPolicyStatement.is_action_permitted

    def session_values(key: Any) -> dict[str, str] | None:
        if not isinstance(key, ac.AssumedRoleAccessKey):
            return None
        for role in sts_backends[key.account_id][key.partition].assumed_roles:
            if role.access_key_id == key._access_key_id:
                issued = role.access_key.create_date.replace(tzinfo=timezone.utc)
                return {
                    "aws:userid": role.user_id,
                    "aws:TokenIssueTime": issued.strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
        return None

    def check_action_permitted(self: Any, resource: str) -> None:
        token = context.set(session_values(self._access_key))
        try:
            checked(self, resource)
        finally:
            context.reset(token)

    def is_action_permitted(
        self: Any, action: str, resource: str = "*", principal: Any = None, incoming: Any = None
    ) -> Any:
        values, condition = context.get(), self._statement.get("Condition")
        keys = {key for block in (condition or {}).values() for key in block}
        trust = principal is not None or incoming is not None  # a trust policy: moto's way
        if values is None or trust or not condition or not keys <= SESSION_KEYS:
            return judged(self, action, resource, principal, incoming)
        try:
            holds = all(
                _holds(operator, expected, values[key])
                for operator, block in condition.items()
                for key, expected in block.items()
            )
        except ValueError:  # an operator this does not know: moto's way
            return judged(self, action, resource, principal, incoming)
        if not holds:
            return ac.PermissionResult.NEUTRAL
        plain = {k: v for k, v in self._statement.items() if k != "Condition"}
        return judged(ac.IAMPolicyStatement(plain), action, resource)

    ac.IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]
    ac.IAMPolicyStatement.is_action_permitted = is_action_permitted  # type: ignore[method-assign,assignment]
