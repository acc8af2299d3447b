"""The ctl component: follow repo's file changes, rebuild tenants, publish the catalog.

Its contract is ``jobico.ctl.api`` (``catalog``, stream ``catalog``,
``packages``), answered as ``methods`` lists.

ctl builds once from disk at start (so it serves a catalog even before repo is
up), then follows repo's ``changes`` stream, reconnecting when repo restarts.
Changes only mark tenants dirty; the builder rebuilds each dirty tenant in a
worker thread of its own (at most ``BUILDERS`` at once, one per tenant), so a
burst of events costs one build, changes that arrive during a build are picked
up by the next one, and a tenant whose modules take long to compile (up to
``executor.compile_timeout_ms`` each) delays no other tenant's reload. Each
finished tenant publishes a new version when its live packages changed.

Before a version is published, the modules it names are written to
``.jobico/blobs/<sha256>.wasm``: an executor still on an older catalog finds
its exact module. Blobs nothing can need any more are removed by the builder,
after each build and at least every grace period (the rule is in ``ctl/blobs.py``).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Iterable, Iterator
from pathlib import Path
from typing import Any

import trio

from jobico.ctl import api, blobs
from jobico.ctl.blobs import Blobs
from jobico.ctl.catalog import TenantState, build_tenant
from jobico.ctl.documents import catalog_of, package_list
from jobico.ctl.validate import Checker
from jobico.errors import NotFound
from jobico.executor.compiler import CompileLimits
from jobico.executor.engine import Runtime, artifact_cache
from jobico.repo import api as repo_api
from jobico.repo.files import list_files, read_file
from jobico.rpc.api import EMPTY, Empty
from jobico.rpc.dispatch import Methods
from jobico.rpc.follow import follow

BUILDERS = 4  # tenants built at once: compiling happens in child processes, so threads mostly wait


class DiskFiles:
    """A tenant's files as repo listed them, read lazily: a build reads only what its packages name.

    Each read is capped by its use (``TenantFiles.read``). A file deleted since
    it was listed is absent; its deletion is on its way and will trigger the
    next build. Reads are remembered, so one build sees one version of a file.
    """

    def __init__(self, tenants: Path, tenant: str, paths: Iterable[str]) -> None:
        self._tenants, self._tenant, self._paths = tenants, tenant, frozenset(paths)
        self._read: dict[tuple[str, int], bytes] = {}

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def read(self, path: str, cap: int) -> bytes:
        """Errors: KeyError when not listed or gone; UnusableFile saying why it cannot be used."""
        if path not in self._paths:
            raise KeyError(path)
        if (path, cap) not in self._read:
            try:
                self._read[path, cap] = read_file(self._tenants, self._tenant, path, cap)
            except NotFound:
                raise KeyError(path) from None
        return self._read[path, cap]


class CtlService:
    """Owns the catalog: tenant states, the published version and its subscribers."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx
        self._log = ctx.log
        self._tenants_dir: Path = ctx.home.tenants
        self._blobs = Blobs(ctx.home.blobs, grace_s=blobs.GRACE_S)
        # what it compiles goes to the executors' artifact cache: they load it, not compile it again
        limits = CompileLimits.of(ctx.config.executor)
        self._checker = Checker(Runtime(limits=limits, cache=artifact_cache(ctx.home.cache)))
        # tenant -> path -> (sha256, error), as repo sees it: what changes triggers a build
        self._files: dict[str, dict[str, tuple[str | None, str | None]]] = {}
        self._states: dict[str, TenantState] = {}
        self._catalog = api.EMPTY_CATALOG
        self._published = trio.Event()
        self._dirty: set[str] = set()
        self._building: set[str] = set()
        self._builders = trio.CapacityLimiter(BUILDERS)
        self._wake = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Build from disk, report ready, then follow repo until cancelled."""
        listing = await trio.to_thread.run_sync(list_files, self._tenants_dir)
        self._set_snapshot(listing)
        await self._build_dirty()
        task_status.started()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._builder)
            await follow(functools.partial(self._ctx.connect, "repo"),
                         functools.partial(repo_api.changes, request=EMPTY), self._on_change,
                         log=self._log, what="repo changes")

    # --- following repo ---------------------------------------------------------

    async def _on_change(self, item: repo_api.Snapshot | repo_api.FileChange) -> None:
        if isinstance(item, repo_api.Snapshot):
            self._set_snapshot(item.files)
        else:
            self._apply_change(item)

    def _set_snapshot(self, files: Iterable[repo_api.FileInfo]) -> None:
        fresh: dict[str, dict[str, tuple[str | None, str | None]]] = {}
        for f in files:
            fresh.setdefault(f.tenant, {})[f.path] = (f.sha256, f.error)
        self._mark({t for t in fresh.keys() | self._files.keys() if fresh.get(t) != self._files.get(t)})
        self._files = fresh

    def _apply_change(self, change: repo_api.FileChange) -> None:
        tenant_files = self._files.setdefault(change.tenant, {})
        state = (change.sha256, change.error)
        if state == (None, None):  # deleted
            tenant_files.pop(change.path, None)
        else:
            tenant_files[change.path] = state
        self._mark({change.tenant})

    def _mark(self, tenants: set[str]) -> None:
        if tenants:
            self._dirty |= tenants
            self._wake.set()

    # --- building ---------------------------------------------------------------

    async def _builder(self) -> None:
        """Start a build for each dirty tenant not being built; collect blobs whenever no
        build is going, after builds and at least every grace period.

        Collecting only then keeps a blob written for a version that is not
        published yet out of the collector's way.
        """
        async with trio.open_nursery() as nursery:
            while True:
                with trio.move_on_after(self._blobs.grace_s):
                    await self._wake.wait()
                if self._wake.is_set():
                    self._wake = trio.Event()
                    for tenant in sorted(self._dirty - self._building):
                        self._building.add(tenant)
                        nursery.start_soon(self._build_and_publish, tenant)
                if not self._building:
                    removed = await trio.to_thread.run_sync(self._blobs.collect)
                    if removed:
                        self._log.info("removed %d unused blobs", len(removed))

    async def _build_and_publish(self, tenant: str) -> None:
        try:
            self._publish({tenant: await self._build(tenant)})
        finally:
            self._building.discard(tenant)
            self._wake.set()  # collect, and rebuild it if it changed meanwhile

    async def _build(self, tenant: str) -> TenantState:
        """Rebuild ``tenant`` from its files now, in a worker thread.

        Cancellation: the worker thread finishes its build; the result is dropped.
        """
        self._dirty.discard(tenant)
        files = DiskFiles(self._tenants_dir, tenant, list(self._files.get(tenant, {})))  # a copy
        previous = self._states.get(tenant, TenantState())

        def build() -> TenantState:
            state, modules = build_tenant(tenant, files, previous, self._checker)
            self._blobs.store(modules)
            return state

        async with self._builders:
            return await trio.to_thread.run_sync(build)

    async def _build_dirty(self) -> None:
        """Rebuild every dirty tenant (at once, up to ``BUILDERS``), then publish one version."""
        built: dict[str, TenantState] = {}

        async def one(tenant: str) -> None:
            built[tenant] = await self._build(tenant)

        async with trio.open_nursery() as nursery:
            for tenant in sorted(self._dirty):
                nursery.start_soon(one, tenant)
        self._publish(built)

    def _publish(self, built: dict[str, TenantState]) -> None:
        """Take in rebuilt tenant states; publish a new version if any live package changed."""
        changed = False
        for tenant, state in built.items():
            old = self._states.get(tenant, TenantState())
            changed |= state.versions() != old.versions()
            for name, problems in state.problems.items():
                if problems != old.problems.get(name):
                    for problem in problems:
                        self._log.warning("%s", problem)
            if state.package_files:
                self._states[tenant] = state
            else:
                self._states.pop(tenant, None)
        if changed:
            self._catalog = catalog_of(self._catalog.version + 1, self._states)
            self._blobs.published(self._catalog)
            self._log.info("catalog version %d", self._catalog.version)
            self._published.set()
            self._published = trio.Event()

    # --- RPC ----------------------------------------------------------------------

    def methods(self) -> Methods:
        return (Methods()
                .call(api.catalog, self.catalog)
                .stream(api.catalog_stream, self.catalog_stream)
                .call(api.packages, self.packages))

    async def status(self) -> dict[str, Any]:
        errors = sum(len(p) for s in self._states.values() for p in s.problems.values())
        return {"version": self._catalog.version, "tenants": len(self._states), "errors": errors}

    async def catalog(self, request: Empty) -> api.Catalog:
        return self._catalog

    async def packages(self, request: api.ListPackages) -> api.PackageList:
        return package_list(self._states, request.tenant)

    async def catalog_stream(self, request: Empty) -> AsyncGenerator[api.Catalog, None]:
        """The current catalog, then each newer one (a slow reader skips to the latest)."""
        while True:
            published = self._published
            yield self._catalog
            await published.wait()
