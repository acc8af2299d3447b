from __future__ import annotations

import time

import pytest
import wasmtime

from jobico.errors import UserError
from jobico.executor.limits import MIB, RunResult
from jobico.executor.sandbox import Sandbox

from . import guests

ITEM = b'{"name":"Ada","n":[1,2,3]}'


def run(sandbox: Sandbox, module: bytes, item: bytes = ITEM, **kwargs: object) -> RunResult:
    load = {k: kwargs.pop(k) for k in ("abi", "entry") if k in kwargs}
    loaded = sandbox.load(module, guests.sha256(module), **load)  # type: ignore[arg-type]
    return sandbox.run(loaded, item, **kwargs)  # type: ignore[arg-type]


def test_jobicolet_echo_returns_the_item(sandbox: Sandbox) -> None:
    result = run(sandbox, guests.ECHO)
    assert (result.status, result.code, result.result) == ("ok", 0, ITEM.decode())
    assert result.reason is None and not result.truncated and result.logs == []


def test_nonzero_code_is_an_error_with_the_guests_result(sandbox: Sandbox) -> None:
    result = run(sandbox, guests.FAIL)
    assert (result.status, result.code, result.result) == ("error", 7, "bad input")
    assert "7" in (result.reason or "")


@pytest.mark.parametrize("module", [guests.SPIN, guests.WASI_SPIN], ids=["jobicolet", "wasi"])
def test_infinite_loop_is_stopped_at_the_deadline(sandbox: Sandbox, module: bytes) -> None:
    started = time.monotonic()
    result = run(sandbox, module, timeout_ms=200)
    assert result.status == "timeout"
    assert "200 ms" in (result.reason or "")
    assert 200 <= result.duration_ms <= 300  # SPEC §4: never more than 100 ms late
    assert (time.monotonic() - started) * 1000 <= 300 + 50  # duration_ms covers the whole run


def test_trap_is_a_failure_with_the_wasm_cause(sandbox: Sandbox) -> None:
    result = run(sandbox, guests.TRAP)
    assert result.status == "trap"
    assert "unreachable" in (result.reason or "")


def test_memory_growth_past_the_cap_is_a_limit(sandbox: Sandbox) -> None:
    result = run(sandbox, guests.GROW, memory_mb=4)
    assert result.status == "limit"
    assert "4 MiB" in (result.reason or "")
    used = float((result.reason or "").split(" with ")[1].split(" MiB")[0])
    assert 3 <= used <= 4  # refused at the cap, not far past it


def test_a_module_needing_more_than_the_cap_at_start_is_a_limit(sandbox: Sandbox) -> None:
    result = run(sandbox, guests.ECHO, memory_mb=0)
    assert result.status == "limit"


def test_a_4_mib_result_is_cut_to_the_cap_and_flagged(sandbox: Sandbox) -> None:
    result = run(sandbox, guests.BIG_RESULT)
    assert result.status == "ok"
    assert result.result == "a" * MIB
    assert result.truncated
    smaller = run(sandbox, guests.BIG_RESULT, max_output=1000)
    assert smaller.result == "a" * 1000


def test_a_log_flood_is_capped_and_flagged(sandbox: Sandbox) -> None:
    result = run(sandbox, guests.LOG_FLOOD)
    assert result.status == "ok" and result.result == ITEM.decode()
    assert result.truncated
    assert sum(len(line["message"]) for line in result.logs) == MIB
    assert {line["level"] for line in result.logs} == {"info"}


def test_missing_exports_are_a_load_error_naming_them(sandbox: Sandbox) -> None:
    with pytest.raises(UserError, match="'_start'") as caught:
        sandbox.load(guests.MISSING_EXPORTS, guests.sha256(guests.MISSING_EXPORTS))
    assert "'malloc'" in str(caught.value)
    with pytest.raises(UserError, match="missing export 'malloc'"):
        sandbox.load(guests.MISSING_EXPORTS, guests.sha256(guests.MISSING_EXPORTS), abi="jobicolet")


