from __future__ import annotations

import json

import pytest
import wasmtime

from jobico.ctl.packages import Job
from jobico.ctl.validate import Checker, CheckFailed, resolve_abi
from tests.ctl import guests


@pytest.fixture(scope="module")
def checker() -> Checker:
    return Checker(wasmtime.Engine())


def abi_of(checker: Checker, wasm: bytes, **job: str) -> str:
    return resolve_abi(Job(event="e", wasm="g.wasm", **job), checker.exports(wasm))


def test_auto_detects_both_abis(checker: Checker) -> None:
    assert abi_of(checker, guests.jobicolet()) == "jobicolet"
    assert abi_of(checker, guests.wasi()) == "wasi"
    assert abi_of(checker, guests.jobicolet("handle"), entry="handle") == "jobicolet"


def test_auto_with_neither_is_an_error(checker: Checker) -> None:
    with pytest.raises(CheckFailed, match=r"neither 'event' and 'malloc'.* nor '_start'"):
        abi_of(checker, guests.neither())


def test_explicit_abi_lists_missing_exports(checker: Checker) -> None:
    with pytest.raises(CheckFailed, match=r"lacks the jobicolet exports malloc: .*event: func"):
        abi_of(checker, guests.wasi(), abi="jobicolet")
    with pytest.raises(CheckFailed, match=r"lacks the wasi exports _start: func \(\)"):
        abi_of(checker, guests.jobicolet(), abi="wasi")


def test_wrong_entry_signature_is_reported(checker: Checker) -> None:
    wasm = wasmtime.wat2wasm(
        guests.JOBICOLET_WAT.replace("{entry}", "x").replace(")))", '))(func (export "event") (param i32)))')
    )
    with pytest.raises(CheckFailed, match=r"event: func \(i32, i32, i32\)"):
        abi_of(checker, wasm)


def test_broken_wasm_does_not_compile(checker: Checker) -> None:
    with pytest.raises(CheckFailed, match="wasm does not compile"):
        checker.exports(guests.jobicolet()[:-3])
    with pytest.raises(CheckFailed, match="wasm does not compile"):
        checker.exports(b"not wasm at all")


def test_schema_default_draft_is_2020_12(checker: Checker) -> None:
    # prefixItems only exists from 2020-12: accepted as a schema either way, but a
    # bad value in it is a compile error only when that draft is the one in force.
    schema = {"prefixItems": [{"type": "nope"}]}
    with pytest.raises(CheckFailed, match="schema does not compile"):
        checker.schema(json.dumps(schema).encode())
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", **schema}
    assert checker.schema(json.dumps(draft7).encode()) == draft7


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"{not json", "schema is not valid JSON"),
        (b"[1, 2]", "must be a JSON object or boolean"),
        (b'{"type": "nope"}', "schema does not compile"),
        (b'{"$schema": "http://example.com/custom"}', "Unknown meta-schema"),
        (b'{"$ref": "https://example.com/remote.json"}', "Retrieval is disabled"),
    ],
)
def test_bad_schemas(checker: Checker, data: bytes, expected: str) -> None:
    with pytest.raises(CheckFailed, match=expected):
        checker.schema(data)


def test_results_and_failures_are_cached_by_hash(checker: Checker) -> None:
    data = b'{"type": "object"}'
    assert checker.schema(data) is checker.schema(bytes(data))
    with pytest.raises(CheckFailed) as first:
        checker.schema(b"{bad")
    with pytest.raises(CheckFailed) as second:
        checker.schema(b"{bad")
    assert first.value is second.value
