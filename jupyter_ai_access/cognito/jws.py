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

import binascii
import json
import math
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ClaimError, MalformedTokenError, UnsupportedAlgorithmError

__all__ = [
    "COMPACT",
    "HEADERS_KEPT",
    "CompactParser",
    "b64decode",
    "canonical_b64",
    "canonical_b64_by_reencoding",
    "json_bytes",
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
_URLSAFE = bytes.maketrans(b"-_", b"+/")
_PAD = ("", "", "==", "=")  # by len % 4 (1 is refused before)
_PAD_BYTES = tuple(pad.encode() for pad in _PAD)
#: base64url to base64; "+", "/" and "=" (not base64url) to "!", which decoding skips.
_URLSAFE_ONLY = bytes.maketrans(b"-_+/=", b"+/!!!")
#: An integer of at most this many characters (sign included) is below 1e308, a finite double.
_SHORT_INT = 308
#: Integers of smaller magnitude are exactly doubles.
_EXACT_INT = 2**53
#: Types whose decoded JSON values are immutable (no copy needed).
_SCALARS = frozenset({str, int, float, bool, type(None)})


def b64decode(segment: str, what: str) -> bytes:
    """Strict base64url: no padding (the regex), canonical trailing bits."""
    rest = len(segment) % 4
    if rest == 1:
        raise MalformedTokenError(f"the {what} is not valid base64url")
    if rest:
        spare = B64_INDEX[segment[-1]] & (0x0F if rest == 2 else 0x03)
        if spare:
            raise MalformedTokenError(f"the {what} is not canonical base64url")
    try:  # what base64.urlsafe_b64decode does, without its per-call checks and copies
        return binascii.a2b_base64((segment + _PAD[rest]).encode("ascii").translate(_URLSAFE))
    except (binascii.Error, ValueError) as e:
        raise MalformedTokenError(f"the {what} is not valid base64url") from e


def canonical_b64_by_reencoding(segment: str) -> bytes | None:
    """The bytes of a non-empty, canonical base64url segment without padding; None for anything
    else (then :func:`b64decode`, after the token's :data:`COMPACT` check, says what is wrong).

    Exact by construction: the decoder skips characters outside the alphabet (and "+", "/", "="
    are mapped to one it skips) and ignores spare bits, so a segment is accepted only when
    encoding its bytes gives back the same text."""
    try:
        text = segment.encode("ascii").translate(_URLSAFE_ONLY) + _PAD_BYTES[len(segment) % 4]
        raw = binascii.a2b_base64(text)
    except (binascii.Error, ValueError):
        return None
    if not raw or binascii.b2a_base64(raw, newline=False) != text:
        return None
    return raw


canonical_b64 = canonical_b64_by_reencoding
if sys.version_info >= (3, 11):
    _SPARE_BITS = (0, 0, 0x0F, 0x03)  # by len % 4: the bits of the last character not used

    def canonical_b64(segment: str) -> bytes | None:  # type: ignore[misc]  # same signature
        """:func:`canonical_b64_by_reencoding`, where the decoder can refuse by itself
        (``strict_mode``: only the alphabet, padding only at the end); spare bits checked here."""
        rest = len(segment) % 4
        try:
            text = segment.encode("ascii").translate(_URLSAFE_ONLY) + _PAD_BYTES[rest]
            raw = binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError):
            return None
        if not raw or B64_INDEX[segment[-1]] & _SPARE_BITS[rest]:
            return None
        return raw


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
    if len(text) <= _SHORT_INT:  # fewer than 309 digits: below 1e308, no conversion needed
        return number
    try:
        float(number)
    except OverflowError:
        raise _NotIJSON("has a number beyond the range of a double") from None
    return number


#: Built once: json.loads(text, **hooks) would build a decoder on every call.
_DECODER = json.JSONDecoder(
    object_pairs_hook=_unique_members,
    parse_constant=_no_constant,
    parse_float=_finite_float,
    parse_int=_double_int,
)
#: The decoder's C scanner: (value, end) of the value at an index, or StopIteration.
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def json_object(segment: str, what: str) -> dict[str, Any]:
    """The I-JSON object a segment decodes to, or :class:`MalformedTokenError`."""
    return json_bytes(b64decode(segment, what), what)