def test_bytes_that_do_not_match_their_hash_are_refused(sandbox: Sandbox) -> None:
    with pytest.raises(UserError, match="sha256"):
        sandbox.load(guests.ECHO, "0" * 64)


def test_call_order_levels_and_stdio_become_logs(sandbox: Sandbox) -> None:
    result = run(sandbox, guests.LOGS)
    assert result.status == "ok"
    assert result.logs == [
        {"level": "debug", "message": "_start"},
        {"level": "debug", "message": "ver"},
        {"level": "debug", "message": "init"},
        {"level": "warn", "message": "event"},
        {"level": "none", "message": "event"},  # level 9 is recorded as 6
        {"level": "info", "message": "to stdout"},
        {"level": "info", "message": "to stderr"},
    ]


def test_two_argument_free_gets_sizes_in_order_result_input_retptr(sandbox: Sandbox) -> None:
    result = run(sandbox, guests.FREE2)
    freed = [line["message"] for line in result.logs]
    assert freed[:2] == [ITEM.decode(), ITEM.decode()]
    assert len(freed[2]) == 16  # the 16-byte result block at r


def test_one_argument_free_is_called_three_times(sandbox: Sandbox) -> None:
    result = run(sandbox, guests.FREE_LOGS)
    assert [line["message"] for line in result.logs] == ["free"] * 3


def test_a_trap_inside_free_is_ignored(sandbox: Sandbox) -> None:
    result = run(sandbox, guests.FREE_TRAPS)
    assert (result.status, result.result) == ("ok", ITEM.decode())


def test_malloc_returning_one_address_every_time_works(sandbox: Sandbox) -> None:
    result = run(sandbox, guests.SAME_ADDRESS)
    assert (result.status, result.result) == ("ok", ITEM.decode())


def test_invalid_utf8_in_the_result_is_replaced(sandbox: Sandbox) -> None:
    result = run(sandbox, guests.ECHO, b'{"a":"\xff"}')
    assert result.result == '{"a":"\ufffd"}'


def test_no_state_is_carried_between_runs(sandbox: Sandbox) -> None:
    first = run(sandbox, guests.FREE2, b'{"a":1}')
    second = run(sandbox, guests.FREE2, b'{"a":1}')
    # the bump allocator starts afresh: the same addresses come back
    assert first.logs[2]["message"] == second.logs[2]["message"]


def test_wasi_echo_reads_stdin_writes_stdout_and_logs_stderr(sandbox: Sandbox) -> None:
    result = run(sandbox, guests.WASI_ECHO)
    assert (result.status, result.code, result.result) == ("ok", 0, ITEM.decode())
    assert result.logs == [
        {"level": "info", "message": "log line one"},
        {"level": "info", "message": "line two"},
    ]


def test_wasi_nonzero_exit_is_an_error_with_that_code(sandbox: Sandbox) -> None:
    result = run(sandbox, guests.WASI_EXIT)
    assert (result.status, result.code) == ("error", 3)
    assert result.logs == [{"level": "info", "message": "failing"}]


