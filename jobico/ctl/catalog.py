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
from typing import Protocol, runtime_checkable

from jobico import caps
from jobico.ctl import api
from jobico.ctl.api import Problem
from jobico.ctl.packages import Job, Package, parse_package
from jobico.ctl.problems import ProblemsError
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
    jobs: Mapping[str, api.Job]

    def summary(self) -> api.PackageSummary:
        pkg = self.package
        files = tuple(api.PackageFile(path, sha) for path, sha in self.files)
        return api.PackageSummary(pkg.file, pkg.name, self.version, tuple(sorted(self.jobs)), files,
                                  pkg.limits)


@dataclass(frozen=True, slots=True)
class TenantState:
    """Live packages, the problems of each package file, and which files are packages."""

    packages: Mapping[str, LoadedPackage] = field(default_factory=dict)
    problems: Mapping[str, tuple[Problem, ...]] = field(default_factory=dict)
    package_files: Mapping[str, str] = field(default_factory=dict)

    def events(self) -> dict[str, api.Job]:
        return {ev: job for p in self.packages.values() for ev, job in p.jobs.items()}

    def versions(self) -> dict[str, int]:
        return {name: p.version for name, p in self.packages.items()}


def display(tenant: str, path: str) -> str:
    """How problems name a tenant file: relative to the home."""
    return f"tenants/{tenant}/{path}"


def package_files(paths: TenantFiles) -> dict[str, str]:
    """Package id -> path for every ``*.toml`` at the top of a tenant folder."""
    return {p[: -len(".toml")]: p for p in sorted(paths) if p.endswith(".toml") and "/" not in p}


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
) -> api.Job:
    """The job as the catalog says it: its schema, module hash and ABI resolved.

    Errors: ProblemsError naming the file.
    """
    schema, schema_sha = None, None
    if job.schema is not None:
        data = _use(tenant, pkg, job, "schema", files, used)
        try:
            schema, schema_sha = checker.schema(data), sha256_bytes(data)
        except CheckFailed as e:
            raise _file_problem(tenant, pkg, job, "schema", str(e)) from None
    data = _use(tenant, pkg, job, "wasm", files, used)
    try:
        abi = resolve_abi(job, checker.exports(data))
    except CheckFailed as e:
        raise _file_problem(tenant, pkg, job, "wasm", str(e)) from None
    hook = pkg.webhook
    return api.Job(tenant, pkg.id, job.event, schema, schema_sha, job.wasm, sha256_bytes(data), abi,
                   job.entry, job.timeout_ms, job.memory_mb, job.max_attempts, job.on_ok, job.on_error,
                   hook.secret, hook.max_body_kb, hook.max_items)


def _use(tenant: str, pkg: Package, job: Job, key: str, files: TenantFiles, used: dict[str, bytes]) -> bytes:
    """The bytes of the file the job names at ``key`` (capped for that use), noted in ``used``.

    Errors: ProblemsError naming the file, or the package line when it is not there.
    """
    path = getattr(job, key)
    try:
        data = used[path] = files.read(path, CAPS[key])
    except KeyError:
        msg = f"jobs.{key}: file {path!r} not found in tenant {tenant!r}"
        raise ProblemsError([Problem(pkg.file, job.line_of(key), msg)]) from None
    except UnusableFile as e:
        raise _file_problem(tenant, pkg, job, key, e.reason) from None
    return data


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
        _problem(loaded, ev, f"event {ev!r}: {key} target {target!r} is not an event of this tenant")
        for ev, job in loaded.jobs.items()
        for key, target in (("on_ok", job.on_ok), ("on_error", job.on_error))
        if target is not None and target not in events
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
        job.module_sha256: files.read(job.wasm, CAPS["wasm"])
        for loaded in chosen.values()
        if loaded is candidates.get(loaded.package.id)
        for job in loaded.jobs.values()
    }
    state = TenantState(chosen, {n: tuple(p) for n, p in problems.items()}, pkg_files)
    return state, modules
