"""Build a tenant's live packages from its files, keeping the last good version of each.

Pure: the input is the tenant's files (listed, read lazily and capped), the
previous state and a ``Checker``; the output is the new state plus the module
bytes its new versions name. Granularity is the package: a broken package keeps
its last good version while the others update, and a package is never
half-applied (all its jobs or none).

Cross-package rules run last, in package file-name order so the outcome is
deterministic: an event name is unique within a tenant (the later package is
the one in error) and every ``on_ok``/``on_error`` names an event of the tenant.
A package that breaks a rule falls back to its previous version, if that one
fits, else it is not live.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from jobico import caps
from jobico.ctl.packages import Job, Package, parse_package
from jobico.ctl.problems import Problem, ProblemsError
from jobico.ctl.validate import Checker, CheckFailed, resolve_abi
from jobico.repo.files import UnusableFile, over_limit, sha256_bytes

# What each use of a file may read at most: checked before reading.
CAPS = {"package": caps.MAX_PACKAGE_BYTES, "schema": caps.MAX_SCHEMA_BYTES, "wasm": caps.MAX_WASM_BYTES}


@runtime_checkable
class TenantFiles(Protocol):
    """A tenant's files: every listed path, and their bytes on demand (ctl's ``DiskFiles``)."""

    def __iter__(self) -> Iterator[str]: ...

    def read(self, path: str, cap: int) -> bytes:
        """The file's bytes, never reading more than ``cap``.

        Errors: KeyError when it is not there; UnusableFile saying why it cannot be used.
        """
        ...


@dataclass(frozen=True, slots=True)
class MemoryFiles:
    """Files already in memory, path -> bytes: each use's cap is checked on their length."""

    tenant: str
    files: Mapping[str, bytes]

    def __iter__(self) -> Iterator[str]:
        return iter(self.files)

    def read(self, path: str, cap: int) -> bytes:
        data = self.files[path]
        if len(data) > cap:
            raise over_limit(self.tenant, path, len(data), cap)
        return data


