"""Schema checks that stop at the 422's cap: what is built, what is counted, what is listed."""

from __future__ import annotations

from typing import Any

import jsonschema_rs
import pytest

from jobico.caps import MAX_SCHEMA_ERRORS
from jobico.listener.body import BadBody, parse_items
from jobico.listener.validation import LIST_ALL_WORK, MAX_MESSAGE_CHARS, SchemaCheck, weight

TWENTY = {"type": "object", "required": [f"f{i}" for i in range(20)],
          "properties": {f"f{i}": {"type": "string"} for i in range(20)}}
LINES = {"type": "object", "properties": {"lines": {"type": "array", "items": TWENTY}}}


class Spy:
    """A real validator that counts the errors it was made to build."""

    def __init__(self, schema: Any) -> None:
        self.real = jsonschema_rs.validator_for(schema, offline=True)
        self.built = 0
        self.validated = 0

    def is_valid(self, item: Any) -> bool:
        return bool(self.real.is_valid(item))

    def iter_errors(self, item: Any) -> Any:
        errors = list(self.real.iter_errors(item))  # jsonschema-rs builds them all at once too
        self.built += len(errors)
        return iter(errors)

    def validate(self, item: Any) -> None:
        self.validated += 1
        self.built += 1
        self.real.validate(item)


def check(schema: Any, items: list[Any], sizes: list[int] | None = None) -> tuple[SchemaCheck, Spy]:
    spy = Spy(schema)
    done = SchemaCheck(spy, weight(schema), items, sizes or [2] * len(items))
    assert done.run(60.0)
    return done, spy


def test_the_85k_item_attack_lists_100_errors_and_builds_few() -> None:
    """Issue 13: 85k ``{}`` against 20 required fields built 1.7M error entries."""
    done, spy = check(TWENTY, [{}] * 85_000)
    assert len(done.errors) == MAX_SCHEMA_ERRORS
    assert done.failed == 85_000
    assert done.more == 85_000 - 5  # lower bound: five items listed, one per further item
    assert spy.built == MAX_SCHEMA_ERRORS  # stopped at the cap, not 1.7M built then cut
    assert {e["item"] for e in done.errors} == set(range(5))


def test_the_partly_listed_item_counts_its_other_errors_exactly() -> None:
    done, _ = check(TWENTY, [{}] * 6)
    assert len(done.errors) == 100 and done.more == 1  # item 5 began past the cap: at least one
    done, _ = check(TWENTY, [{"f0": "x"}] * 6)  # 19 errors each: 5 items = 95, 5 of item 5 fit
    assert [e["item"] for e in done.errors].count(5) == 5
    assert done.more == 14  # item 5's other 14, exactly


def test_a_big_item_gives_its_first_error_without_building_the_others() -> None:
    """One item of 85k ``{}`` under ``lines``: iter_errors would build 1.7M errors (10 s)."""
    item = {"lines": [{}] * 85_000}
    size = len(b'{"lines":[' + b",".join([b"{}"] * 85_000) + b"]}")
    assert weight(LINES) * size > LIST_ALL_WORK
    done, spy = check(LINES, [item], [size])
    assert spy.built == spy.validated == 1
    assert done.failed == 1 and done.more == 0
    assert done.errors == [{"item": 0, "path": "/lines/0", "message": '"f0" is a required property'}]


def test_small_items_list_every_error_with_escaped_pointers() -> None:
    schema = {"properties": {"a/b": {"type": "string"}, "c~d": {"items": {"type": "string"}}}}
    done, _ = check(schema, [{"a/b": 1, "c~d": ["x", 2]}, {"a/b": "ok"}], [30, 10])
    assert sorted(e["path"] for e in done.errors) == ["/a~1b", "/c~0d/1"]
    assert done.failed == 1 and done.more == 0


def test_messages_quoting_a_big_value_are_cut() -> None:
    done, _ = check({"type": "object"}, [list(range(100_000))], [600_000])
    assert len(done.errors[0]["message"]) == MAX_MESSAGE_CHARS + 3


def test_run_works_a_slice_at_a_time() -> None:
    checking = SchemaCheck(Spy(TWENTY), weight(TWENTY), [{}] * 3, [2] * 3)
    assert [checking.run(0.0) for _ in range(3)] == [False, False, True]  # one item per slice
    assert checking.failed == 3


def test_items_the_validator_cannot_read_are_bad_bodies_not_crashes() -> None:
    checking = SchemaCheck(jsonschema_rs.validator_for({"type": "string", "maxLength": 1}), 3,
                           parse_items(b'"\\ud800"'), [8])
    with pytest.raises(BadBody, match="item 0"):
        checking.run(1.0)


def test_weight_counts_every_value_of_the_schema() -> None:
    assert weight(True) == 1
    assert weight({"type": "object", "required": ["a", "b"]}) == 5
