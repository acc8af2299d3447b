"""Bodies to items: the batch form, the loose corners of JSON."""

from __future__ import annotations

import pytest

from jobico.listener.body import BadBody, encode, parse_items


@pytest.mark.parametrize(("raw", "items"), [
    (b'{"data": [1, {"a": 2}]}', [1, {"a": 2}]),
    (b'{"data": 1}', [{"data": 1}]),
    (b'{"data": [1], "x": 1}', [{"data": [1], "x": 1}]),
    (b"[]", [[]]),
    (b'"text"', ["text"]),
    (b"123456789012345678901234567890", [123456789012345678901234567890]),
])
def test_one_value_or_the_batch_form(raw: bytes, items: list[object]) -> None:
    assert parse_items(raw) == items


def test_encode_is_compact_utf8() -> None:
    assert encode({"a": [1, "é"], "b": None}) == '{"a":[1,"é"],"b":null}'.encode()


def test_duplicate_key_error_names_the_key() -> None:
    with pytest.raises(BadBody, match="'k'"):
        parse_items(b'{"a": {"k": 1, "k": 1}}')
