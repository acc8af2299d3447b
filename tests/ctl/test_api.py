"""ctl's contract: the catalog and package list on the wire, typed, and what they refuse."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import trio

from jobico.ctl import api
from jobico.ctl.catalog import TenantState, build_tenant
from jobico.ctl.documents import catalog_of, package_list
from jobico.ctl.validate import Checker
from jobico.errors import UserError
from jobico.repo.files import sha256_bytes
from jobico.rpc import trio_shell
from jobico.rpc.dispatch import Methods
from jobico.rpc.errors import BadReply
from tests.ctl import guests
from tests.ctl.guests import SCHEMA, package
from tests.rpc.raw import Raw, raw_stream

LIMITS = "[limits]\nmax_queue_depth = 5\nrate = 2.5\n"
HOOK = '[webhook]\nsecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"\nmax_body_kb = 8\n'


@pytest.fixture(scope="module")
def state() -> TenantState:
    files = {"g.wasm": guests.jobicolet(), "s.json": SCHEMA,
             "signup.toml": (HOOK + LIMITS + package("signup")).encode(),
             "bad.toml": package("bad", schema="nope.json").encode()}
    built, _ = build_tenant("acme", files, TenantState(), Checker())
    return built


def test_the_catalog_is_the_document_of_docs_internals_key_for_key(state: TenantState) -> None:
    """``to_wire`` is the document followers and ``jobico``'s --json have always seen."""
    wasm, toml = guests.jobicolet(), (HOOK + LIMITS + package("signup")).encode()
    job = {"tenant": "acme", "package": "signup", "event": "signup",
           "schema": {"type": "object", "required": ["name"]}, "schema_sha256": sha256_bytes(SCHEMA),
           "wasm": "g.wasm", "module_sha256": sha256_bytes(wasm), "abi": "jobicolet", "entry": "event",
           "timeout_ms": 2000, "memory_mb": 64, "max_attempts": 3, "on_ok": None, "on_error": None,
           "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "max_body_kb": 8, "max_items": 10_000}
    summary = {"file": "tenants/acme/signup.toml", "name": None, "version": 1, "events": ["signup"],
               "files": [{"path": p, "sha256": sha256_bytes(d)}
                         for p, d in sorted([("g.wasm", wasm), ("s.json", SCHEMA), ("signup.toml", toml)])],
               "limits": {"max_queue_depth": 5, "rate": 2.5, "burst": None, "max_concurrency": None}}
    wire = catalog_of(4, {"acme": state}).to_wire()
    assert wire == {"version": 4, "tenants": {"acme": {"events": {"signup": job},
                                                       "packages": {"signup": summary}}}}
    assert list(wire["tenants"]["acme"]["events"]["signup"]) == list(job)  # and in that order
    assert list(wire["tenants"]["acme"]["packages"]["signup"]) == list(summary)


def test_what_ctl_sends_reads_back_as_the_same_objects(state: TenantState) -> None:
    catalog = catalog_of(4, {"acme": state})
    sent = msgpack.unpackb(msgpack.packb(catalog.to_wire(), use_bin_type=True), raw=False)
    assert api.Catalog.from_wire(sent) == catalog and api.catalog.decode(sent).to_wire() == sent
    listed = package_list({"acme": state})
    assert [(p.package, p.state) for p in listed.packages] == [("bad", "error"), ("signup", "ok")]
    sent = msgpack.unpackb(msgpack.packb(listed.to_wire(), use_bin_type=True), raw=False)
    assert api.PackageList.from_wire(sent) == listed and api.packages.decode(sent).to_wire() == sent
    assert sent[0]["errors"] == [{"file": "tenants/acme/bad.toml", "line": 4,
                                  "message": "jobs.schema: file 'nope.json' not found in tenant 'acme'"}]


def test_a_job_is_found_by_tenant_and_event(state: TenantState) -> None:
    catalog = catalog_of(1, {"acme": state})
    job = catalog.job("acme", "signup")
    assert job is not None and (job.tenant, job.event, job.max_body_kb) == ("acme", "signup", 8)
    assert catalog.job("acme", "nope") is None and catalog.job("nobody", "signup") is None
    assert [j.event for j in catalog.jobs()] == ["signup"]
    assert api.EMPTY_CATALOG.job("acme", "signup") is None


def test_fields_left_out_read_as_the_package_defaults() -> None:
    """A reader needs a job's package; anything else it gets as SPEC §2's default."""
    catalog = api.Catalog.from_wire({"version": 2, "tenants": {"acme": {"events": {
        "e": {"package": "p", "max_body_kb": None}}}}})
    assert catalog.job("acme", "e") == api.Job("acme", "p", "e")
    job = api.Job("acme", "p", "e")
    assert (job.abi, job.entry, job.timeout_ms, job.memory_mb, job.max_attempts, job.max_body_kb,
            job.max_items) == ("auto", "event", 2000, 64, 3, 256, 10_000)
    assert catalog.tenants["acme"].packages == {}
    summary = api.PackageSummary.from_wire({"limits": {"max_concurrency": 2}})
    assert summary == api.PackageSummary(limits=api.Limits(max_concurrency=2))


def job_in(**fields: Any) -> dict[str, Any]:
    return {"version": 1, "tenants": {"acme": {"events": {"e": {"package": "p", **fields}}}}}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "catalog must be a map, got list"),
        ({"tenants": {}}, "catalog 'version' must be an integer, is missing"),
        ({"version": 1}, "catalog 'tenants' must be a map, is missing"),
        ({"version": 1, "tenants": {"acme": {"packages": {}}}}, "tenant acme 'events' must be a map"),
        ({"version": 1, "tenants": {"acme": {"events": {1: {}}}}},
         "tenant acme 'events' names must be strings"),
        (job_in(package=None), "job acme/e 'package' must be a string, got nil"),
        (job_in(timeout_ms="5"), "job acme/e 'timeout_ms' must be an integer or nil, got str"),
        (job_in(max_items=True), "job acme/e 'max_items' must be an integer or nil, got bool"),
        (job_in(schema="{}"), "job acme/e 'schema' must be a map, a boolean or nil, got str"),
        (job_in(abi="native"), "job acme/e 'abi' must be one of auto, jobicolet, wasi, got 'native'"),
        ({"version": 1, "tenants": {"acme": {"events": {}, "packages": {"p": {"limits": {"rate": "1"}}}}}},
         "limits 'rate' must be a number, got str"),
    ],
)
def test_a_catalog_off_the_contract_names_the_field(document: object, message: str) -> None:
    with pytest.raises(UserError, match=message):
        api.Catalog.from_wire(document)
    with pytest.raises(BadReply, match="'catalog' answered off contract"):
        api.catalog.decode(document)


