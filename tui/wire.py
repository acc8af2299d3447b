"""Turn the documents that cross the sockets (docs/internals.md) into screen data.

Pure functions, so the mapping is tested without a platform. Fields the
platform leaves out get neutral defaults instead of crashing a screen: the
dashboard must keep drawing while components are upgraded one at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from tui.source import (
    Catalog,
    EventInfo,
    LoadError,
    LogLine,
    PackageInfo,
    Record,
)

BlobInfo = Callable[[str], tuple[int, tuple[str, ...]] | None]


def text(value: Any) -> str:
    """Bytes from the wire as text (invalid UTF-8 replaced), anything else via str."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def accepted_total(listeners: Iterable[Mapping[str, Any]]) -> int | None:
    """Events accepted since start by every listener (their ``status`` ``accepted``
    counters per tenant); None when no listener answered."""
    counts = [sum(s["accepted"].values()) for s in listeners if "accepted" in s]
    return sum(counts) if counts else None


def runs_by_status(stats: Mapping[str, Any]) -> dict[str, int]:
    """Runs since start by status, summed over the tenants of recorder ``stats``."""
    total: dict[str, int] = {}
    for tenant in stats.get("tenants", {}).values():
        for status, n in tenant.get("counts", {}).items():
            total[status] = total.get(status, 0) + int(n)
    return total


def load_error(raw: Any, default_file: str) -> LoadError:
    if isinstance(raw, Mapping):
        return LoadError(
            file=str(raw.get("file") or default_file),
            reason=str(raw.get("reason") or raw.get("message") or raw),
            line=raw.get("line"),
        )
    return LoadError(file=default_file, reason=str(raw))


def _event(job: Mapping[str, Any], blob_info: BlobInfo) -> EventInfo:
    sha = str(job.get("module_sha256", ""))
    size, exports = job.get("wasm_size"), tuple(job.get("exports", ()))
    if (size is None or not exports) and sha:
        size, exports = blob_info(sha) or (size, exports)
    return EventInfo(
        tenant=str(job["tenant"]),
        package=str(job["package"]),
        event=str(job["event"]),
        schema=job.get("schema"),
        schema_file=job.get("schema_file"),
        wasm=str(job.get("wasm", "")),
        module_sha256=sha,
        abi=str(job.get("abi", "")),
        size=size,
        exports=exports,
    )


def catalog(
    document: Mapping[str, Any],
    packages: Iterable[Mapping[str, Any]] = (),
    blob_info: BlobInfo = lambda sha: None,
) -> Catalog:
    """Merge the live catalog with ctl's package list (which also names failed loads)."""
    events: dict[tuple[str, str], list[EventInfo]] = {}
    versions: dict[tuple[str, str], str | None] = {}
    for tenant, doc in document.get("tenants", {}).items():
        for pkg, meta in doc.get("packages", {}).items():
            versions[(tenant, pkg)] = _version(meta)
        for job in doc.get("events", {}).values():
            info = _event({"tenant": tenant, **job}, blob_info)
            events.setdefault((tenant, info.package), []).append(info)
    docs = {(str(p["tenant"]), str(p.get("package") or p.get("id"))): p for p in packages}
    result = []
    for key in sorted(events.keys() | docs.keys() | versions.keys()):
        tenant, pkg = key
        doc = docs.get(key, {})
        file = str(doc.get("file") or f"{pkg}.toml").removeprefix(f"tenants/{tenant}/")
        result.append(PackageInfo(
            tenant=tenant,
            package=pkg,
            file=file,
            version=_version(doc) or versions.get(key),
            events=tuple(sorted(events.get(key, ()), key=lambda e: e.event)),
            errors=tuple(load_error(e, file) for e in doc.get("errors", ()) or ()),
        ))
    return Catalog(version=int(document.get("version", 0)), packages=tuple(result))


def load_verdict(packages: Iterable[Mapping[str, Any]], tenant: str, name: str
                 ) -> tuple[tuple[LoadError, ...], str | None]:
    """ctl's ``packages`` on one tenant file: the load errors naming it, and the sha256
    a loaded package uses it at (None when none does). The same reading as the CLI's
    deploy/upload (jobico/cli/catalog.py ``_load_errors``)."""
    shown = f"tenants/{tenant}/{name}"  # how ctl names files in errors
    errors: list[LoadError] = []
    loaded = None
    for doc in packages:
        if doc.get("tenant") != tenant:
            continue
        errors += [load_error(e, name) for e in doc.get("errors", ()) or ()
                   if isinstance(e, Mapping) and e.get("file") in (name, shown)]
        files = {f.get("path"): f.get("sha256") for f in doc.get("files", ()) or ()
                 if isinstance(f, Mapping)}
        loaded = loaded or files.get(name)
    return tuple(errors), None if loaded is None else str(loaded)


def _version(meta: Any) -> str | None:
    if not isinstance(meta, Mapping):
        return None
    value = meta.get("version") or meta.get("sha256")
    return None if value is None else str(value)


def record(doc: Mapping[str, Any]) -> Record:
    started = str(doc.get("started_at", ""))
    return Record(
        id=str(doc["id"]),
        event_id=str(doc.get("event_id", "")),
        tenant=str(doc.get("tenant", "")),
        package=str(doc.get("package", "")),
        event=str(doc.get("event", "")),
        attempt=int(doc.get("attempt", 1)),
        status=str(doc.get("status", "")),
        started_at=started,
        duration_ms=float(doc.get("duration_ms", 0.0)),
        reason=doc.get("reason"),
        code=doc.get("code"),
        result=text(doc.get("result")),
        truncated=bool(doc.get("truncated", False)),
        logs=tuple(
            LogLine(str(x.get("level", "info")), text(x.get("message")), x.get("at") or started)
            for x in doc.get("logs", ())
        ),
        module_sha256=str(doc.get("module_sha256", "")),
        accepted_at=None if doc.get("accepted_at") is None else str(doc["accepted_at"]),
    )
