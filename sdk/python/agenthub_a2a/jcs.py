"""RFC 8785 (JCS) canonical JSON, and the empty-member pruning of the signing spec.

`json.dumps(sort_keys=True)` is not JCS: it sorts keys by code point instead of by UTF-16
code unit, escapes non-ASCII, and writes floats with Python's `repr` (so `3.0` stays `3.0`,
while ECMAScript, and therefore JCS, writes `3`). The hub is written in Rust, so both sides
must produce the same bytes from the same JSON value; this module is the Python half.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

__all__ = ["CanonicalizationError", "canonicalize", "canonical_bytes", "prune_empty", "format_number"]

# Objects and arrays nested deeper than this are refused: metadata is attacker-controlled
# (a protobuf Struct may nest arbitrarily) and the serializer is recursive.
MAX_DEPTH = 128


class CanonicalizationError(ValueError):
    """The value has no RFC 8785 form (NaN, a non-string key, a lone surrogate, too deep)."""


def canonicalize(value: Any) -> str:
    """The RFC 8785 canonical serialization of a JSON value (its UTF-8 bytes are what is signed)."""
    out: list[str] = []
    _write(value, out, 0)
    text = "".join(out)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:  # unpaired surrogates have no UTF-8 form
        raise CanonicalizationError("value contains text that is not valid Unicode") from e
    return text


def canonical_bytes(value: Any) -> bytes:
    return canonicalize(value).encode("utf-8")


def _write(value: Any, out: list[str], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise CanonicalizationError(f"nesting deeper than {MAX_DEPTH}")
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, (int, float)):
        out.append(format_number(value))
    elif isinstance(value, str):
        out.append(_quote(value))
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out, depth + 1)
        out.append("]")
    elif isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise CanonicalizationError(f"object key {key!r} is not a string")
        # RFC 8785 3.2.3: members sorted by their names as arrays of UTF-16 code units.
        items = sorted(value.items(), key=lambda kv: kv[0].encode("utf-16-be"))
        out.append("{")
        for i, (key, item) in enumerate(items):
            if i:
                out.append(",")
            out.append(_quote(key))
            out.append(":")
            _write(item, out, depth + 1)
        out.append("}")
    else:
        raise CanonicalizationError(f"{type(value).__name__} is not a JSON value")


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _quote(s: str) -> str:
    # RFC 8785 3.2.2.2: only '"', '\' and C0 controls are escaped; everything else is literal.
    parts = ['"']
    for ch in s:
        if ch in _ESCAPES:
            parts.append(_ESCAPES[ch])
        elif ch < " ":
            parts.append(f"\\u{ord(ch):04x}")
        else:
            parts.append(ch)
    parts.append('"')
    return "".join(parts)


def format_number(n: int | float) -> str:
    """ECMAScript Number::toString (ECMA-262 7.1.12.1), as RFC 8785 3.2.2.3 requires.

    JSON numbers are IEEE 754 doubles, so an integer is first taken as the double nearest to
    it (exact up to 2**53); `3.0` and `3` both give "3", `1e21` gives "1e+21".
    """
    if isinstance(n, bool):
        raise CanonicalizationError("a boolean is not a number")
    if isinstance(n, int) and -(2**53) <= n <= 2**53:
        return str(n)
    try:
        x = float(n)
    except OverflowError as e:
        raise CanonicalizationError(f"{n} is outside the range of a JSON number") from e
    if math.isnan(x) or math.isinf(x):
        raise CanonicalizationError(f"{n} has no JSON representation")
    if x == 0:
        return "0"  # also for -0
    if x < 0:
        return "-" + format_number(-x)
    # repr() gives the shortest digit string that round-trips, which is what ECMAScript uses.
    sign, digits_t, exp = Decimal(repr(x)).as_tuple()
    digits = "".join(map(str, digits_t)).rstrip("0") or "0"
    # Trailing zeros were stripped, so fix the exponent to match: value = 0.digits * 10**point.
    exp += len("".join(map(str, digits_t))) - len(digits)
    k = len(digits)
    point = exp + k  # ECMAScript's n
    if k <= point <= 21:
        return digits + "0" * (point - k)
    if 0 < point <= 21:
        return digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return "0." + "0" * (-point) + digits
    e = point - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{mantissa}e{'+' if e >= 0 else '-'}{abs(e)}"


def prune_empty(value: Any) -> Any:
    """Removes, bottom-up, every object member whose value is null, "", [] or {}.

    Array elements are kept in place (an element that becomes {} stays {}), so only object
    members disappear. This makes a message that went through a protobuf round trip (which
    drops empty fields) canonicalize like the original.
    """
    if isinstance(value, dict):
        pruned = {}
        for key, item in value.items():
            item = prune_empty(item)
            if item is None or item == "" or item == [] or item == {}:
                continue
            pruned[key] = item
        return pruned
    if isinstance(value, (list, tuple)):
        return [prune_empty(item) for item in value]
    return value