def test_bad_package_requests_and_replies_name_the_field() -> None:
    assert api.ListPackages.from_wire({}) == api.ListPackages() and api.ListPackages().to_wire() == {}
    with pytest.raises(UserError, match="tenant 'Acme' is not a valid id"):
        api.ListPackages.from_wire({"tenant": "Acme"})
    with pytest.raises(UserError, match="params 'tenant' must be a string or nil, got int"):
        api.ListPackages.from_wire({"tenant": 7})
    good = api.PackageStatus("acme", "p", "tenants/acme/p.toml", None, None, "error", (), (),
                             (api.Problem("tenants/acme/p.toml", None, "invalid TOML"),)).to_wire()
    with pytest.raises(BadReply, match=r"packages\[1\]: package 'state' must be one of ok, stale, error"):
        api.packages.decode([good, {**good, "state": "fine"}])
    with pytest.raises(BadReply, match=r"packages\[0\]: package.errors\[0\]: error 'line'"):
        api.packages.decode([{**good, "errors": [{"file": "x", "line": "2", "message": "m"}]}])


class FlakyCtl:
    """ctl's catalog stream, as raw documents: version 1 (and the stream ends, as when ctl
    restarts), then a version off the contract, then version 3."""

    def __init__(self) -> None:
        self.streams = 0

    def methods(self) -> Methods:
        return Methods().stream(raw_stream(api.catalog_stream.name), self.catalogs)

    async def catalogs(self, request: Raw) -> AsyncGenerator[Raw, None]:
        self.streams += 1
        if self.streams == 1:
            yield Raw({"version": 1, "tenants": {}})
            return
        if self.streams == 2:
            yield Raw({"version": 2, "tenants": []})
        else:
            yield Raw({"version": 3, "tenants": {"acme": {"events": {"e": {"package": "p"}}}}})
        await trio.sleep_forever()


@pytest.mark.trio
async def test_a_follower_gets_typed_versions_and_never_one_off_the_contract(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    adopted: list[api.Catalog] = []
    third = trio.Event()

    async def adopt(catalog: api.Catalog) -> None:
        adopted.append(catalog)
        if catalog.version == 3:
            third.set()

    connect = functools.partial(trio_shell.connect, tmp_path / "ctl.sock", timeout=1)
    with trio.fail_after(20), caplog.at_level(logging.INFO, "test.ctl"):
        async with trio.open_nursery() as nursery:
            await nursery.start(trio_shell.serve, tmp_path / "ctl.sock", FlakyCtl().methods())
            nursery.start_soon(api.follow_catalog, connect, adopt, logging.getLogger("test.ctl"))
            await third.wait()
            nursery.cancel_scope.cancel()
    assert [c.version for c in adopted] == [1, 3]
    assert adopted[1].job("acme", "e") == api.Job("acme", "p", "e")
    assert any("catalog 'tenants' must be a map, got list" in r.message for r in caplog.records)
