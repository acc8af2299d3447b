"""The typer app and what every command shares: --home, --json, RPC calls, output, exit codes.

Commands live in one module per group and register on ``app`` here through ``command``,
which files each under a help panel with an example; errors are translated once, in
``main``, into a message on stderr and the exit code SPEC §6 gives them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Iterable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any, TypeVar

import trio
import typer
from rich.markup import escape

from jobico.cli.completion import complete_tenant
from jobico.cli.visible import visible
from jobico.errors import JobicoError, Unavailable
from jobico.home import Home, open_home
from jobico.rpc import trio_shell
from jobico.rpc.api import Call, Rep, Req
from jobico.rpc.errors import ConnectFailed

T = TypeVar("T")

# Exit codes (SPEC §6), the same for every command.
EXIT_ERROR = 1
EXIT_USAGE = 2  # click's own code for a bad flag, argument or choice
EXIT_NOT_RUNNING = 3
EXIT_RUN_FAILED = 4  # run-guest: the guest ran and its run was not ok

# Help panels, in the order `jobico --help` shows them (``order_panels``).
HOME_PANEL = "Run a home"
EVENTS_PANEL = "Send and run events"
RECORDS_PANEL = "Look at what ran"
PACKAGES_PANEL = "Packages and files"
ADMIN_PANEL = "Admin"
PANELS = (HOME_PANEL, EVENTS_PANEL, RECORDS_PANEL, PACKAGES_PANEL, ADMIN_PANEL)

app = typer.Typer(
    name="jobico",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", help="Home folder (default: nearest folder upward with jobico.toml).",
                 file_okay=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
TenantOption = Annotated[str, typer.Option("--tenant", "-t", help="Tenant id.",
                                           autocompletion=complete_tenant)]
OptTenant = Annotated[str | None, typer.Option("--tenant", "-t", help="Only this tenant.",
                                               autocompletion=complete_tenant)]


def command(panel: str, example: str, name: str | None = None) -> Callable[[Any], Any]:
    """Register a command under ``panel``; its help ends with ``example`` (shown verbatim)."""
    return app.command(name, rich_help_panel=panel, epilog=f"Example: {escape(example)}")


def order_panels() -> None:
    """Help lists panels in the order of their first command: sort commands by panel
    (stably, so each panel keeps its commands' registration order)."""
    app.registered_commands.sort(key=lambda c: PANELS.index(c.rich_help_panel or HOME_PANEL))


def _version(value: bool) -> None:
    if value:
        try:
            typer.echo(f"jobico {version('jobico')}")
        except PackageNotFoundError:  # run from a source tree that was never installed
            typer.echo("jobico (not installed)")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[bool, typer.Option(
        "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit.")]
    = False,
) -> None:
    """Event-driven, multi-tenant, sandboxed WebAssembly jobs on your machine.

    Exit codes: 0 ok, 1 error, 2 usage error, 3 the home is not running,
    4 run-guest's run failed.
    """


class NotRunning(JobicoError):
    """The home has no live supervisor; most commands need ``jobico up`` first (exit 3)."""


def home_of(path: Path | None) -> Home:
    return open_home(path)


def ask(home: Home, component: str, method: Call[Req, Rep], request: Req, timeout: float = 30.0) -> Rep:
    """One call of a component's api module (``repo_api.upload``...) to a running home.

    Errors: ``NotRunning`` when no supervisor serves the home; ``Unavailable`` when the
    supervisor does but ``component`` does not answer (restarting); remote errors as raised;
    ``BadReply`` for an answer off the contract.
    """

    async def once() -> Rep:
        async with await trio_shell.connect(home.socket(component), timeout=timeout) as client:
            return await method(client, request, timeout=timeout)

    return _on(home, component, once)


def _on(home: Home, component: str, call: Callable[[], Awaitable[T]]) -> T:
    """Run ``call`` on its own trio loop, a connection refused said as ``_not_answering``."""
    try:
        return trio.run(call)
    except ConnectFailed:
        raise _not_answering(home, component) from None


def _not_answering(home: Home, component: str) -> JobicoError:
    """Tell "the home is down" (exit 3) from "one component is restarting" (exit 1)."""
    if component != "supervisor":
        try:
            trio.run(_call, home.socket("supervisor"), "status", None, 2.0)
        except ConnectFailed:
            pass
        else:
            return Unavailable(f"{component} is not answering on {home.root}; it may be restarting"
                               " (see `jobico status`)")
    return NotRunning(f"jobico is not running on {home.root}; start it with `jobico up`")


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
        raise _not_answering(home, component) from None
    except KeyboardInterrupt:
        pass


def json_text(data: Any, indent: int | None = None) -> str:
    return json.dumps(data, indent=indent, default=_jsonable)


def print_json(data: Any) -> None:
    sys.stdout.write(json_text(data, indent=2) + "\n")


def print_json_line(data: Any) -> None:
    sys.stdout.write(json_text(data) + "\n")
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


def say(message: str) -> None:
    """Progress for a person (what a long wait waits for): stderr, so stdout stays data."""
    typer.echo(message, err=True)


def fail(message: str, code: int = EXIT_ERROR) -> None:
    typer.echo(f"error: {visible(message, multiline=True)}", err=True)
    raise typer.Exit(code)
