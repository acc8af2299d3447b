"""packages, deploy, upload, import: what a tenant's folder holds and how files get in."""

from __future__ import annotations

import time
import tomllib
from pathlib import Path
from typing import Annotated

import typer

from jobico.cli.app import (
    PACKAGES_PANEL,
    HomeOption,
    JsonOption,
    NotRunning,
    OptTenant,
    TenantOption,
    ask,
    command,
    home_of,
    print_json,
    print_table,
)
from jobico.cli.visible import visible
from jobico.ctl import api as ctl_api
from jobico.errors import UserError
from jobico.home import Home
from jobico.repo import api as repo_api
from jobico.repo import files

FileArgument = Annotated[Path, typer.Argument(help="Local file to install.", exists=True,
                                              dir_okay=False, readable=True)]
AsOption = Annotated[str | None, typer.Option("--as", help="Name inside the tenant folder.")]
PICKUP_S = 5.0


@command(PACKAGES_PANEL, "jobico packages --tenant demo")
def packages(
    home: HomeOption = None,
    tenant: OptTenant = None,
    json: JsonOption = False,
) -> None:
    """Loaded packages with their version, files and last load error."""
    where = home_of(home)
    listed = ask(where, "ctl", ctl_api.packages, ctl_api.ListPackages(tenant or None))
    if json:
        print_json(listed.to_wire())
        return
    rows = []
    for doc in listed.packages:
        errors = "; ".join(_shown(e) for e in doc.errors)
        rows.append((doc.tenant, doc.package, doc.version, ", ".join(doc.events), errors or "ok"))
    print_table(["tenant", "package", "version", "events", "status"], rows)


def _install(home: Home, tenant: str, name: str, data: bytes) -> str:
    """Through repo when the platform runs (it hashes and publishes at once), else on disk."""
    try:
        return ask(home, "repo", repo_api.upload, repo_api.Upload(tenant, name, data)).sha256
    except NotRunning:
        return files.write_file(home.tenants, tenant, name, data)


def _shown(error: ctl_api.Problem) -> str:
    return f"{error.file}:{error.line or ''} {error.message}"


def _load_errors(home: Home, tenant: str, name: str) -> tuple[list[ctl_api.Problem], str | None]:
    """ctl's errors naming the file, and the sha256 it loaded the file with (None if not loaded).

    Errors: ``NotRunning`` when the platform is not up.
    """
    shown = f"tenants/{tenant}/{name}"  # how ctl names files in errors (ctl.catalog.display)
    errors: list[ctl_api.Problem] = []
    loaded = None
    for doc in ask(home, "ctl", ctl_api.packages, ctl_api.ListPackages(tenant)).packages:
        errors += [e for e in doc.errors if e.file in (name, shown)]
        loaded = loaded or next((f.sha256 for f in doc.files if f.path == name), None)
    return errors, loaded


def _report_load(home: Home, tenant: str, name: str, sha: str,
                 before: list[ctl_api.Problem]) -> list[ctl_api.Problem]:
    """Wait briefly for ctl to load the file and return its errors (none when not running).

    ``before`` are the file's errors from before the install: seen again, they may be
    stale (ctl not done yet), so only the file loaded at ``sha`` or new errors end the wait.
    """
    deadline = time.monotonic() + PICKUP_S
    errors = before
    while time.monotonic() < deadline:
        try:
            errors, loaded = _load_errors(home, tenant, name)
        except NotRunning:
            return []
        if loaded == sha or (errors and errors != before):
            return errors
        time.sleep(0.1)
    return errors


def _install_and_report(home: Home, tenant: str, name: str, data: bytes, json: bool) -> None:
    """Install the file, then print ctl's verdict on it; exit 1 on a load error."""
    files.check_id(tenant)
    try:
        before = _load_errors(home, tenant, name)[0]
    except NotRunning:
        before = []
    sha = _install(home, tenant, name, data)
    errors = _report_load(home, tenant, name, sha, before)
    if json:
        print_json({"tenant": tenant, "path": name, "sha256": sha, "errors": [e.to_wire() for e in errors]})
    else:
        typer.echo(f"installed tenants/{tenant}/{name} (sha256 {sha[:12]})")
        for e in errors:
            typer.echo(visible(f"load error: {_shown(e)}"), err=True)
    if errors:
        raise typer.Exit(1)


@command(PACKAGES_PANEL, "jobico deploy signup.toml --tenant acme")
def deploy(
    file: FileArgument, tenant: TenantOption, home: HomeOption = None, name: AsOption = None,
    json: JsonOption = False,
) -> None:
    """Install a package (TOML) into the tenant folder, atomically."""
    where = home_of(home)
    data = file.read_bytes()
    target = name or file.name
    if not target.endswith(".toml"):
        raise UserError(f"{file}: a package must be a .toml file (use `jobico upload` for others)")
    try:
        tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UserError(f"{file}: not valid TOML: {exc}") from None
    _install_and_report(where, tenant, target, data, json)


@command(PACKAGES_PANEL, "jobico upload greet.wasm --tenant acme")
def upload(
    file: FileArgument, tenant: TenantOption, home: HomeOption = None, name: AsOption = None,
    json: JsonOption = False,
) -> None:
    """Install a schema, wasm or any other file into the tenant folder, atomically."""
    where = home_of(home)
    target = name or file.name
    _install_and_report(where, tenant, target, file.read_bytes(), json)


@command(PACKAGES_PANEL, "jobico import customer-jobs.yml --tenant acme", name="import")
def import_yaml(
    file: FileArgument, tenant: TenantOption, home: HomeOption = None, json: JsonOption = False,
) -> None:
    """Convert an original Jobico package YAML into tenants/T/<id>.toml."""
    from jobico.ctl.importer import convert

    where = home_of(home)
    package_id, text = convert(file.read_text(encoding="utf-8"), source=str(file))
    name = f"{package_id}.toml"
    _install_and_report(where, tenant, name, text.encode(), json)