def test_wasi_guest_sees_no_host_files_and_only_jobico_env(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOST_SECRET", "leak")
    env = {
        "JOBICO_TENANT": "acme",
        "JOBICO_EVENT": "signup",
        "JOBICO_EVENT_ID": "00ff",
        "JOBICO_ATTEMPT": "1",
    }
    result = run(sandbox, guests.WASI_PROBE, env=env)
    assert result.status == "ok", result.reason  # exit 42 would mean it opened a host file
    seen = dict(entry.split("=", 1) for entry in result.result.split("\0") if entry)
    assert seen == env


def test_wasi_stdout_flood_is_cut_at_the_cap(sandbox: Sandbox) -> None:
    result = run(sandbox, guests.WASI_FLOOD)
    assert result.status == "ok"
    assert result.result == "z" * MIB and result.truncated


def test_jobicolet_guest_gets_no_environment(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOST_SECRET", "leak")
    result = run(sandbox, guests.JOBICOLET_ENV_COUNT, env={"JOBICO_TENANT": "acme"})
    assert (result.status, result.code) == ("ok", 0)


def test_load_errors_name_the_source_file(sandbox: Sandbox) -> None:
    with pytest.raises(UserError, match=r"^tenants/acme/bad.wasm does not compile"):
        sandbox.load(b"\0asm junk", guests.sha256(b"\0asm junk"), source="tenants/acme/bad.wasm")
    with pytest.raises(UserError, match=r"^x.wasm: abi auto"):
        sandbox.load(guests.MISSING_EXPORTS, guests.sha256(guests.MISSING_EXPORTS), source="x.wasm")


def test_a_module_importing_what_jobico_does_not_provide_is_refused(sandbox: Sandbox) -> None:
    module = bytes(wasmtime.wat2wasm('(module (import "env" "secret" (func)) (func (export "_start")))'))
    with pytest.raises(UserError, match=r"cannot be linked.*secret"):
        sandbox.load(module, guests.sha256(module))


def test_a_result_outside_guest_memory_is_a_trap(sandbox: Sandbox) -> None:
    result = run(sandbox, guests.BAD_POINTER)
    assert result.status == "trap" and "outside its memory" in (result.reason or "")


def test_a_jobicolet_guest_without_wasi_imports_runs_with_no_stdio_setup(sandbox: Sandbox) -> None:
    # Rust guests built for wasm32-unknown-unknown import no WASI: their stores get no
    # WASI context and no capture files, and they work the same.
    module = bytes(
        wasmtime.wat2wasm("""
(module
  (import "env" "log" (func $log (param i32 i32 i32)))
  (memory (export "memory") 2)
  (data (i32.const 512) "hello")
  (global $heap (mut i32) (i32.const 65536))
  (func $malloc (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $heap))
    (global.set $heap (i32.add (local.get $p) (i32.and (i32.add (local.get $n) (i32.const 7))
                                                       (i32.const -8))))
    (local.get $p))
  (func (export "free") (param i32))
  (func (export "init"))
  (func (export "event") (param $r i32) (param $p i32) (param $n i32)
    (call $log (i32.const 1) (i32.const 512) (i32.const 5))
    (i64.store (local.get $r) (i64.const 0))
    (i64.store offset=8 (local.get $r)
      (i64.or (i64.shl (i64.extend_i32_u (local.get $p)) (i64.const 32))
              (i64.extend_i32_u (local.get $n))))))
""")
    )
    loaded = sandbox.load(module, guests.sha256(module))
    assert not loaded.uses_wasi
    result = sandbox.run(loaded, ITEM)
    assert (result.status, result.result) == ("ok", ITEM.decode())
    assert result.logs == [{"level": "info", "message": "hello"}]


def test_only_guests_importing_wasi_get_wasi_streams(sandbox: Sandbox) -> None:
    assert sandbox.load(guests.ECHO, guests.sha256(guests.ECHO)).uses_wasi  # imports fd_write
    assert sandbox.load(guests.WASI_ECHO, guests.sha256(guests.WASI_ECHO)).uses_wasi


def writes_after_growing(last: int) -> bytes:
    """Writes "abc" (the host functions then know the memory as 1 MiB), grows it by 2 MiB,
    writes "ok\n" from the new part, then 3 bytes from ``last``."""
    return guests.wasi(
        f"""(call $write (i32.const 1) (i32.const 256) (i32.const 3))
        (drop (memory.grow (i32.const 32)))
        (i32.store (i32.const 0x200000) (i32.const 0x0a6b6f))
        (call $write (i32.const 1) (i32.const 0x200000) (i32.const 3))
        (call $write (i32.const 1) (i32.const {last}) (i32.const 3))""",
        data='(data (i32.const 256) "abc")',
    )


def test_host_functions_see_memory_a_guest_grew_during_its_run(sandbox: Sandbox) -> None:
    grown = run(sandbox, writes_after_growing(0x2FFFFD))  # the last 3 bytes of the 3 MiB
    assert (grown.status, grown.result) == ("ok", "abcok\n\0\0\0"), grown
    past = run(sandbox, writes_after_growing(0x2FFFFE))
    assert past.status == "trap" and "pointer out of bounds: 3 bytes at 3145726" in (past.reason or ""), past
