"""What ctl serves, derived from the tenants' states and nothing else: the catalog and the
package list (their types are ``jobico.ctl.api``'s)."""

from __future__ import annotations

from collections.abc import Mapping

from jobico.ctl import api
from jobico.ctl.catalog import TenantState


def catalog_of(version: int, tenants: Mapping[str, TenantState]) -> api.Catalog:
    """Version ``version`` of the catalog, tenants and packages sorted by name.

    Tenants with no live package are left out: their events do not exist.
    """
    return api.Catalog(version, {
        name: api.TenantCatalog(
            state.events(),
            {p: loaded.summary() for p, loaded in sorted(state.packages.items())},
        )
        for name, state in sorted(tenants.items())
        if state.packages
    })


def package_list(tenants: Mapping[str, TenantState], tenant: str | None = None) -> api.PackageList:
    """One status per package file (loaded or not), sorted by tenant then package."""
    statuses = []
    for name, state in sorted(tenants.items()):
        if tenant not in (None, name):
            continue
        for package, path in sorted(state.package_files.items()):
            loaded = state.packages.get(package)
            errors = state.problems.get(package, ())
            summary = loaded.summary() if loaded else None
            statuses.append(api.PackageStatus(
                tenant=name,
                package=package,
                file=f"tenants/{name}/{path}",
                name=summary.name if summary else None,
                version=summary.version if summary else None,
                state=("error" if not loaded else "stale") if errors else "ok",
                files=summary.files if summary else (),
                events=summary.events if summary else (),
                errors=tuple(errors),
            ))
    return api.PackageList(tuple(statuses))
