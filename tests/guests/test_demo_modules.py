"""The committed demo home: packages, schemas and modules that load with no toolchain."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import pytest
import wasmtime

from jobico.config import Config, load_config
from jobico.ctl.catalog import TenantState, build_tenant
from jobico.ctl.validate import Checker
from tests.guests.demo import DEMO, EXAMPLES, HELLO, ROOT, TEMPLATE, TENANT_DIRS, jobs, tenant_files

I32 = wasmtime.ValType.i32()
ENGINE = wasmtime.Engine()

ALL_JOBS = [(path, job) for folder in TENANT_DIRS for path, job in jobs(folder)]
JOB_IDS = [f"{path.parent.name}/{job['event']}" for path, job in ALL_JOBS]


def func_types(module: wasmtime.Module) -> dict[str, wasmtime.FuncType | None]:
    """Export name -> function type (None for memories, globals, tables)."""
    return {e.name: e.type if isinstance(e.type, wasmtime.FuncType) else None for e in module.exports}


def signature(ft: wasmtime.FuncType | None) -> tuple[list[str], list[str]]:
    assert ft is not None
    return [str(t) for t in ft.params], [str(t) for t in ft.results]


def check_jobicolet(module: wasmtime.Module, entry: str) -> None:
    """SPEC §4: memory, malloc(i32)->i32, free(ptr[, size]), init(), entry(retptr, ptr, len)."""
    exports = func_types(module)
    assert "memory" in exports and exports["memory"] is None
    assert signature(exports["malloc"]) == (["i32"], ["i32"])
    assert signature(exports["free"]) in ((["i32"], []), (["i32", "i32"], []))
    assert signature(exports["init"]) == ([], [])
    assert signature(exports[entry]) == (["i32", "i32", "i32"], [])
    if "ver" in exports:
        assert signature(exports["ver"]) == ([], ["i32"])
        two_args = len(signature(exports["free"])[0]) == 2
        assert two_args, "ver() announces free(ptr, size) to the original runtime"


def check_wasi(module: wasmtime.Module) -> None:
    exports = func_types(module)
    assert signature(exports["_start"]) == ([], [])
    assert "memory" in exports
    assert not {i.module for i in module.imports} - {"wasi_snapshot_preview1"}


@pytest.mark.parametrize(("path", "job"), ALL_JOBS, ids=JOB_IDS)
def test_job_files_exist_and_schema_is_valid(path: Path, job: dict) -> None:
    folder = path.parent
    assert (folder / job["wasm"]).is_file()
    schema = json.loads((folder / job["schema"]).read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema_rs.validator_for(schema)


@pytest.mark.parametrize(("path", "job"), ALL_JOBS, ids=JOB_IDS)
def test_module_compiles_with_the_exports_of_its_abi(path: Path, job: dict) -> None:
    module = wasmtime.Module.from_file(ENGINE, str(path.parent / job["wasm"]))
    names = {e.name for e in module.exports}
    abi = job.get("abi", "auto")
    if abi == "auto":
        abi = "jobicolet" if {job.get("entry", "event"), "malloc"} <= names else "wasi"
    if abi == "jobicolet":
        check_jobicolet(module, job.get("entry", "event"))
    else:
        check_wasi(module)


def test_both_abis_are_shown() -> None:
    abis = {job.get("abi") for _, job in jobs(DEMO)}
    assert {"jobicolet", "wasi"} <= abis


@pytest.mark.parametrize("folder", TENANT_DIRS, ids=lambda f: f.name)
def test_tenant_loads_in_ctl_without_problems(folder: Path) -> None:
    state, modules = build_tenant(folder.name, tenant_files(folder), TenantState(), Checker())
    assert state.problems == {}
    assert sorted(state.events()) == sorted(job["event"] for _, job in jobs(folder))
    assert modules


def test_chain_targets_are_events_of_the_tenant() -> None:
    events = {job["event"] for _, job in jobs(DEMO)}
    targets = {job[k] for _, job in jobs(DEMO) for k in ("on_ok", "on_error") if k in job}
    assert targets
    assert targets <= events


def test_init_template_greeting_is_the_demo_one() -> None:
    assert (HELLO / "greet.wasm").read_bytes() == (DEMO / "greet.wasm").read_bytes()
    assert (HELLO / "greet.schema.json").read_bytes() == (DEMO / "greet.schema.json").read_bytes()


def test_template_config_states_the_defaults() -> None:
    assert load_config(TEMPLATE, environ={}) == Config()


def test_repository_home_serves_the_demo_on_8080() -> None:
    config = load_config(ROOT, environ={})
    assert (config.listener.host, config.listener.port) == ("127.0.0.1", 8080)


@pytest.mark.parametrize(
    ("example", "schema"),
    [
        ("c/greet.json", "greet.schema.json"),
        ("rust/order.json", "order.schema.json"),
        ("rust/order-rejected.json", "order.schema.json"),
        ("assemblyscript/text.json", "text-stats.schema.json"),
    ],
)
def test_example_inputs_pass_their_schema(example: str, schema: str) -> None:
    validator = jsonschema_rs.validator_for(json.loads((DEMO / schema).read_text(encoding="utf-8")))
    assert validator.is_valid(json.loads((EXAMPLES / example).read_text(encoding="utf-8")))
