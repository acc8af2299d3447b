"""The shapes ctl sends over RPC: the catalog document and package documents.

Both are plain data (docs/internals.md, "Catalog document" and ctl's
``packages``), derived from the tenants' states and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jobico.ctl.catalog import TenantState


def catalog_document(version: int, tenants: Mapping[str, TenantState]) -> dict[str, Any]:
    """``{"version", "tenants": {tenant: {"events": {event: job}, "packages": {...}}}}``.

    Tenants with no live package are left out: their events do not exist.
    """
    return {
        "version": version,
        "tenants": {
            name: {
                "events": state.events(),
                "packages": {p: loaded.summary() for p, loaded in sorted(state.packages.items())},
            }
            for name, state in sorted(tenants.items())
            if state.packages
        },
    }


def package_documents(tenants: Mapping[str, TenantState], tenant: str | None = None) -> list[dict[str, Any]]:
    """One document per package file (loaded or not), sorted by tenant then package.

    ``version`` is the live version (None when none ever loaded); ``errors`` are
    the problems of the file as it is now, while that live version keeps serving.
    """
    docs = []
    for name, state in sorted(tenants.items()):
        if tenant not in (None, name):
            continue
        for package, path in sorted(state.package_files.items()):
            loaded = state.packages.get(package)
            errors = [p.as_dict() for p in state.problems.get(package, ())]
            docs.append(
                {
                    "tenant": name,
                    "package": package,
                    "file": f"tenants/{name}/{path}",
                    "name": loaded.package.name if loaded else None,
                    "version": loaded.version if loaded else None,
                    "state": ("error" if not loaded else "stale") if errors else "ok",
                    "files": loaded.summary()["files"] if loaded else [],
                    "events": sorted(loaded.jobs) if loaded else [],
                    "errors": errors,
                }
            )
    return docs
