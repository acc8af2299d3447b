"""Check a test event typed in the editor before it is sent.

The listener validates too (and answers 422), but checking here names the
problem while the text is still on screen. Same validator as the listener
(jsonschema-rs), same JSON Pointer paths, so both report alike.
"""

from __future__ import annotations

import json
from typing import Any

from jobico.caps import MAX_SCHEMA_ERRORS
from jobico.schemas import compile_offline, problems

MAX_PROBLEMS = MAX_SCHEMA_ERRORS  # what the send screen lists: as many as a 422 would


def check_item(source: str, schema: Any) -> tuple[Any, list[str]]:
    """(the parsed item, problems) — the item is only meaningful when problems is empty.

    A problem reads "line L column C: why" for bad JSON and "<pointer>: why" for
    a schema violation; a schema that itself does not compile is reported too.
    """
    try:
        item = json.loads(source)
    except json.JSONDecodeError as exc:
        return None, [f"line {exc.lineno} column {exc.colno}: {exc.msg}"]
    if schema is None:
        return item, []
    try:
        validator = compile_offline(schema)
    except ValueError as exc:
        return item, [f"the event's schema is invalid: {str(exc).splitlines()[0]}"]
    return item, problems(validator, item, MAX_PROBLEMS)


def skeleton(schema: Any) -> str:
    """A starting document for the editor: every required property with a typed blank."""
    blanks = {"string": "", "integer": 0, "number": 0, "boolean": False, "array": [],
              "object": {}, "null": None}
    if not isinstance(schema, dict) or schema.get("type") != "object":
        return "{}"
    props = schema.get("properties", {})
    item = {}
    for name in schema.get("required", []):
        kind = props.get(name, {}).get("type", "string")
        item[name] = blanks.get(kind if isinstance(kind, str) else kind[0], "")
    return json.dumps(item, indent=2)
