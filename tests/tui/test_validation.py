from __future__ import annotations

import json

from tui.validation import check_item, skeleton

SCHEMA = {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}},
                                           "n": {"type": "integer"}}, "required": ["n"]}


def test_valid_item_is_parsed_without_problems() -> None:
    assert check_item('{"n": 1, "tags": ["a"]}', SCHEMA) == ({"n": 1, "tags": ["a"]}, [])


def test_schema_problems_name_the_json_pointer() -> None:
    _, problems = check_item('{"tags": ["a", 3]}', SCHEMA)
    assert sorted(p.split(":")[0] for p in problems) == ["(the item)", "/tags/1"]


def test_bad_json_names_line_and_column() -> None:
    _, problems = check_item('{\n  "n": }', SCHEMA)
    assert problems[0].startswith("line 2 column 8:")


def test_an_invalid_schema_is_reported_not_raised() -> None:
    _, problems = check_item("{}", {"type": "nonsense"})
    assert problems[0].startswith("the event's schema is invalid")


def test_skeleton_fills_required_properties_and_validates_for_simple_schemas() -> None:
    text = skeleton(SCHEMA)
    assert json.loads(text) == {"n": 0}
    assert check_item(text, SCHEMA)[1] == []
