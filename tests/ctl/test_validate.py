from __future__ import annotations

import json

import pytest
import wasmtime

from jobico.ctl.catalog import TenantState, build_tenant
from jobico.ctl.packages import Job
from jobico.ctl.validate import Checker, CheckFailed, resolve_abi
from jobico.errors import UserError
from jobico.executor.engine import check_module
from jobico.executor.sandbox import Sandbox
from jobico.repo.files import sha256_bytes
from tests.ctl import guests
from tests.ctl.guests import SCHEMA, package


@pytest.fixture(scope="module")
def checker() -> Checker:
    return Checker()


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
    with pytest.raises(CheckFailed, match=r"abi jobicolet: missing export 'malloc'.*missing export 'event'"):
        abi_of(checker, guests.wasi(), abi="jobicolet")
    with pytest.raises(CheckFailed, match=r"abi wasi: missing export '_start'"):
        abi_of(checker, guests.jobicolet(), abi="wasi")


def test_wrong_entry_signature_is_reported(checker: Checker) -> None:
    wasm = wasmtime.wat2wasm(
        guests.JOBICOLET_WAT.replace("{entry}", "x").replace(")))", '))(func (export "event") (param i32)))')
    )
    with pytest.raises(CheckFailed, match=r"export 'event' takes 1 parameters"):
        abi_of(checker, wasm)


def test_broken_wasm_does_not_compile(checker: Checker) -> None:
    with pytest.raises(CheckFailed, match="wasm does not compile"):
        checker.exports(guests.jobicolet()[:-3])
    with pytest.raises(CheckFailed, match="wasm does not compile"):
        checker.exports(b"not wasm at all")


WASI = "wasi_snapshot_preview1"
_JOBICOLET_BODY = """
  (func (export "malloc") (param i32) (result i32) i32.const 8)
  (func (export "free") (param i32))
  (func (export "init"))
  (func (export "event") (param i32 i32 i32))"""

# Modules the executor cannot run, and what its check (and so ctl's) must say.
UNRUNNABLE = {
    "shared memory": (f'(module (memory (export "memory") 1 1 shared) {_JOBICOLET_BODY})',
                      "does not compile"),
    "memory64": (f'(module (memory (export "memory") i64 1) {_JOBICOLET_BODY})', "does not compile"),
    "an unknown import": (
        f'(module (import "env" "secret" (func)) (memory (export "memory") 1) {_JOBICOLET_BODY})',
        r"cannot be linked: .*env::secret",
    ),
    "an unknown WASI function": (
        f'(module (import "{WASI}" "fd_mmap" (func)) (memory (export "memory") 1) {_JOBICOLET_BODY})',
        r"cannot be linked: .*fd_mmap",
    ),
    "a WASI import of the wrong type": (
        f'(module (import "{WASI}" "fd_write" (func (param i32) (result i32)))'
        f' (memory (export "memory") 1) {_JOBICOLET_BODY})',
        r"cannot be linked: .*fd_write",
    ),
    "an env.log of the wrong type": (
        f'(module (import "env" "log" (func (param i64))) (memory (export "memory") 1) {_JOBICOLET_BODY})',
        r"cannot be linked: .*env::log",
    ),
    "an imported table": (
        f'(module (import "env" "table" (table 1 funcref)) (memory (export "memory") 1) {_JOBICOLET_BODY})',
        r"cannot be linked: .*env::table",
    ),
    "no ABI exports": ('(module (memory (export "memory") 1) (func (export "run")))', "abi auto"),
}


@pytest.mark.parametrize("case", list(UNRUNNABLE))
def test_the_check_ctl_and_the_executor_share_refuses(checker: Checker, case: str) -> None:
    wat, reason = UNRUNNABLE[case]
    wasm = bytes(wasmtime.wat2wasm(wat))
    with pytest.raises(UserError, match=reason):
        check_module(wasm)
    with pytest.raises(CheckFailed, match=reason):
        abi_of(checker, wasm)
    with Sandbox() as sandbox, pytest.raises(UserError, match=reason):
        sandbox.load(wasm, sha256_bytes(wasm))


def test_a_module_using_every_offered_import_passes(checker: Checker) -> None:
    wat = f"""(module
      (import "env" "log" (func (param i32 i32 i32)))
      (import "{WASI}" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (import "{WASI}" "poll_oneoff" (func (param i32 i32 i32 i32) (result i32)))
      (import "{WASI}" "proc_exit" (func (param i32)))
      (table 4 funcref)
      (memory (export "memory") 1) {_JOBICOLET_BODY})"""
    wasm = bytes(wasmtime.wat2wasm(wat))
    assert check_module(wasm).abi == "jobicolet"
    assert abi_of(checker, wasm) == "jobicolet"


@pytest.mark.parametrize(
    "case", ["shared memory", "memory64", "an unknown import", "a WASI import of the wrong type"]
)
def test_a_package_with_such_a_module_is_a_load_error_and_the_last_good_version_stays(
    checker: Checker, case: str
) -> None:
    fs = {"signup.toml": package("signup").encode(), "g.wasm": guests.jobicolet(), "s.json": SCHEMA}
    good, _ = build_tenant("acme", fs, TenantState(), checker)
    assert good.versions() == {"signup": 1}
    bad = dict(fs, **{"g.wasm": bytes(wasmtime.wat2wasm(UNRUNNABLE[case][0]))})
    state, modules = build_tenant("acme", bad, good, checker)
    assert state.packages["signup"] is good.packages["signup"]  # still live, same version
    assert state.events()["signup"].module_sha256 == sha256_bytes(guests.jobicolet())
    assert modules == {}
    (problem,) = state.problems["signup"]
    assert problem.file == "tenants/acme/g.wasm"
    assert "used by event 'signup'" in problem.message


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
