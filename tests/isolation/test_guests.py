"""Guests that try to escape the sandbox: host files, sockets, args, other runs' memory, features.

Runs in the executor's real ``Sandbox`` (wasmtime, the engine settings the
platform uses); ``test_platform.py`` repeats the environment probe through
``jobico up``.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import wasmtime

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