@dataclass(frozen=True, slots=True)
class LoadedPackage:
    """One good version of a package. ``digest`` covers the TOML and every file it names."""

    tenant: str
    package: Package
    version: int
    digest: str
    files: tuple[tuple[str, str], ...]
    jobs: Mapping[str, dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        pkg = self.package
        return {
            "file": pkg.file,
            "name": pkg.name,
            "version": self.version,
            "events": sorted(self.jobs),
            "files": [{"path": p, "sha256": s} for p, s in self.files],
            "limits": {k: getattr(pkg.limits, k) for k in pkg.limits.__slots__},
        }


@dataclass(frozen=True, slots=True)
class TenantState:
    """Live packages, the problems of each package file, and which files are packages."""

    packages: Mapping[str, LoadedPackage] = field(default_factory=dict)
    problems: Mapping[str, tuple[Problem, ...]] = field(default_factory=dict)
    package_files: Mapping[str, str] = field(default_factory=dict)

    def events(self) -> dict[str, dict[str, Any]]:
        return {ev: job for p in self.packages.values() for ev, job in p.jobs.items()}

    def versions(self) -> dict[str, int]:
        return {name: p.version for name, p in self.packages.items()}


def display(tenant: str, path: str) -> str:
    """How problems name a tenant file: relative to the home."""
    return f"tenants/{tenant}/{path}"


def package_files(paths: TenantFiles) -> dict[str, str]:
    """Package id -> path for every ``*.toml`` at the top of a tenant folder."""
    return {p[: -len(".toml")]: p for p in sorted(paths) if p.endswith(".toml") and "/" not in p}


def _job_document(tenant: str, pkg: Package, job: Job, refs: dict[str, Any]) -> dict[str, Any]:
    return {
        "tenant": tenant,
        "package": pkg.id,
        "event": job.event,
        "schema": refs["schema"],
        "schema_sha256": refs["schema_sha256"],
        "wasm": job.wasm,
        "module_sha256": refs["module_sha256"],
        "abi": refs["abi"],
        "entry": job.entry,
        "timeout_ms": job.timeout_ms,
        "memory_mb": job.memory_mb,
        "max_attempts": job.max_attempts,
        "on_ok": job.on_ok,
        "on_error": job.on_error,
        "secret": pkg.webhook.secret,
        "max_body_kb": pkg.webhook.max_body_kb,
        "max_items": pkg.webhook.max_items,
    }


def _file_problem(tenant: str, pkg: Package, job: Job, key: str, reason: str) -> ProblemsError:
    """A problem of the file a job names, pointing back at the job that uses it."""
    where = f"{pkg.file}:{job.line_of(key)}" if job.line_of(key) else pkg.file
    msg = f"{reason} (used by event {job.event!r} at {where})"
    return ProblemsError([Problem(display(tenant, getattr(job, key)), None, msg)])


def _resolve_job(
    tenant: str,
    pkg: Package,
    job: Job,
    files: TenantFiles,
    checker: Checker,
    used: dict[str, bytes],
) -> dict[str, Any]:
    """The job's schema, module hash and ABI. Errors: ProblemsError naming the file."""
    refs: dict[str, Any] = {"schema": None, "schema_sha256": None}
    for key in ("schema", "wasm"):
        path = getattr(job, key)
        if path is None:
            continue
        try:
            data = used[path] = files.read(path, CAPS[key])
        except KeyError:
            msg = f"jobs.{key}: file {path!r} not found in tenant {tenant!r}"
            raise ProblemsError([Problem(pkg.file, job.line_of(key), msg)]) from None
        except UnusableFile as e:
            raise _file_problem(tenant, pkg, job, key, e.reason) from None
        try:
            if key == "schema":
                refs.update(schema=checker.schema(data), schema_sha256=sha256_bytes(data))
            else:
                refs.update(abi=resolve_abi(job, checker.exports(data)))
                refs["module_sha256"] = sha256_bytes(data)
        except CheckFailed as e:
            raise _file_problem(tenant, pkg, job, key, str(e)) from None
    return _job_document(tenant, pkg, job, refs)


def load_package(
    tenant: str,
    package_id: str,
    path: str,
    files: TenantFiles,
    checker: Checker,
    previous: LoadedPackage | None,
) -> LoadedPackage:
    """Parse and check one package file; reuse ``previous`` when nothing it uses changed.

    Errors: ProblemsError with every problem found (parsing) or the first bad reference.
    """
    try:
        text = files.read(path, CAPS["package"])
    except KeyError:  # deleted or replaced while loading: the next change rebuilds it
        raise ProblemsError([Problem(display(tenant, path), None, "file could not be read")]) from None
    except UnusableFile as e:
        raise ProblemsError([Problem(display(tenant, path), None, e.reason)]) from None
    pkg = parse_package(display(tenant, path), package_id, text)
    used: dict[str, bytes] = {path: text}
    jobs = {job.event: _resolve_job(tenant, pkg, job, files, checker, used) for job in pkg.jobs}
    hashes = tuple(sorted((p, sha256_bytes(data)) for p, data in used.items()))
    digest = sha256_bytes(repr(hashes).encode())
    if previous is not None and previous.digest == digest:
        return previous
    version = previous.version + 1 if previous else 1
    return LoadedPackage(tenant, pkg, version, digest, hashes, jobs)


def _claim(
    options: dict[str, list[LoadedPackage]],
    excluded: set[tuple[str, int]],
    candidates: dict[str, LoadedPackage],
) -> tuple[dict[str, LoadedPackage], dict[str, str], dict[str, list[Problem]]]:
    """In package order, the first option of each whose events are still free."""
    chosen: dict[str, LoadedPackage] = {}
    claimed: dict[str, str] = {}  # event -> package
    clashes: dict[str, list[Problem]] = {}
    for name, opts in options.items():
        for opt in opts:
            if (name, opt.version) in excluded:
                continue
            taken = sorted(ev for ev in opt.jobs if ev in claimed)
            if not taken:
                chosen[name] = opt
                claimed.update(dict.fromkeys(opt.jobs, name))
                break
            if opt is candidates.get(name):
                clashes[name] = [
                    _problem(opt, ev, f"event {ev!r} is already defined by package {claimed[ev]!r}")
                    for ev in taken
                ]
    return chosen, claimed, clashes


def _unmet_targets(loaded: LoadedPackage, events: Mapping[str, str]) -> list[Problem]:
    return [
        _problem(loaded, ev, f"event {ev!r}: {key} target {job[key]!r} is not an event of this tenant")
        for ev, job in loaded.jobs.items()
        for key in ("on_ok", "on_error")
        if job[key] is not None and job[key] not in events
    ]


def _select(
    candidates: dict[str, LoadedPackage], previous: Mapping[str, LoadedPackage]
) -> tuple[dict[str, LoadedPackage], dict[str, list[Problem]]]:
    """Choose one version per package that satisfies the cross-package rules.

    An option whose targets are missing is excluded and the claim redone, since
    dropping it may free or remove events others rely on. Each round excludes at
    least one more option, so this ends.
    """
    options = {
        name: [o for o in (candidates.get(name), previous.get(name)) if o is not None]
        for name in sorted(candidates.keys() | previous.keys())
    }
    excluded: set[tuple[str, int]] = set()
    unmet: dict[str, list[Problem]] = {}
    while True:
        chosen, claimed, clashes = _claim(options, excluded, candidates)
        newly = set()
        for name, opt in chosen.items():
            if problems := _unmet_targets(opt, claimed):
                newly.add((name, opt.version))
                if opt is candidates.get(name):
                    unmet[name] = problems
        if not newly:
            return chosen, {n: unmet.get(n, []) + clashes.get(n, []) for n in unmet | clashes}
        excluded |= newly


def _problem(loaded: LoadedPackage, event: str, message: str) -> Problem:
    job = next(j for j in loaded.package.jobs if j.event == event)
    return Problem(loaded.package.file, job.line_of("event"), message)


def build_tenant(
    tenant: str, files: TenantFiles | Mapping[str, bytes], previous: TenantState, checker: Checker
) -> tuple[TenantState, dict[str, bytes]]:
    """The tenant's new state, and the module bytes (by sha256) its live jobs run.

    ``files`` is read lazily and capped per use (``TenantFiles``); a plain
    mapping of path -> bytes, already in memory, is taken as ``MemoryFiles``.
    """
    if not isinstance(files, TenantFiles):
        files = MemoryFiles(tenant, files)
    pkg_files = package_files(files)
    candidates: dict[str, LoadedPackage] = {}
    problems: dict[str, list[Problem]] = {}
    for name, path in pkg_files.items():
        try:
            candidates[name] = load_package(tenant, name, path, files, checker, previous.packages.get(name))
        except ProblemsError as e:
            problems[name] = list(e.problems)
    kept_previous = {n: p for n, p in previous.packages.items() if n in pkg_files}
    chosen, notes = _select(candidates, kept_previous)
    for name, extra in notes.items():
        problems.setdefault(name, []).extend(extra)
    modules = {
        job["module_sha256"]: files.read(job["wasm"], CAPS["wasm"])
        for loaded in chosen.values()
        if loaded is candidates.get(loaded.package.id)
        for job in loaded.jobs.values()
    }
    state = TenantState(chosen, {n: tuple(p) for n, p in problems.items()}, pkg_files)
    return state, modules
