"""The session-end deny as an IAM policy document: who, what, since when; pruned, sized.

Standard library only: the Hub (:mod:`jupyter_ai_access.hub.aws_deny`) writes these documents,
``infra/`` and the local AWS grant the Hub :func:`hub_permission`, the servers name role sessions
with :func:`role_session_name`.

One statement per person whose Hub session ended, in one inline policy of each role:

.. code-block:: json

    {"Effect": "Deny", "Action": "*", "Resource": "*",
     "Condition": {"StringLike": {"aws:userid": "*:alice"},
                   "DateLessThan": {"aws:TokenIssueTime": "2026-12-05T20:00:01Z"}}}

- **who**: ``aws:userid`` of a role session is ``<role id>:<role session name>``; the policy sits
  on that role, so only its sessions are evaluated against it and the role id is written as ``*``
  (no ``iam:GetRole`` needed). The session name is the broker's
  (:func:`role_session_name` of the user name, which the servers' exchange uses too), which
  holds no ``*`` or ``?``. With ``person_key = "aws:PrincipalTag/username"`` (identity pools,
  whose sessions are all named ``CognitoIdentityCredentials``) the person is the principal tag
  the identity pool maps from ``cognito:username`` instead;
- **what**: every action on every resource (a Deny beats any Allow);
- **when**: credentials issued before the logout (``aws:TokenIssueTime``, rounded up to the
  second), so the person's next login gets credentials that work.

A person's later logout replaces the earlier one. An entry is useless once every credential it
denies has expired: ``max_session_seconds`` after the logout it is pruned. IAM counts at most
10,240 characters (without whitespace) for all inline policies of a role together: when the
entries do not fit in ``budget`` characters the oldest ones (those closest to expiring on their
own) are dropped and reported, never the new one.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

__all__ = [
    "DenyEntries",
    "deny_statement",
    "hub_permission",
    "iso_second",
    "parse_time",
    "role_session_name",
]

#: IAM's limit for the inline policies of one role, together (characters, whitespace excluded)
ROLE_INLINE_LIMIT = 10240
USERID = "aws:userid"
_SESSION_CHAR = re.compile(r"[^\w+=,.@-]", re.ASCII)


def role_session_name(username: str) -> str:
    """``username`` as an STS RoleSessionName: ``[\\w+=,.@-]{2,64}`` (others become ``-``)."""
    name = _SESSION_CHAR.sub("-", username)[:64]
    return name if len(name) >= 2 else (name + "--")[:2]


def iso_second(when: float) -> str:
    """``when`` rounded up to the second, as IAM's date format (UTC, ``Z``)."""
    moment = datetime.fromtimestamp(math.ceil(when), tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> float:
    """Seconds since the epoch of an ``iso_second`` text."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def person_value(person_key: str, session_name: str) -> str:
    """The condition value naming the person under ``person_key``."""
    return f"*:{session_name}" if person_key == USERID else session_name


def deny_statement(person_key: str, session_name: str, ended_at: float) -> dict[str, Any]:
    """Deny everything to ``session_name``'s sessions of this role issued before ``ended_at``."""
    operator = "StringLike" if person_key == USERID else "StringEquals"
    return {
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
        "Condition": {
            operator: {person_key: person_value(person_key, session_name)},
            "DateLessThan": {"aws:TokenIssueTime": iso_second(ended_at)},
        },
    }


def _entry_of(statement: Any, person_key: str) -> tuple[str, float] | None:
    """(session name, logout time) of one of our statements, None for anything else."""
    try:
        condition = statement["Condition"]
        operator = "StringLike" if person_key == USERID else "StringEquals"
        value = condition[operator][person_key]
        when = parse_time(condition["DateLessThan"]["aws:TokenIssueTime"])
        if statement["Effect"] != "Deny" or set(condition) != {operator, "DateLessThan"}:
            return None
    except (KeyError, TypeError, ValueError):
        return None
    if not isinstance(value, str):
        return None
    if person_key == USERID:
        if not value.startswith("*:"):
            return None
        value = value[2:]
    return value, when


@dataclass
class DenyEntries:
    """The ended sessions one role's policy denies, with the statements that are not ours."""

    person_key: str
    entries: dict[str, float]
    others: list[Any]

    @classmethod
    def parse(cls, document: str | dict[str, Any] | None, person_key: str) -> DenyEntries:
        """Read a policy document as IAM returns it (JSON text, maybe URL-decoded already)."""
        if isinstance(document, str):
            document = json.loads(document) if document.strip() else None
        statements = (document or {}).get("Statement", [])
        if isinstance(statements, dict):
            statements = [statements]
        entries: dict[str, float] = {}
        others: list[Any] = []
        for statement in statements:
            found = _entry_of(statement, person_key)
            if found is None:
                others.append(statement)
            else:
                entries[found[0]] = max(found[1], entries.get(found[0], 0.0))
        return cls(person_key, entries, others)

    def add(self, session_name: str, ended_at: float) -> None:
        """Deny ``session_name``'s credentials issued before ``ended_at`` (a later end wins)."""
        self.entries[session_name] = max(ended_at, self.entries.get(session_name, 0.0))

    def prune(self, now: float, max_session_seconds: float) -> list[str]:
        """Drop the entries whose credentials have all expired; return their names."""
        gone = [n for n, t in self.entries.items() if math.ceil(t) + max_session_seconds < now]
        for name in gone:
            del self.entries[name]
        return gone

    def document(self) -> dict[str, Any]:
        """The policy document, oldest entry first."""
        ordered = sorted(self.entries.items(), key=lambda item: item[1])
        statements = [deny_statement(self.person_key, n, t) for n, t in ordered]
        return {"Version": "2012-10-17", "Statement": [*self.others, *statements]}

    def text(self) -> str:
        """The document as sent: compact JSON (IAM's size counts no whitespace)."""
        return json.dumps(self.document(), separators=(",", ":"))

    def fit(self, budget: int, keep: str) -> list[str]:
        """Drop the oldest entries (never ``keep``) until the text fits in ``budget``."""
        dropped: list[str] = []
        for name, _ in sorted(self.entries.items(), key=lambda item: item[1]):
            if len(self.text()) <= budget:
                break
            if name != keep:
                del self.entries[name]
                dropped.append(name)
        return dropped


def hub_permission(role_arns: list[str]) -> dict[str, Any]:
    """The least privilege for :class:`~.aws_deny.AWSSessionEndDeny`: read and write the inline
    policies of these roles only (IAM has no condition key for the policy's name)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SessionEndDeny",
                "Effect": "Allow",
                "Action": ["iam:GetRolePolicy", "iam:PutRolePolicy"],
                "Resource": sorted(role_arns),
            }
        ],
    }
