"""Guests that try to escape the sandbox: host files, sockets, args, other runs' memory, features,
their deadline, their memory cap, the output caps.

Runs in the executor's real ``Sandbox`` (wasmtime, the engine settings the
platform uses); ``test_platform.py`` repeats the environment probe through
``jobico up``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgpack
import pytest
import wasmtime

from jobico.caps import MAX_LOG_BYTES, MAX_LOG_LINES, MAX_RECORD_BYTES, MAX_RESULT_BYTES
from jobico.executor.sandbox import LoadedModule, Sandbox
from tests.executor.guests import sha256

from . import guests


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


def load(sandbox: Sandbox, module: bytes) -> LoadedModule:
    return sandbox.load(module, sha256(module))


@pytest.mark.parametrize("name", list(guests.PROBES))
def test_host_resources_are_out_of_reach(sandbox: Sandbox, name: str) -> None:
    result = sandbox.run(load(sandbox, guests.PROBES[name]), b"{}")
    assert result.status == "error", result
    assert result.code != 0, f"{name}: the host answered success"


def test_a_guest_gets_no_arguments(sandbox: Sandbox) -> None:
    result = sandbox.run(load(sandbox, guests.ARGS_COUNT), b"{}")
    assert (result.status, result.code) == ("ok", 0)


def test_no_run_sees_what_an_earlier_run_left(sandbox: Sandbox) -> None:
    module = load(sandbox, guests.REMEMBERS)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: sandbox.run(module, b"{}"), range(40)))
    assert [r.code for r in results] == [0] * 40, "memory, globals or memory size carried over"


def test_no_run_sees_another_runs_memory_even_while_it_is_live(sandbox: Sandbox) -> None:
    filler, scanner = load(sandbox, guests.FILLER), load(sandbox, guests.SCANNER)
    with ThreadPoolExecutor(4) as pool:
        fills = [pool.submit(sandbox.run, filler, b"{}", timeout_ms=10_000) for _ in range(4)]
        scans = [pool.submit(sandbox.run, scanner, b"{}") for _ in range(12)]
        fills += [pool.submit(sandbox.run, filler, b"{}", timeout_ms=10_000) for _ in range(2)]
        scans += [pool.submit(sandbox.run, scanner, b"{}") for _ in range(12)]
        assert [f.result(timeout=60).status for f in fills] == ["ok"] * 6
        hits = [s.result(timeout=60) for s in scans]
    assert all(r.status == "ok" for r in hits), hits
    assert [r.code for r in hits] == [0] * len(hits), "a scanner found another run's bytes"


def test_a_guest_sees_no_host_environment(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.executor.guests import WASI_PROBE

    monkeypatch.setenv("JOBICO_PLANTED_SECRET", "hunter2")
    result = sandbox.run(load(sandbox, WASI_PROBE), b"{}", env={"JOBICO_TENANT": "t"})
    assert result.status == "ok", result
    assert result.result.split("\0")[:-1] == ["JOBICO_TENANT=t"]


@pytest.mark.parametrize("name", list(guests.REFUSED_FEATURES))
def test_non_standard_wasm_features_do_not_compile(sandbox: Sandbox, name: str) -> None:
    with pytest.raises(wasmtime.WasmtimeError, match=r"failed to (parse|compile)"):
        wasmtime.Module(sandbox.engine, guests.wat(guests.REFUSED_FEATURES[name]))


@pytest.mark.parametrize("name", list(guests.ACCEPTED_FEATURES))
def test_standard_wasm_features_compile(sandbox: Sandbox, name: str) -> None:
    wasmtime.Module(sandbox.engine, guests.wat(guests.ACCEPTED_FEATURES[name]))


# --- no host call outlives the deadline (SPEC §4: at most 100 ms past timeout_ms) ------

TIMEOUT_MS = 200
SLACK_MS = 100


@pytest.mark.parametrize("name", list(guests.POLL_ATTACKS))
def test_poll_oneoff_cannot_sleep_past_the_deadline(sandbox: Sandbox, name: str) -> None:
    module, memory_mb = guests.POLL_ATTACKS[name]
    result = sandbox.run(load(sandbox, module), b"{}", timeout_ms=TIMEOUT_MS, memory_mb=memory_mb)
    assert result.status == "timeout", result
    assert TIMEOUT_MS <= result.duration_ms <= TIMEOUT_MS + SLACK_MS, result.duration_ms


def test_a_short_sleep_within_the_deadline_still_sleeps(sandbox: Sandbox) -> None:
    # exit code = events returned
    module = guests.command(f"""{guests.clock_subscriptions(1, 50_000_000)}
        (drop (call $poll (i32.const {guests.SUBSCRIPTIONS}) (i32.const 1024) (i32.const 1) (i32.const 1020)))
        (call $exit (i32.load (i32.const 1020)))""", imports=guests.POLL)
    result = sandbox.run(load(sandbox, module), b"{}", timeout_ms=1000)
    assert (result.status, result.code) == ("error", 1)
    assert result.duration_ms >= 50


@pytest.mark.parametrize("name", list(guests.POLL_BAD_POINTERS))
def test_poll_oneoff_with_bad_pointers_is_a_trap(sandbox: Sandbox, name: str) -> None:
    result = sandbox.run(load(sandbox, guests.POLL_BAD_POINTERS[name]), b"{}", timeout_ms=TIMEOUT_MS)
    assert result.status == "trap" and "out of bounds" in (result.reason or ""), result


@pytest.mark.parametrize("name", list(guests.SLOW_CALL_ATTACKS))
def test_back_to_back_host_calls_cannot_outlive_the_deadline(sandbox: Sandbox, name: str) -> None:
    module = load(sandbox, guests.SLOW_CALL_ATTACKS[name])
    result = sandbox.run(module, b"{}", timeout_ms=TIMEOUT_MS, memory_mb=guests.SLOW_CALL_MEMORY_MB)
    assert result.status in ("ok", "timeout"), result
    assert result.duration_ms <= TIMEOUT_MS + SLACK_MS, result.duration_ms


# --- memory_mb bounds memory and tables together ---------------------------------------


@pytest.mark.parametrize("memory_mb", [1, 4, 64])
def test_memory_grows_to_the_cap_and_no_further(sandbox: Sandbox, memory_mb: int) -> None:
    result = sandbox.run(load(sandbox, guests.MEMORY_PAGES), b"{}", memory_mb=memory_mb)
    assert result.status == "error", result  # a non-zero code: the pages
    pages_in_cap = memory_mb * 1024 * 1024 // 65536
    assert result.code == pages_in_cap  # the whole cap, not a page more


def test_table_elements_count_against_the_memory_cap(sandbox: Sandbox) -> None:
    memory_mb = 1
    cap = memory_mb * 1024 * 1024
    module = load(sandbox, guests.table_doubling(stop_at=cap // 8 + 1))  # enough to exceed the cap
    result = sandbox.run(module, b"{}", memory_mb=memory_mb)
    assert result.status == "error", result  # a non-zero code: the elements
    elements, memory = result.code, 2 * 65536  # the guest's memory is 2 pages
    assert elements > 1 and elements * 8 + memory <= cap


def test_a_40m_entry_table_grow_is_refused(sandbox: Sandbox) -> None:
    result = sandbox.run(load(sandbox, guests.TABLE_GROW_40M), b"{}", memory_mb=1)
    assert (result.status, result.code) == ("ok", 0)  # table.grow answered -1


def test_a_declared_40m_entry_table_is_a_limit(sandbox: Sandbox) -> None:
    result = sandbox.run(load(sandbox, guests.DECLARED_TABLE_40M), b"{}", memory_mb=1)
    assert result.status == "limit" and "1 MiB" in (result.reason or ""), result


# Runs the module read from stdin in a fresh process with memory_mb = 1, and prints by how
# many MB its resident set peaked above where it was before the run.
RSS_PROBE = """
import re, sys
from jobico.executor.sandbox import Sandbox
from tests.executor.guests import ECHO, sha256
def kb(field):
    return int(re.search(field + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1))
