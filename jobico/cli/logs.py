"""logs: a component's log, or every component's merged in time order; --follow tails them."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from itertools import chain
from typing import Annotated

import typer

from jobico.cli import logfiles
from jobico.cli.app import HOME_PANEL, HomeOption, command, home_of
from jobico.cli.completion import complete_component
from jobico.cli.visible import visible
from jobico.errors import NotFound

POLL_S = 0.25
SUPERVISOR = "supervisor"  # its log is `up --detach`'s console: shown when asked for by name


@command(HOME_PANEL, "jobico logs executor-1 --follow")
def logs(
    component: Annotated[str | None, typer.Argument(
        help="Component (see `jobico status`); default: every component, merged by time.",
        autocompletion=complete_component)] = None,
    follow_: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new lines.")] = False,
    tail: Annotated[int | None, typer.Option("--tail", "-n", min=0, help="Only the last N lines.")]
    = None,
    home: HomeOption = None,
) -> None:
    """Component logs, oldest first; --follow keeps printing new lines.

    Rotated files come first; --follow keeps reading across a rotation. Without a
    component, every component's log merged by time (the supervisor's console log of
    `up --detach` only by name).
    """
    where = home_of(home)
    known = logfiles.components(where.logs)
    if component is not None and component not in known:
        raise NotFound(f"no log of {component!r} in {where.logs}; logs there: {', '.join(known) or 'none'}")
    names = [component] if component else [c for c in known if c != SUPERVISOR]
    prefixed = component is None
    followers = {n: logfiles.Follower(logfiles.current(where.logs, n)) for n in names} if follow_ else {}

    def history(name: str) -> Iterable[str]:
        if follow_:  # the follower reads the current file, so no line falls between the two
            return chain(logfiles.lines_of(logfiles.rotated(where.logs, name)), followers[name].poll())
        return logfiles.lines_of([*logfiles.rotated(where.logs, name), logfiles.current(where.logs, name)])

    lines = logfiles.merged({n: history(n) for n in names})
    for name, line in (deque(lines, maxlen=tail) if tail is not None else lines):
        _print(name, line, prefixed)
    if not follow_:
        return
    try:
        while True:
            for name, follower in followers.items():
                for line in follower.poll():
                    _print(name, line, prefixed)
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        pass
    finally:
        for follower in followers.values():
            follower.close()


def _print(name: str, line: str, prefixed: bool) -> None:
    """Log lines may quote tenants' files and guests' output: shown escaped."""
    typer.echo(f"{name:<11} | {visible(line)}" if prefixed else visible(line))
