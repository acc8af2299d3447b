"""Request bodies to queue items, pure: parse, unwrap the batch form, re-encode.

(Validation against the event's schema is ``validation.py``.)

Choices where JSON itself is loose (documented in the README):

- The body must be UTF-8 (no BOM); JSON's other encodings are refused.
- A duplicate key in an object is refused: parsers disagree on which value wins,
  so the schema could pass one reading while the guest sees the other.
- ``NaN``, ``Infinity`` and numbers beyond a float's range (``1e400``) are refused:
  they are not JSON and could not be written back as JSON.
- Nesting deeper than the parser's recursion limit (~1000) is refused.
- The batch form is an object whose only key is ``"data"`` holding an array;
  any other value, ``{"data": 1}`` or ``{"data": [], "x": 1}`` say, is one item.
"""

from __future__ import annotations

import json
import math
from typing import Any

from jobico.errors import UserError


class BadBody(UserError):
    """The body is not acceptable JSON, or is an empty batch (HTTP 400)."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise BadBody(f"duplicate key {key!r} in an object")
            seen.add(key)
    return obj


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise BadBody(f"number {text[:40]} is out of range")
    return value


def _not_json(name: str) -> Any:
    raise BadBody(f"{name} is not JSON")


_DECODER = json.JSONDecoder(
    object_pairs_hook=_no_duplicates, parse_float=_finite, parse_constant=_not_json
)
# one encoder for every item: json.dumps with options builds a new one per call
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, check_circular=False)


def parse_items(body: bytes) -> list[Any]:
    """The items of a body: one JSON value, or the elements of ``{"data": [...]}``.

    Errors: ``BadBody`` with a message naming the position or the problem.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadBody(f"body is not UTF-8 (byte {exc.start})") from None
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise BadBody(f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") \
            from None
    except RecursionError:
        raise BadBody("body is nested too deeply") from None
    except ValueError as exc:  # int() beyond sys.get_int_max_str_digits
        raise BadBody(f"body has an unreadable number: {exc}") from None
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("data"), list):
        items: list[Any] = value["data"]
        if not items:
            raise BadBody("empty batch: \"data\" holds no items")
        return items
    return [value]


def encode(item: Any) -> bytes:
    """Compact JSON bytes for the queue (what the guest receives).

    Errors: ``BadBody`` when the item is too deep or not Unicode enough to write back.
    """
    try:
        return _ENCODER.encode(item).encode("utf-8")
    except RecursionError:
        raise BadBody("item is nested too deeply") from None
    except UnicodeEncodeError:
        raise BadBody("item holds a lone surrogate escape (\\ud800-\\udfff)") from None
