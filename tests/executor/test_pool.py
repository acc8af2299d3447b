"""The pooling allocator (engine.py): the limits a guest gets never depend on it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from jobico.executor import engine
from jobico.executor.sandbox import Sandbox

from . import guests

# Grows its table (declared without a maximum) by 100,000 elements, past a pool slot's
# POOL_TABLE_ELEMENTS yet within the 64 MiB cap's share (131,072); returns the old size,
# or -1 when the grow is refused.
TABLE_GROWER = guests.jobicolet(
    "(call $ret (local.get $r)"
    " (i64.extend_i32_s (table.grow $t (ref.null func) (i32.const 100000))) (i32.const 0) (i32.const 0))",
    extra="(table $t 1 funcref)",
)


def test_a_table_that_could_outgrow_a_slot_grows_as_far_as_the_cap_allows(sandbox: Sandbox) -> None:
    assert engine.POOL_TABLE_ELEMENTS < 100_001  # the grow goes past a slot
    loaded = sandbox.load(TABLE_GROWER, guests.sha256(TABLE_GROWER))
    assert not loaded.compiled.pooled
    result = sandbox.run(loaded, b"{}", memory_mb=64)
    assert (result.status, result.code) == ("error", 1), result  # grown from 1 element


def test_fixed_tables_run_pooled(sandbox: Sandbox) -> None:
    module = guests.jobicolet(guests.ECHO_BODY, extra="(table 5 5 funcref)")
    loaded = sandbox.load(module, guests.sha256(module))
    assert loaded.compiled.pooled
    assert sandbox.run(loaded, b"{}").result == "{}"


def test_a_module_too_large_for_a_slot_runs_unpooled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine, "POOL_INSTANCE_BYTES", 64 * 1024)
    globals_ = " ".join("(global (mut i64) (i64.const 7))" for _ in range(8192))  # 128 KiB of them
    module = guests.jobicolet(guests.ECHO_BODY, extra=globals_)
    with Sandbox() as sandbox:
        loaded = sandbox.load(module, guests.sha256(module))
        assert not loaded.compiled.pooled
        assert sandbox.run(loaded, b'{"a":1}').result == '{"a":1}'


def test_runs_beyond_the_pool_wait_for_a_slot() -> None:
    with Sandbox(slots=1) as sandbox, ThreadPoolExecutor(4) as pool:
        loaded = sandbox.load(guests.SPIN, guests.sha256(guests.SPIN))
        assert loaded.compiled.pooled
        results = list(pool.map(lambda _: sandbox.run(loaded, b"{}", timeout_ms=100), range(4)))
    assert [r.status for r in results] == ["timeout"] * 4, [r.reason for r in results]
    assert all(r.duration_ms < 100 + 100 for r in results)  # each timed from its own start