def json_bytes(raw: bytes, what: str) -> dict[str, Any]:
    """The I-JSON object of a segment's decoded bytes, or :class:`MalformedTokenError`."""
    try:
        text = raw.decode("utf-8")  # strict: no other encoding, no encoded surrogates
        try:  # the C scanner alone when the text is one value, no whitespace around it
            value, end = _SCAN(text, 0)
        except StopIteration:  # no value at the first character (whitespace, a BOM, nothing)
            end = -1
        if end != len(text):  # json's own answer: whitespace skipped, extra data refused
            value = _DECODER.decode(text)  # a BOM (U+FEFF) is not JSON whitespace: refused
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
    if type(value) is int and -_EXACT_INT < value < _EXACT_INT:
        return value  # equal to float(value) (exact below 2**53), with no conversion
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
    kind = type(value)
    if kind is dict:
        copied = value.copy()  # shares only immutable values: containers are replaced below
        for k, v in value.items():
            if type(v) not in _SCALARS:
                copied[k] = json_copy(v)
        return copied
    if kind is list:
        return [v if type(v) in _SCALARS else json_copy(v) for v in value]
    return value


#: Distinct header segments a parser remembers (a pool signs with two or three keys).
HEADERS_KEPT = 64


class CompactParser:
    """Splits a compact JWS for one algorithm: (kid, claims, signing input, signature).

    The checks, in order: three base64url segments (:data:`COMPACT`), the header (I-JSON,
    ``alg`` equal to the configured one, no ``crit``, a non-empty string ``kid``), the payload
    (an I-JSON object), the signature (canonical base64url). A header segment that passed is
    remembered with its kid (the same text always parses the same way), so the next token of
    that key skips it; the other two segments then take a fast path when they are canonical
    base64url, and everything else goes the checked way, so each token meets the same first error.
    """

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm
        self._kids: dict[str, str] = {}  # header segment -> its kid, for headers that passed

    def parse(self, token: str) -> tuple[str, dict[str, Any], bytes, bytes]:
        """(kid, claims, signing input, signature), or the token's first error."""
        parts = token.split(".")
        if len(parts) == 3:
            head, body, sig = parts
            kid = self._kids.get(head)
            if kid is not None:
                payload = canonical_b64(body)
                signature = canonical_b64(sig)
                if payload is not None and signature is not None:
                    # COMPACT matches and the header passes: the payload is next to check
                    claims = json_bytes(payload, "payload")
                    return kid, claims, token[: len(head) + 1 + len(body)].encode(), signature
        return self._parse_checked(token)

    def _parse_checked(self, token: str) -> tuple[str, dict[str, Any], bytes, bytes]:
        if not COMPACT.fullmatch(token):
            raise MalformedTokenError(
                "not a compact JWS: expected three base64url segments separated by dots"
            )
        head, body, sig = token.split(".")
        kid = self._kids.get(head) or self._header_kid(head)
        claims = json_object(body, "payload")
        signature = b64decode(sig, "signature")
        return kid, claims, token[: len(head) + 1 + len(body)].encode(), signature

    def _header_kid(self, head: str) -> str:
        header = json_object(head, "header")
        alg = header.get("alg")
        if alg != self.algorithm:
            raise UnsupportedAlgorithmError(
                f"alg {show(alg)} is not accepted (configured: {self.algorithm})"
            )
        if "crit" in header:
            raise MalformedTokenError(
                "the header lists critical extensions ('crit') that are not understood"
            )
        kid = header.get("kid")
        if type(kid) is not str or not kid:
            raise MalformedTokenError("the header has no kid")
        if len(self._kids) >= HEADERS_KEPT:  # crafted headers cannot grow it without bound
            self._kids.clear()
        self._kids[head] = kid
        return kid
