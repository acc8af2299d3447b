"""JSON Schemas as every component uses them: compiled offline, errors pointed at.

ctl, the listener, the executor (chained events) and the dashboard all compile
tenants' schemas and report where an item fails. They used to do it four ways:
one fetched remote ``$ref``s (a tenant could make the platform fetch any URL or
local file), and their error paths came out three ways. Both rules live here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import jsonschema_rs

Validator = Any  # jsonschema_rs validators have no common public base class to name


def compile_offline(schema: Any) -> Validator:
    """A validator for ``schema`` that never fetches a ``$ref`` (a remote one is an error).

    **Errors:** ``ValueError`` from jsonschema-rs when the schema does not compile.
    """
    return jsonschema_rs.validator_for(schema, offline=True)


def json_pointer(path: Sequence[str | int]) -> str:
    """The RFC 6901 pointer of an instance path ("" is the whole item)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def where(path: Sequence[str | int]) -> str:
    """``json_pointer`` for a message a person reads: the whole item is "(the item)"."""
    return json_pointer(path) or "(the item)"


def problems(validator: Validator, item: Any, limit: int) -> list[str]:
    """Up to ``limit`` failures of ``item`` as "<where>: <why>", stopping at the limit."""
    found: list[str] = []
    errors: Iterable[Any] = validator.iter_errors(item)
    for error in errors:
        found.append(f"{where(error.instance_path)}: {error.message}")
        if len(found) >= limit:
            break
    return found
