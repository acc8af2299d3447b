"""send: post events through the running home's webhook, exactly as any other client would."""

from __future__ import annotations

import json as jsonlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from jobico import component_api
from jobico.cli import webhook
from jobico.cli.app import EVENTS_PANEL, HomeOption, JsonOption, ask, command, home_of, print_json
from jobico.cli.completion import complete_event, complete_tenant
from jobico.cli.webhook import Webhook
from jobico.ctl import api as ctl_api
from jobico.errors import JobicoError, UserError
from jobico.home import Home
from jobico.listener.body import encode
from jobico.rpc.api import EMPTY
from supervisor import api as supervisor_api

BATCH = 100


def read_json(value: str) -> Any:
    """The JSON argument, or the one JSON value of ``@file`` (``@-``: stdin).

    Errors: ``UserError`` naming the file, or saying why the text is not JSON.
    """
    items = read_items(value)
    if len(items) != 1:
        raise UserError(f"{value}: expected one JSON value, got {len(items)} lines of JSON")
    return items[0]


def read_items(value: str) -> list[Any]:
    """The items of the JSON argument, ``@file`` or ``@-`` (stdin): one JSON value, or JSON
    lines (one item per non-blank line).

    Errors: ``UserError`` naming the file and the line that is not JSON.
    """
    source, text = "argument", value
    if value == "@-":
        source, text = "stdin", sys.stdin.read()
    elif value.startswith("@"):
        path = Path(value[1:])
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"{path}: cannot read: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise UserError(f"{path}: not UTF-8 (byte {exc.start})") from None
    try:
        return [jsonlib.loads(text)]
    except ValueError as error:
        whole = error
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        if len(lines) < 2:
            raise UserError(f"{source}: not valid JSON ({whole}): {text[:80]!r}") from None
    items = []
    for number, line in lines:
        try:
            items.append(jsonlib.loads(line))
        except ValueError as exc:
            if not items:  # not JSON lines either: the whole text's error says more
                raise UserError(f"{source}: not valid JSON ({whole}): {text[:80]!r}") from None
            raise UserError(f"{source}:{number}: not valid JSON ({exc}): {line[:80]!r}") from None
    return items


@command(EVENTS_PANEL, "jobico send demo greet '{\"name\": \"Ada\", \"n\": 10}' --count 1000")
def send(
    tenant: Annotated[str, typer.Argument(help="Tenant id.", autocompletion=complete_tenant)],
    event: Annotated[str, typer.Argument(help="Event name.", autocompletion=complete_event)],
    data: Annotated[str, typer.Argument(
        help="JSON item; @FILE or @- (stdin) holding one JSON value or JSON lines.")] = "{}",
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="Send the items N times.")] = 1,
    idempotency_key: Annotated[str | None, typer.Option(
        "--idempotency-key", "-k",
        help="Idempotency-Key header; several requests get KEY-1, KEY-2, ...")] = None,
    home: HomeOption = None,
    json: JsonOption = False,
) -> None:
    """Post events through the running home's webhook; prints the accepted event ids.

    The webhook is found at the port the home really listens on, and requests are
    signed with the package's webhook secret when it has one. @- reads stdin.
    """
    where = home_of(home)
    items = read_items(data) * count
    url = _webhook_url(where)  # first: an executor-only node is told so, with no ctl to ask
    catalog = ask(where, "ctl", ctl_api.catalog, EMPTY, timeout=10)
    hook = Webhook(url, webhook.event_secret(catalog, tenant, event))
    try:
        if len(items) == 1:
            _send_one(hook, tenant, event, items[0], idempotency_key, json)
        else:
            _send_batches(hook, tenant, event, items, idempotency_key, json)
    finally:
        hook.close()


def _webhook_url(home: Home) -> str:
    """Ask the running home where its webhook listens, one listener at a time.

    Errors: ``NotRunning`` (exit 3) when the home is not running; ``UserError`` when it
    runs no listener.
    """
    status = ask(home, "supervisor", supervisor_api.status, EMPTY, timeout=5)

    def reports() -> Iterator[list[str]]:
        for name in webhook.listener_names(status):
            try:
                yield list(ask(home, name, component_api.status, EMPTY, timeout=2).details.get("urls") or [])
            except JobicoError:  # restarting: the next one, or the supervisor's view
                continue

    return webhook.live_webhook_url(home.root, status, reports())


def _send_one(hook: Webhook, tenant: str, event: str, item: Any, key: str | None, json: bool) -> None:
    status, reply = hook.post(tenant, event, encode(item), key)
    if status != 202:
        raise UserError(_refusal(status, reply))
    print_json(reply) if json else typer.echo("\n".join(reply["ids"]))


def _send_batches(hook: Webhook, tenant: str, event: str, items: list[Any], key: str | None,
                  json: bool) -> None:
    """Batches of ``BATCH`` items over one connection; stops at the first refused batch."""
    ids: list[str] = []
    refusal, rejected = None, 0
    started = time.monotonic()
    with _progress(not json, len(items)) as advance:
        for number, start in enumerate(range(0, len(items), BATCH), 1):
            batch = items[start:start + BATCH]
            status, reply = hook.post(tenant, event, encode({"data": batch}),
                                      None if key is None else f"{key}-{number}")
            if status != 202:
                refusal, rejected = _refusal(status, _offset(reply, start)), len(batch)
                break
            ids += reply["ids"]
            advance(len(batch))
    seconds = time.monotonic() - started
    summary = {"accepted": len(ids), "rejected": rejected, "not_sent": len(items) - len(ids) - rejected,
               "seconds": round(seconds, 3), "per_second": round(len(ids) / seconds, 1) if seconds else None}
    if json:
        print_json({"ids": ids, **summary, "error": refusal})
    else:
        span = f" ({ids[0]} .. {ids[-1]})" if ids else ""
        not_sent = f", {summary['not_sent']} not sent" if summary["not_sent"] else ""
        typer.echo(f"accepted {len(ids)}, rejected {rejected}{not_sent} in {seconds:.2f} s "
                   f"({summary['per_second'] or 0:.0f}/s){span}")
    if refusal is not None:
        raise UserError(refusal)


def _offset(reply: Any, start: int) -> Any:
    """A 422's per-item errors numbered over everything sent, not within the batch."""
    if isinstance(reply, dict) and isinstance(reply.get("detail"), list):
        detail = [{**d, "item": d["item"] + start} if isinstance(d, dict) and isinstance(d.get("item"), int)
                  else d for d in reply["detail"]]
        return {**reply, "detail": detail}
    return reply


def _refusal(status: int, reply: Any) -> str:
    detail = jsonlib.dumps(reply) if not isinstance(reply, str) else reply
    return f"webhook answered {status}: {detail}"


class _progress:
    """A rich progress bar on stderr, or nothing when output is JSON."""

    def __init__(self, show: bool, total: int) -> None:
        self.show, self.total = show, total

    def __enter__(self) -> Any:
        if not self.show:
            return lambda n: None
        from rich.console import Console
        from rich.progress import Progress

        self.bar = Progress(console=Console(stderr=True), transient=True)
        self.bar.start()
        task = self.bar.add_task("sending", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.show:
            self.bar.stop()
