"""Compiling a guest is bounded in time and memory, in a child process (executor/compiler.py)."""

from __future__ import annotations

import resource

import pytest

from jobico.errors import UserError
from jobico.executor.compiler import CompileLimits
from jobico.executor.engine import Runtime, check_module
from jobico.executor.sandbox import Sandbox
from tests.executor.guests import ECHO, nested_blocks, sha256

COSTLY = nested_blocks(700_000)  # ~1 GB and 1.3 s to compile


def peak_rss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def test_a_module_that_needs_more_memory_to_compile_is_refused_and_costs_the_caller_nothing() -> None:
    before = peak_rss_mb()
    with pytest.raises(UserError) as refused:
        Runtime(limits=CompileLimits(memory_mb=256)).prepare(COSTLY, "tenants/evil/blocks.wasm")
    assert str(refused.value) == ("tenants/evil/blocks.wasm does not compile: compiling it needs more than "
                                  "256 MB (executor.compile_memory_mb)")
    assert peak_rss_mb() - before < 50


def test_a_module_that_takes_longer_to_compile_is_refused() -> None:
    with pytest.raises(UserError, match=r"blocks.wasm does not compile: compiling it took longer than 100 ms "
                                        r"\(executor.compile_timeout_ms\)"):
        Runtime(limits=CompileLimits(timeout_ms=100, memory_mb=8192)).prepare(COSTLY, "blocks.wasm")


def test_wasmtimes_own_reason_still_names_what_is_wrong() -> None:
    with pytest.raises(UserError, match=r"^bad.wasm does not compile: failed to parse WebAssembly module"):
        check_module(b"\0asm\1\0\0\0\xff", name="bad.wasm")


def test_a_sandbox_runs_what_its_child_compiled_pooled_or_not() -> None:
    with Sandbox(limits=CompileLimits(timeout_ms=10_000, memory_mb=512)) as box:
        loaded = box.load(ECHO, sha256(ECHO))
        assert loaded.compiled.pooled
        assert box.run(loaded, b'{"a":1}').result == '{"a":1}'
