"""The typer app and what every command shares: --home, --json, RPC calls, output.

Commands live in one module per group and register on ``app`` here; errors are
translated once, in ``main``, into a message on stderr and a non-zero exit.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any

import trio
import typer

from jobico.cli.visible import visible
from jobico.errors import JobicoError
from jobico.home import Home, open_home
from jobico.rpc import trio_shell
from jobico.rpc.errors import ConnectFailed

app = typer.Typer(
    name="jobico",
    help="Event-driven, multi-tenant, sandboxed WebAssembly jobs on your machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="Home folder (default: nearest folder upward with jobico.toml)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
TenantOption = Annotated[str, typer.Option("--tenant", "-t", help="Tenant id.")]


class NotRunning(JobicoError):
    """The home has no live supervisor; most commands need ``jobico up`` first."""


def home_of(path: Path | None) -> Home:
    return open_home(path)


def rpc(home: Home, component: str, method: str, params: Any = None, timeout: float = 30.0) -> Any:
    """One call to a component of a running home.

    Errors: ``NotRunning`` when nothing serves there; remote errors as raised.
    """
    try:
        return trio.run(_call, home.socket(component), method, params, timeout)
    except ConnectFailed:
        raise NotRunning(
            f"jobico is not running on {home.root} ({component} is not answering);"
            " start it with `jobico up`"
        ) from None


async def _call(path: Path, method: str, params: Any, timeout: float) -> Any:
    return await trio_shell.call(path, method, params, timeout=timeout)


def follow(home: Home, component: str, method: str, params: Any, each: Callable[[Any], None]) -> None:
    """Print a stream until Ctrl-C."""

    async def _follow() -> None:
        async with (
            await trio_shell.connect(home.socket(component)) as client,
            client.stream(method, params) as items,
        ):
            async for item in items:
                each(item)

    try:
        trio.run(_follow)
    except ConnectFailed:
        raise NotRunning(f"jobico is not running on {home.root}; start it with `jobico up`") from None
    except KeyboardInterrupt:
        pass


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=_jsonable) + "\n")


def print_json_line(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=_jsonable) + "\n")
    sys.stdout.flush()


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_table(columns: list[str], rows: Iterable[Iterable[Any]], title: str | None = None) -> None:
    """Cells are plain text: a guest's ``[/]`` is not Rich markup, its ESC not a terminal command."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, box=None, header_style="bold", pad_edge=False)
    for column in columns:
        table.add_column(column, no_wrap=True, overflow="ellipsis")
    for row in rows:
        table.add_row(*(Text("" if v is None else visible(str(v))) for v in row))
    # Piped output gets a wide fixed width rather than rich's 80 columns, so no column is dropped.
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {visible(message, multiline=True)}", err=True)
    raise typer.Exit(code)
