"""send: post events through the webhook exactly as any other client would."""

from __future__ import annotations

import http.client
import json as jsonlib
from pathlib import Path
from typing import Annotated, Any

import typer

from jobico.cli.app import HomeOption, JsonOption, app, home_of, print_json
from jobico.config import load_config
from jobico.errors import UserError

BATCH = 100


def _item(value: str) -> Any:
    """The JSON argument, or the contents of ``@file``. Errors name the file or say why."""
    text = value
    if value.startswith("@"):
        path = Path(value[1:])
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise UserError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return jsonlib.loads(text)
    except ValueError as exc:
        raise UserError(f"not valid JSON ({exc}): {text[:80]!r}") from None


class Webhook:
    """One keep-alive HTTP connection to the listener."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.conn = http.client.HTTPConnection(host, port, timeout=30)

    def post(self, tenant: str, event: str, body: bytes) -> tuple[int, Any]:
        try:
            self.conn.request("POST", f"/events/{tenant}/{event}", body=body,
                              headers={"Content-Type": "application/json"})
            response = self.conn.getresponse()
            payload = response.read()
        except OSError as exc:
            raise UserError(
                f"cannot reach the webhook at http://{self.host}:{self.port} ({exc}); "
                "is `jobico up` running?"
            ) from None
        try:
            return response.status, jsonlib.loads(payload)
        except ValueError:
            return response.status, payload.decode("utf-8", "replace")


@app.command()
def send(
    tenant: Annotated[str, typer.Argument(help="Tenant id.")],
    event: Annotated[str, typer.Argument(help="Event name.")],
    data: Annotated[str, typer.Argument(help="JSON item, or @file holding one.")] = "{}",
    count: Annotated[int, typer.Option("--count", "-n", min=1, help="Send the item N times.")] = 1,
    home: HomeOption = None,
    json: JsonOption = False,
) -> None:
    """Post events through the webhook; prints the accepted event ids."""
    config = load_config(home_of(home).root)
    item = _item(data)
    host = config.listener.host if config.listener.host not in ("0.0.0.0", "::") else "127.0.0.1"
    hook = Webhook(host, config.listener.port)
    if count == 1:
        status, reply = hook.post(tenant, event, jsonlib.dumps(item).encode())
        _check(status, reply)
        print_json(reply) if json else typer.echo("\n".join(reply["ids"]))
        return
    ids: list[str] = []
    with _progress(not json, count) as advance:
        for start in range(0, count, BATCH):
            n = min(BATCH, count - start)
            status, reply = hook.post(tenant, event, jsonlib.dumps({"data": [item] * n}).encode())
            _check(status, reply)
            ids += reply["ids"]
            advance(n)
    if json:
        print_json({"ids": ids})
    else:
        typer.echo(f"accepted {len(ids)} events ({ids[0]} .. {ids[-1]})")


def _check(status: int, reply: Any) -> None:
    if status != 202:
        detail = jsonlib.dumps(reply) if not isinstance(reply, str) else reply
        raise UserError(f"webhook answered {status}: {detail}")


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
