"""Shell completion of tenants, events and components, read from the home being typed against.

Completion runs on every Tab, so it only reads files (and asks ctl's catalog, which
answers in milliseconds, for events) and never fails: anything wrong completes nothing.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import typer

from jobico.cli.logfiles import components
from jobico.home import Home, open_home
from jobico.names import is_event, is_id


def _home(ctx: typer.Context) -> Home | None:
    """The ``--home`` typed so far, else the nearest home upward from here."""
    try:
        return open_home(ctx.params.get("home"))
    except Exception:  # completion never fails, whatever the half-typed line holds
        return None


def tenants(home: Home) -> list[str]:
    if not home.tenants.is_dir():
        return []
    return sorted(p.name for p in home.tenants.iterdir() if p.is_dir() and is_id(p.name))


def events(home: Home, tenant: str) -> list[str]:
    """The live catalog's events of ``tenant``, else those its package files name."""
    from jobico.cli.app import ask
    from jobico.ctl import api as ctl_api
    from jobico.rpc.api import EMPTY

    try:
        found = ask(home, "ctl", ctl_api.catalog, EMPTY, timeout=1.0).tenants.get(tenant)
        return sorted(found.events) if found is not None else []
    except Exception:  # not running: read the packages themselves
        return sorted({e for path in sorted((home.tenants / tenant).glob("*.toml"))
                       for e in _package_events(path)})


def _package_events(path: Path) -> list[str]:
    try:
        jobs = tomllib.loads(path.read_text(encoding="utf-8")).get("jobs", [])
        return [job["event"] for job in jobs if is_event(job.get("event", ""))]
    except Exception:  # a package being edited: it completes nothing
        return []


def complete_tenant(ctx: typer.Context, incomplete: str) -> list[str]:
    home = _home(ctx)
    return [t for t in tenants(home) if t.startswith(incomplete)] if home else []


def complete_event(ctx: typer.Context, incomplete: str) -> list[str]:
    home, tenant = _home(ctx), ctx.params.get("tenant")
    if home is None or not isinstance(tenant, str) or not is_id(tenant):
        return []
    return [e for e in events(home, tenant) if e.startswith(incomplete)]


def complete_component(ctx: typer.Context, incomplete: str) -> list[str]:
    home = _home(ctx)
    return [c for c in components(home.logs) if c.startswith(incomplete)] if home else []
