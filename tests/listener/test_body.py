"""Bodies to items: the batch form, the loose corners of JSON, JSON Pointers."""

from __future__ import annotations

import jsonschema_rs
import pytest

from jobico.listener.body import BadBody, encode, parse_items, schema_errors


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


def test_schema_error_paths_are_escaped_json_pointers() -> None:
    validator = jsonschema_rs.validator_for(
        {"properties": {"a/b": {"type": "string"}, "c~d": {"items": {"type": "string"}}}})
    errors = schema_errors(validator, [{"a/b": 1, "c~d": ["x", 2]}])
    assert sorted(e["path"] for e in errors) == ["/a~1b", "/c~0d/1"]


def test_items_the_validator_cannot_read_are_bad_bodies_not_crashes() -> None:
    validator = jsonschema_rs.validator_for({"type": "string", "maxLength": 1})
    with pytest.raises(BadBody):
        schema_errors(validator, parse_items(b'"\\ud800"'))
