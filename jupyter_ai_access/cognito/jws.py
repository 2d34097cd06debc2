"""Strict parsing of compact JWS tokens and typed claim reads, for the verifier.

Standard library only. Every failure is the verifier's own :class:`MalformedTokenError` or
:class:`ClaimError`, never a message that contains the token.

The header and payload must be I-JSON (RFC 7493), so that no two readers can see different
claims in one signed text: UTF-8 (RFC 7519) without a byte order mark, no duplicate member
names, numbers that are finite IEEE 754 doubles (no ``NaN``, ``Infinity``, ``1e400`` or integers
beyond the double range), strings of Unicode scalar values (no lone surrogates). Nesting deeper
than Python's recursion limit is refused, not crashed on.
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

__all__ = [
    "COMPACT",
    "b64decode",
    "json_copy",
    "json_object",
    "number_claim",
    "show",
    "string_claim",
]

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


class _NotIJSON(ValueError):
    """Valid for Python's json module, refused here; the message says why (never the value)."""


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        raise _NotIJSON("repeats a member name")
    return members


def _no_constant(name: str) -> float:
    raise _NotIJSON(f"has a non-finite number ({name})")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotIJSON("has a number beyond the range of a double")
    return number


def _double_int(text: str) -> int:
    number = int(text)
    try:
        float(number)
    except OverflowError:
        raise _NotIJSON("has a number beyond the range of a double") from None
    return number


def json_object(segment: str, what: str) -> dict[str, Any]:
    """The I-JSON object a segment decodes to, or :class:`MalformedTokenError`."""
    raw = b64decode(segment, what)
    try:
        text = raw.decode("utf-8")  # strict: no other encoding, no encoded surrogates
        value = json.loads(
            text,
            object_pairs_hook=_unique_members,
            parse_constant=_no_constant,
            parse_float=_finite_float,
            parse_int=_double_int,
        )
        if "\\u" in text:  # only an escape can make a lone surrogate of valid UTF-8
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except _NotIJSON as e:
        raise MalformedTokenError(f"the {what} {e}") from None
    except UnicodeError:
        raise MalformedTokenError(f"the {what} is not UTF-8 text of Unicode characters") from None
    except RecursionError:
        raise MalformedTokenError(f"the {what} nests too deeply") from None
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
    except OverflowError:
        number = math.inf
    if not math.isfinite(number):
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


def json_copy(value: Any) -> Any:
    """A deep copy of decoded JSON (dicts, lists, scalars): a caller's own claims."""
    if type(value) is dict:
        return {k: json_copy(v) for k, v in value.items()}
    if type(value) is list:
        return [json_copy(v) for v in value]
    return value
