from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from jobico.ctl.importer import convert, import_file
from jobico.errors import UserError

ORIGINAL = """
id: pkg1
tenant: tenant1
jobs:
  - event:
      id: ev1
      schema: {id: sch1, schemaref: sch1.json}
      supplierqueue: q1
      runtime: run1
    result: {ok: ev2, error: ev3}
  - event:
      id: ev2
      schema: {id: sch2, schemaref: schemas/sch2.json}
      runtime: run2
runtimes:
  - {id: run1, moduleref: echo.wasm, mainfuncname: event, type: 0}
  - {id: run2, moduleref: log.wasm, type: 1}
"""


def test_convert_joins_runtimes_and_maps_results() -> None:
    package_id, body = convert(ORIGINAL, "pkg1.yml")
    assert package_id == "pkg1"
    assert tomllib.loads(body) == {
        "name": "pkg1",
        "jobs": [
            {
                "event": "ev1",
                "schema": "sch1.json",
                "wasm": "echo.wasm",
                "abi": "jobicolet",
                "entry": "event",
                "on_ok": "ev2",
                "on_error": "ev3",
            },
            {"event": "ev2", "schema": "schemas/sch2.json", "wasm": "log.wasm", "abi": "jobicolet"},
        ],
    }


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("runtime: run2", "runtime: run9"), r"jobs\[1\]\.event\.runtime 'run9' is not defined"),
        (("schemaref: sch1.json", "ref: sch1.json"), r"jobs\[0\]\.event\.schema\.schemaref is missing"),
        (("moduleref: log.wasm, ", ""), r"runtimes\[1\]\.moduleref is missing"),
        (("id: pkg1", "id: Pkg 1"), "package id in pkg1.yml 'Pkg 1' is not a valid id"),
        (("id: ev2", "id: ev 2"), "pkg1.yml:.*event = 'ev 2' must match"),
        (("jobs:", "jobs: []\nx:"), "jobs must be a non-empty list"),
        (("id: pkg1", "id: [pkg1"), "not valid YAML"),
    ],
)
def test_bad_references_are_clear_errors(edit: tuple[str, str], expected: str) -> None:
    with pytest.raises(UserError, match=expected):
        convert(ORIGINAL.replace(*edit), "pkg1.yml")


def test_import_writes_the_package_into_the_tenant(tmp_path: Path) -> None:
    source = tmp_path / "pkg1.yml"
    source.write_text(ORIGINAL)
    target = import_file(tmp_path / "tenants", source, "acme")
    assert target == tmp_path / "tenants/acme/pkg1.toml"
    assert tomllib.loads(target.read_text())["jobs"][0]["event"] == "ev1"
    with pytest.raises(UserError, match=r"tenant '\.\./acme' is not a valid id"):
        import_file(tmp_path / "tenants", source, "../acme")
    with pytest.raises(UserError, match="cannot read"):
        import_file(tmp_path / "tenants", tmp_path / "missing.yml", "acme")


# The original repository's form (GUIDE.md's example; ctl.proto: ResultDef holds EventDefs):
# a package name, and results given as event definitions rather than event names.
ORIGINAL_FULL = """
name: Customer Event Processing Definitions
id: customer-proc-jobs
tenant: my-tenant-1
queues:
  - id: queue-default
    name: Default to all events
jobs:
  - event:
      name: New customer
      id: customer-registration
      datatype: 0
      schema:
        id: customer-registration-schema
        name: Customer registration schema
        schemaref: customer-registration-schema.json
      supplierqueue: queue-default
      runtime: wasm-runtime-customer-ev
    result:
      ok:
        id: customer-registered
        name: Customer registered
        datatype: 0
        supplierqueue: queue-default
        runtime: wasm-runtime-customer-ev
      error:
        id: customer-rejected
        datatype: 0
        supplierqueue: queue-default
        runtime: wasm-runtime-customer-ev
runtimes:
  - id: wasm-runtime-customer-ev
    name:  Wasm runtime for Customer events
    moduleref: wasm-runtime-customer-ev.wasm
    mainfuncname: event
    type: 0
"""


def test_results_as_event_definitions_chain_their_id_and_the_name_is_kept() -> None:
    package_id, body = convert(ORIGINAL_FULL, "customer.yml")
    assert package_id == "customer-proc-jobs"
    doc = tomllib.loads(body)
    assert doc["name"] == "Customer Event Processing Definitions"
    assert doc["jobs"] == [{
        "event": "customer-registration",
        "schema": "customer-registration-schema.json",
        "wasm": "wasm-runtime-customer-ev.wasm",
        "abi": "jobicolet",
        "entry": "event",
        "on_ok": "customer-registered",
        "on_error": "customer-rejected",
    }]


def test_an_event_definition_without_id_is_a_clear_error() -> None:
    broken = ORIGINAL_FULL.replace("        id: customer-rejected\n", "")
    with pytest.raises(UserError, match=r"customer\.yml: jobs\[0\]\.result\.error\.id is missing"):
        convert(broken, "customer.yml")


def test_mixed_forms_and_a_name_that_is_not_text_falls_back_to_the_id() -> None:
    mixed = ORIGINAL.replace("result: {ok: ev2, error: ev3}", "result: {ok: {id: ev2}, error: ev3}")
    doc = tomllib.loads(convert("name: 7\n" + mixed, "pkg1.yml")[1])
    assert (doc["name"], doc["jobs"][0]["on_ok"], doc["jobs"][0]["on_error"]) == ("pkg1", "ev2", "ev3")
