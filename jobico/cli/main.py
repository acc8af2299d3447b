"""Console entry point: registers every command group, translates errors once into exit codes."""

from __future__ import annotations

import os
import sys

import typer

from jobico.cli import (  # noqa: F401 - register commands
    admin,
    catalog,
    events,
    guest,
    lifecycle,
    logs,
    records,
)
from jobico.cli.app import EXIT_ERROR, EXIT_NOT_RUNNING, NotRunning, app, order_panels
from jobico.cli.visible import visible
from jobico.errors import JobicoError
from jobico.private import UMASK


def main() -> None:
    """Every deliberate error becomes one line on stderr and its exit code (SPEC §6):
    1 for an error, 3 when the home is not running; click exits 2 for a usage error."""
    order_panels()
    os.umask(UMASK)  # what the CLI writes (pids.json, the lock, state) is the user's alone
    try:
        app(prog_name="jobico")
    except JobicoError as exc:
        typer.echo(f"error: {visible(str(exc), multiline=True)}", err=True)  # may quote a guest or sender
        sys.exit(EXIT_NOT_RUNNING if isinstance(exc, NotRunning) else EXIT_ERROR)


if __name__ == "__main__":
    main()
