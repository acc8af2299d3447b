"""Console entry point: registers every command group, translates errors once."""

from __future__ import annotations

import sys

import typer

from jobico.cli import catalog, events, guest, lifecycle, records  # noqa: F401 - register commands
from jobico.cli.app import app
from jobico.cli.visible import visible
from jobico.errors import JobicoError


def main() -> None:
    """Every deliberate error becomes one line on stderr and exit code 1."""
    try:
        app()
    except JobicoError as exc:
        typer.echo(f"error: {visible(str(exc), multiline=True)}", err=True)  # may quote a guest or sender
        sys.exit(1)


if __name__ == "__main__":
    main()
