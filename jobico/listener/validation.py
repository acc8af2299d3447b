"""A request's items against their schema, stopping at the 422's cap (SPEC §3).

Listing every error costs without bound: 85k ``{}`` items against 20 required
fields are 1.7M errors (a 123 MB answer, 5.5 s of the listener's loop). And
jsonschema-rs's Python ``iter_errors`` builds every error of an item before it
yields the first, so one item (an array of those 85k objects) costs as much alone.
So, per item:

- ``is_valid`` first: no error objects, cheap; a valid item costs nothing more;
- a failing item, while the list is short of ``MAX_SCHEMA_ERRORS``, gives all its
  errors when it is small against its schema (``weight * size <= LIST_ALL_WORK``,
  which bounds how many errors it can have), else its first one only (``validate``
  stops at the first);
- past the cap, a failing item only counts: ``more`` grows by one.

``more`` is thus a lower bound of the errors not listed: the unlisted errors of
items whose errors were all built, plus one per further failing item. It is exact
when each such item has one error; ``0`` means every error was listed only when no
big item was cut to its first error.

The work is done a slice at a time (``SchemaCheck.run``) so the webhook can serve
other requests between slices.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import jsonschema_rs

from jobico.caps import MAX_SCHEMA_ERRORS
from jobico.listener.body import BadBody
from jobico.schemas import json_pointer

# Listing all errors of an item costs about 6 us per error; an item has at most about
# (schema values) x (item bytes) of them, so this bounds one item's listing near 0.3 s.
LIST_ALL_WORK = 50_000
# An error's message quotes the failing value, which may be the whole item.
MAX_MESSAGE_CHARS = 300


def weight(schema: Any) -> int:
    """The number of JSON values in ``schema``: how many ways it can fail one node, at most."""
    count, todo = 0, [schema]
    while todo:
        value = todo.pop()
        count += 1
        if isinstance(value, dict):
            todo.extend(value.values())
        elif isinstance(value, list):
            todo.extend(value)
    return count


def _entry(index: int, error: jsonschema_rs.ValidationError) -> dict[str, Any]:
    message = error.message
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "..."
    return {"item": index, "path": json_pointer(error.instance_path), "message": message}


class SchemaCheck:
    """One request's items checked against one validator, a slice at a time.

    ``sizes`` are the items' encoded lengths. After ``run`` returned True: ``failed``
    (the number of items that fail: the request is refused unless 0), ``errors`` (at
    most ``cap`` entries of ``{"item", "path", "message"}``) and ``more``.
    """

    def __init__(self, validator: Any, schema_weight: int, items: Sequence[Any],
                 sizes: Sequence[int], cap: int = MAX_SCHEMA_ERRORS) -> None:
        self.failed = 0
        self.errors: list[dict[str, Any]] = []
        self.more = 0
        self._validator, self._weight, self._cap = validator, schema_weight, cap
        self._items, self._sizes = items, sizes
        self._next = 0

    def run(self, budget_s: float) -> bool:
        """Check items until every one is checked (True) or ``budget_s`` seconds are spent.

        Errors: ``BadBody`` when the validator cannot read an item.
        """
        end = time.perf_counter() + budget_s
        try:
            while self._next < len(self._items):
                self._check(self._next)
                self._next += 1
                if time.perf_counter() >= end:
                    break
        except (ValueError, OverflowError, RecursionError) as exc:
            raise BadBody(f"item {self._next} cannot be validated: {exc}") from None
        return self._next >= len(self._items)

    def _check(self, index: int) -> None:
        item = self._items[index]
        if self._validator.is_valid(item):
            return
        self.failed += 1
        room = self._cap - len(self.errors)
        if room <= 0:
            self.more += 1
        elif self._weight * self._sizes[index] <= LIST_ALL_WORK:
            found = list(self._validator.iter_errors(item))
            self.errors += (_entry(index, error) for error in found[:room])
            self.more += max(0, len(found) - room)
        else:
            try:
                self._validator.validate(item)
            except jsonschema_rs.ValidationError as error:
                self.errors.append(_entry(index, error))
