from __future__ import annotations

from tui import wire

CATALOG_DOC = {
    "version": 4,
    "tenants": {
        "acme": {
            "events": {
                "signup": {"package": "signup", "event": "signup", "schema": {"type": "object"},
                           "wasm": "greet.wasm", "module_sha256": "aa", "abi": "jobicolet"},
            },
            "packages": {"signup": {"version": 2}},
        },
    },
}


def test_catalog_lists_packages_that_failed_to_load_with_file_line_and_reason() -> None:
    packages = [{"tenant": "acme", "package": "billing", "file": "tenants/acme/billing.toml",
                 "errors": [{"file": "billing.toml", "line": 7, "message": "unknown key 'x'"}]}]
    catalog = wire.catalog(CATALOG_DOC, packages)
    billing = next(p for p in catalog.packages if p.package == "billing")
    assert [str(e) for e in billing.errors] == ["billing.toml:7: unknown key 'x'"]
    assert catalog.tenants() == ["acme"]
    assert catalog.event("acme", "signup").abi == "jobicolet"
    assert next(p for p in catalog.packages if p.package == "signup").version == "2"


def test_wasm_size_and_exports_come_from_the_blob_when_the_catalog_lacks_them() -> None:
    catalog = wire.catalog(CATALOG_DOC, blob_info=lambda sha: (10, ("event",)) if sha == "aa"
                           else None)
    info = catalog.event("acme", "signup")
    assert (info.size, info.exports) == (10, ("event",))


def test_plain_string_errors_are_attributed_to_the_package_file() -> None:
    catalog = wire.catalog({"tenants": {}}, [{"tenant": "t", "id": "p", "errors": ["bad TOML"]}])
    assert str(catalog.packages[0].errors[0]) == "p.toml: bad TOML"


def test_record_decodes_bytes_with_replacement_and_timestamps_log_lines() -> None:
    record = wire.record({"id": "r1", "result": b"ok \xff", "status": "ok",
                          "started_at": "2025-01-01T00:00:00Z",
                          "logs": [{"level": "warn", "message": "careful"}]})
    assert record.result == "ok \ufffd"
    assert (record.logs[0].level, record.logs[0].at) == ("warn", "2025-01-01T00:00:00Z")


def test_accepted_is_summed_over_listeners_and_tenants() -> None:
    listeners = [{"accepted": {"a": 5, "b": 2}}, {"accepted": {"a": 1}}, {}]
    assert wire.accepted_total(listeners) == 8
    assert wire.accepted_total([{}]) is None


def test_runs_by_status_sum_the_recorder_tenants() -> None:
    stats = {"buckets_ms": [1], "tenants": {"a": {"counts": {"ok": 3, "trap": 1}},
                                            "b": {"counts": {"ok": 2}}}}
    assert wire.runs_by_status(stats) == {"ok": 5, "trap": 1}


def test_package_files_are_named_relative_to_their_tenant() -> None:
    catalog = wire.catalog({"tenants": {}}, [{"tenant": "t", "package": "p",
                                              "file": "tenants/t/p.toml", "errors": []}])
    assert catalog.packages[0].file == "p.toml"


def test_record_carries_accepted_at_when_the_recorder_has_it() -> None:
    assert wire.record({"id": "r", "accepted_at": "2025-01-02T03:04:05Z"}).accepted_at == \
        "2025-01-02T03:04:05Z"
    assert wire.record({"id": "r", "accepted_at": None}).accepted_at is None


PACKAGES = [
    {"tenant": "acme", "package": "signup", "files": [{"path": "signup.toml", "sha256": "aa"},
                                                      {"path": "signup.schema.json",
                                                       "sha256": "bb"}],
     "errors": []},
    {"tenant": "acme", "package": "billing", "files": [],
     "errors": [{"file": "tenants/acme/billing.toml", "line": 7, "message": "unknown key 'x'"}]},
]


def test_load_verdict_names_the_errors_of_that_file_and_the_sha_it_is_served_at() -> None:
    errors, loaded = wire.load_verdict(PACKAGES, "acme", "billing.toml")
    assert [str(e) for e in errors] == ["tenants/acme/billing.toml:7: unknown key 'x'"]
    assert loaded is None
    assert wire.load_verdict(PACKAGES, "acme", "signup.schema.json") == ((), "bb")
    assert wire.load_verdict(PACKAGES, "globex", "signup.toml") == ((), None)
