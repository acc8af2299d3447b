"""run-guest: one event through the executor's own sandbox, with no platform running."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from jobico.cli.app import EVENTS_PANEL, EXIT_RUN_FAILED, JsonOption, command, print_json
from jobico.cli.events import read_json
from jobico.cli.visible import visible
from jobico.errors import UserError
from jobico.listener.body import encode
from jobico.repo.files import sha256_bytes


class Abi(StrEnum):
    auto = "auto"
    jobicolet = "jobicolet"
    wasi = "wasi"


@command(EVENTS_PANEL, "jobico run-guest greet.wasm --input '{\"name\": \"Ada\"}'", name="run-guest")
def run_guest(
    wasm: Annotated[Path, typer.Argument(help="Guest module (.wasm).", exists=True, dir_okay=False)],
    input_: Annotated[str, typer.Option("--input", "-i", help="JSON item, or @FILE, or @- (stdin).")]
    = "{}",
    abi: Annotated[Abi, typer.Option("--abi", help="Guest ABI (SPEC §4).")] = Abi.auto,
    entry: Annotated[str, typer.Option("--entry", help="Entry export (jobicolet).")] = "event",
    timeout_ms: Annotated[int, typer.Option("--timeout-ms", min=1)] = 2000,
    memory_mb: Annotated[int, typer.Option("--memory-mb", min=1)] = 64,
    json: JsonOption = False,
) -> None:
    """Run one event through the executor's sandbox, without the platform.

    The item reaches the guest encoded as the webhook passes it. Exit code 4 when the
    run is not ok.
    """
    from jobico.executor.sandbox import Sandbox

    data = wasm.read_bytes()
    body = encode(read_json(input_))  # the webhook's encoding: the guest gets the same bytes
    sandbox = Sandbox()
    try:
        try:
            module = sandbox.load(data, sha256_bytes(data), abi=abi.value, entry=entry)
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
        raise typer.Exit(EXIT_RUN_FAILED)
