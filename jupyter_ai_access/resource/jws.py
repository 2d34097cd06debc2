"""Strict parsing of compact JWS tokens and typed claim reads, for the verifier.

Standard library only. Every failure is the verifier's own :class:`MalformedTokenError` or
:class:`ClaimError`, never a message that contains the token.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from typing import Any

from ..errors import ClaimError, MalformedTokenError

__all__ = ["COMPACT", "b64decode", "json_object", "number_claim", "show", "string_claim"]

#: Three base64url segments without padding.
COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
B64_INDEX = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
}
NUMBER = (int, float)


def b64decode(segment: str, what: str) -> bytes:
    """Strict base64url: no padding (the regex), canonical trailing bits."""
    rest = len(segment) % 4
    if rest == 1:
        raise MalformedTokenError(f"the {what} is not valid base64url")
    if rest:
        spare = B64_INDEX[segment[-1]] & (0x0F if rest == 2 else 0x03)
        if spare:
            raise MalformedTokenError(f"the {what} is not canonical base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError) as e:
        raise MalformedTokenError(f"the {what} is not valid base64url") from e


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("duplicate member")
    return members


def json_object(segment: str, what: str) -> dict[str, Any]:
    """The JSON object a segment decodes to, or :class:`MalformedTokenError`.

    Strict JSON (RFC 8259): ``NaN`` and ``Infinity`` are refused, and so are duplicate member
    names (parsers disagree on which one wins) and nesting too deep for the parser.
    """
    try:
        value = json.loads(
            b64decode(segment, what),
            parse_constant=_no_constant,
            object_pairs_hook=_unique_members,
        )
    except RecursionError:
        raise MalformedTokenError(f"the {what} is nested too deeply") from None
    except ValueError as e:
        raise MalformedTokenError(f"the {what} is not JSON") from e
    if type(value) is not dict:
        raise MalformedTokenError(f"the {what} is not a JSON object")
    return value


def number_claim(claims: Mapping[str, Any], name: str, *, required: bool = True) -> float | None:
    """A finite numeric claim (``true`` is not a number), or None when optional and absent."""
    value = claims.get(name)
    if value is None:
        if required:
            raise ClaimError(name, "is missing")
        return None
    if type(value) not in NUMBER:
        raise ClaimError(name, "must be a number")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any date
        raise ClaimError(name, "must be a finite number") from None
    if not math.isfinite(number):  # 1e400 parses as infinity
        raise ClaimError(name, "must be a finite number")
    return number


def string_claim(claims: Mapping[str, Any], name: str) -> str:
    """A required, non-empty string claim."""
    value = claims.get(name)
    if value is None:
        raise ClaimError(name, "is missing")
    if type(value) is not str or not value:
        raise ClaimError(name, "must be a non-empty string")
    return value


def show(value: Any) -> str:
    """A short repr for error messages (claims only, never a token)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