module = sys.stdin.buffer.read()
with Sandbox() as box:
    box.run(box.load(ECHO, sha256(ECHO)), b"{}")
    loaded = box.load(module, sha256(module))
    before = kb("VmRSS")
    open("/proc/self/clear_refs", "w").write("5")  # restart the peak (VmHWM) from here
    box.run(loaded, b"{}", memory_mb=1)
    print((kb("VmHWM") - before) // 1024)
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="measures with Linux's VmHWM")
@pytest.mark.parametrize("name", ["TABLE_GROW_40M", "DECLARED_TABLE_40M"])
def test_a_40m_entry_table_does_not_grow_the_executor(name: str) -> None:
    root = Path(__file__).resolve().parents[2]
    probe = [sys.executable, "-c", RSS_PROBE]
    out = subprocess.run(probe, cwd=root, input=getattr(guests, name), capture_output=True, check=True)
    grown_mb = int(out.stdout.split()[-1])
    assert grown_mb < 20, f"the executor grew by {grown_mb} MB"


# --- logs and records stay bounded -------------------------------------------------------


def test_an_empty_log_line_loop_is_capped_at_10000_lines(sandbox: Sandbox) -> None:
    result = sandbox.run(load(sandbox, guests.EMPTY_LOGS), b"{}", timeout_ms=10_000)
    assert result.status == "ok", result
    assert len(result.logs) == MAX_LOG_LINES and result.truncated


def test_stderr_lines_are_capped_at_10000_lines(sandbox: Sandbox) -> None:
    result = sandbox.run(load(sandbox, guests.STDERR_LINES), b"{}")
    assert result.status == "ok", result
    assert len(result.logs) == MAX_LOG_LINES and result.truncated


def test_a_record_of_invalid_utf8_output_stays_under_the_record_cap(sandbox: Sandbox) -> None:
    result = sandbox.run(load(sandbox, guests.INVALID_UTF8), b"{}", timeout_ms=10_000)
    assert result.status == "ok" and result.truncated, result
    assert len(result.result.encode()) <= MAX_RESULT_BYTES
    assert sum(len(line["message"].encode()) for line in result.logs) <= MAX_LOG_BYTES
    assert len(result.logs) <= 1 + MAX_LOG_BYTES // 300  # 100 bytes of 0xff are 300 bytes of text
    # the other record fields (ids, names, times, hash) take well under 64 KiB
    assert len(msgpack.packb(result.to_dict())) <= MAX_RECORD_BYTES - 64 * 1024
