"""Opt-in: at session end, the person's AWS credentials issued before it are denied by IAM.

STS credentials cannot be revoked one by one; a kernel's copy (``aws configure export``, a file,
a process that ignores the endpoint) stays valid until it expires. With
``c.AWSSessionEndDeny.enabled = True`` the Hub, at every session end (logout, revocation, leaving
the groups: :meth:`~.refresh.HubSessions.end_session`'s ``on_session_end`` hooks), writes into
each role of ``role_arns`` an inline policy (``policy_name``) that denies that person's sessions
issued before now (:mod:`jupyter_ai_access.pooldesc.session_end`). IAM applies it within seconds
(its propagation is eventually consistent: typically a few seconds, documented as possibly
longer).

- never blocks the logout: the hook starts a task and returns;
- one read-modify-write at a time per role (``iam:GetRolePolicy`` + ``iam:PutRolePolicy``: the
  two permissions ``infra/session_end_deny.py`` grants, on those roles only); transient failures
  (throttling, 5xx, network) are retried with backoff, ``attempts`` times in all;
- every outcome is an audit record ``aws_session_denied`` (``user``, ``role_arn``, ``result``:
  denied, failed; ``not_before``: the logout time written; ``attempts``; ``dropped``: entries
  dropped to fit the size limit; ``code``: AWS's error code on failure);
- the Hub's own AWS credentials come from botocore's default chain (instance profile, IRSA,
  environment); botocore is needed (the ``demo`` extra holds it).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from traitlets import Bool, Enum, Int, List, Unicode, default, validate
from traitlets.config import LoggingConfigurable

from ..errors import ConfigurationError
from ..pooldesc.session_end import (
    ROLE_INLINE_LIMIT,
    USERID,
    DenyEntries,
    iso_second,
    role_session_name,
)
from ..protocol import AWSEnv
from ..retry import Backoff

__all__ = ["AWSSessionEndDeny"]

_TRANSIENT = {"Throttling", "ThrottlingException", "ServiceUnavailable", "InternalFailure",
              "RequestLimitExceeded", "ServiceFailure", "ConcurrentModification"}  # fmt: skip


class AWSSessionEndDeny(LoggingConfigurable):
    """Denies, through the roles' IAM policy, the AWS credentials issued before a session end."""

    enabled = Bool(
        False,
        config=True,
        help="""At each session end, deny in IAM the person's role sessions issued before it
        (needs iam:GetRolePolicy and iam:PutRolePolicy on role_arns for the Hub's own AWS
        credentials: infra/ grants them with sessionEndDeny = true). Default: False.""",
    )
    role_arns = List(
        Unicode(),
        config=True,
        help="""The roles whose sessions are denied (those the servers hand out). Default: the
        values of $JUPYTER_AI_ACCESS_AWS_GROUP_ROLES (the servers' group -> role mapping).""",
    )
    person_key = Enum(
        [USERID, "aws:PrincipalTag/username"],
        USERID,
        config=True,
        help="""How the deny names the person: "aws:userid" (<role id>:<role session name>, the
        session name being the user name, as AssumeRoleWithWebIdentity is called by the
        servers) or "aws:PrincipalTag/username" (identity pools, whose sessions all share one
        name; infra/ maps that tag from cognito:username). Default: "aws:userid".""",
    )
    policy_name = Unicode(
        "jupyter-ai-access-session-end",
        config=True,
        help="The name of the inline role policy holding the denies. Default: the one shown.",
    )
    max_session_seconds = Int(
        43200,
        config=True,
        help="""The roles' maximum session duration (s): an entry is pruned that long after its
        logout, when everything it denies has expired. Default: 43200 (IAM's largest).""",
    )
    budget = Int(
        ROLE_INLINE_LIMIT,
        config=True,
        help="""Most characters the policy may take. IAM allows 10,240 for all inline policies
        of a role together: lower this by what the role's other inline policies take. When
        full, the oldest entries are dropped (audited). Default: 10240.""",
    )
    attempts = Int(5, config=True, help="Tries per role and session end (s). Default: 5.")
    iam_endpoint_url = Unicode(
        config=True,
        help="""The IAM endpoint. Default: $AWS_ENDPOINT_URL_IAM, else $AWS_ENDPOINT_URL, else
        botocore's (https://iam.amazonaws.com).""",
    )

    def __init__(
        self, audit: Any = None, clock: Callable[[], float] = time.time, **kw: Any
    ) -> None:
        super().__init__(**kw)
        self.audit = audit
        self.clock = clock
        self.tasks: set[asyncio.Task[bool]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._client: Any = None

    @default("role_arns")
    def _roles_default(self) -> list[str]:
        text = os.environ.get(AWSEnv.GROUP_ROLES, "")
        try:
            roles = json.loads(text) if text else {}
        except ValueError:
            roles = {}
        return sorted(set(map(str, roles.values()))) if isinstance(roles, dict) else []

    @default("iam_endpoint_url")
    def _endpoint_default(self) -> str:
        return os.environ.get("AWS_ENDPOINT_URL_IAM") or os.environ.get(AWSEnv.ENDPOINT_URL, "")

    @validate("max_session_seconds", "budget", "attempts")
    def _check_positive(self, proposal: Any) -> int:
        value = int(proposal["value"])
        if value < 1:
            raise ConfigurationError(
                f"AWSSessionEndDeny.{proposal['trait'].name} = {value!r}: must be positive"
            )
        return value

    # ---------------------------------------------------------------- the hook
    def session_ended(self, username: str) -> None:
        """``on_session_end`` hook: start the denies and return at once."""
        if not self.enabled:
            return
        ended_at = self.clock()
        for role in self.role_arns:
            task = asyncio.get_running_loop().create_task(self.deny(role, username, ended_at))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def deny(self, role_arn: str, username: str, ended_at: float) -> bool:
        """Write the deny for ``username`` into ``role_arn``'s policy; True once IAM took it."""
        name = role_session_name(username)
        backoff = Backoff(1.0, 30.0, jitter=0.5)
        code, dropped = "", []
        for attempt in range(1, self.attempts + 1):
            try:
                async with self._locks.setdefault(role_arn, asyncio.Lock()):
                    dropped = await asyncio.to_thread(self._update, role_arn, name, ended_at)
            except Exception as e:  # any failure is audited, never raised
                code = _code_of(e)
                transient = code in _TRANSIENT or not code or code.startswith("5")
                self.log.warning(
                    "AWS deny of %s's sessions on %s failed (attempt %d of %d): %s",
                    username, role_arn, attempt, self.attempts, code or type(e).__name__,
                )  # fmt: skip
                if not transient or attempt == self.attempts:
                    break
                await asyncio.sleep(backoff.failed())
                continue
            self._audit(username, role_arn, "denied", ended_at, attempt, dropped, "")
            return True
        self._audit(username, role_arn, "failed", ended_at, attempt, dropped, code)
        return False

    # ---------------------------------------------------------------- IAM (in a thread)
    def client(self) -> Any:
        """botocore's IAM client with the Hub's own credentials (built once)."""
        if self._client is None:
            try:
                import botocore.session
            except ImportError:  # pragma: no cover - the demo extra holds it
                raise ConfigurationError(
                    "AWSSessionEndDeny.enabled = True needs botocore (pip install boto3)"
                ) from None
            session = botocore.session.get_session()
            self._client = session.create_client(
                "iam", endpoint_url=self.iam_endpoint_url or None, region_name="us-east-1"
            )
        return self._client

    def _update(self, role_arn: str, session_name: str, ended_at: float) -> list[str]:
        iam, role = self.client(), role_arn.rsplit("/", 1)[-1]
        try:
            current = iam.get_role_policy(RoleName=role, PolicyName=self.policy_name)
            document = current["PolicyDocument"]
            if isinstance(document, str):
                document = unquote(document)
        except iam.exceptions.NoSuchEntityException:
            document = None
        entries = DenyEntries.parse(document, self.person_key)
        entries.add(session_name, ended_at)
        entries.prune(self.clock(), self.max_session_seconds)
        dropped = entries.fit(self.budget, keep=session_name)
        iam.put_role_policy(
            RoleName=role, PolicyName=self.policy_name, PolicyDocument=entries.text()
        )
        return dropped

    def _audit(
        self, user: str, role: str, result: str, ended_at: float, attempts: int,
        dropped: list[str], code: str,
    ) -> None:  # fmt: skip
        if self.audit is not None:
            self.audit.record(
                "aws_session_denied", user=user, role_arn=role, result=result,
                not_before=iso_second(ended_at), attempts=attempts, dropped=dropped, code=code,
            )  # fmt: skip


def _code_of(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code or (str(status) if status else "")
    return ""
