"""run-guest: one event through the executor's own sandbox, with no platform running."""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Annotated

import typer

from jobico.cli.app import JsonOption, app, print_json
from jobico.cli.events import _item
from jobico.cli.visible import visible
from jobico.errors import UserError
from jobico.repo.files import sha256_bytes


@app.command("run-guest")
def run_guest(
    wasm: Annotated[Path, typer.Argument(help="Guest module (.wasm).", exists=True, dir_okay=False)],
    input_: Annotated[str, typer.Option("--input", "-i", help="JSON item, or @file.")] = "{}",
    abi: Annotated[str, typer.Option("--abi", help="auto | jobicolet | wasi")] = "auto",
    entry: Annotated[str, typer.Option("--entry", help="Entry export (jobicolet).")] = "event",
    timeout_ms: Annotated[int, typer.Option("--timeout-ms", min=1)] = 2000,
    memory_mb: Annotated[int, typer.Option("--memory-mb", min=1)] = 64,
    json: JsonOption = False,
) -> None:
    """Run one event through the same sandbox code the executor uses."""
    from jobico.executor.sandbox import Sandbox

    data = wasm.read_bytes()
    body = jsonlib.dumps(_item(input_), separators=(",", ":")).encode()
    sandbox = Sandbox()
    try:
        try:
            module = sandbox.load(data, sha256_bytes(data), abi=abi, entry=entry)
        except UserError as exc:
            raise UserError(f"{wasm}: {exc}") from None
        env = {"JOBICO_TENANT": "local", "JOBICO_EVENT": wasm.stem, "JOBICO_EVENT_ID": "0" * 16,
               "JOBICO_ATTEMPT": "1"}
        result = sandbox.run(module, body, timeout_ms=timeout_ms, memory_mb=memory_mb, env=env)
    finally:
        sandbox.close()
    doc = result.to_dict()
    if json:
        print_json(doc)
    else:
        for log in doc["logs"]:
            typer.echo(visible(f"[{log['level']}] {log['message']}"), err=True)
        typer.echo(visible(doc["result"], multiline=True))  # --json has the exact bytes
        if doc["status"] != "ok":
            typer.echo(visible(f"{doc['status']}: {doc['reason']}"), err=True)
    if doc["status"] != "ok":
        raise typer.Exit(2)
