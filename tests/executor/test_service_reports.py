"""What the executor reports, against fake peers: refused and oversized records, append
sizes, bounded caches, offline schemas (issue 13, items 3, 16 and 17)."""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
import trio

from jobico.executor import chaining, modules, settle
from jobico.home import Home
from jobico.recorder import api as recorder_api

from . import guests
from .test_service import SCHEMA, Fakes, delivery, eid, job, start


class Refusing(Fakes):
    """A recorder that refuses the records of some events, as one over its cap."""

    def __init__(self, *args: Any, refuse: set[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.refuse = refuse

    async def append(self, request: recorder_api.Append) -> recorder_api.Appended:
        records = [dict(r) for r in request.wire_records()]
        self.appends.append(records)
        refused = {i for i, r in enumerate(records) if r["event_id"] in self.refuse and r["result"]}
        for index, record in enumerate(records):
            if index not in refused:
                self.log.append(("append", record["event_id"]))
                self.records[record["event_id"]] = record
        why = "record of 5000000 bytes is over the cap"
        return recorder_api.Appended(tuple(i not in refused for i in range(len(records))),
                                     tuple(recorder_api.Refused(i, why) for i in sorted(refused)))


@pytest.mark.trio
async def test_a_record_the_recorder_refuses_is_replaced_and_its_event_dead_lettered(home: Home) -> None:
    fakes = Refusing([delivery("big", "greet"), delivery("fine", "greet")], refuse={eid("big")})
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start(nursery, home, fakes)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    reason = "record refused by the recorder: record of 5000000 bytes is over the cap"
    assert fakes.settled[eid("big")] == {"id": eid("big"), "outcome": "dead", "reason": reason, "delay_ms": 0}
    small = fakes.records[eid("big")]
    assert (small["status"], small["reason"], small["result"], small["logs"], small["truncated"]) == (
        "ok", reason, "", [], True)
    assert fakes.settled[eid("fine")]["outcome"] == "ack" and fakes.records[eid("fine")]["result"]


@pytest.mark.trio
async def test_a_record_over_the_cap_is_never_sent_and_publishes_nothing(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(settle, "MAX_RECORD_BYTES", 600)
    fakes = Fakes([delivery("big", "greet", item={"pad": "x" * 700}), delivery("fine", "greet")])
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start(nursery, home, fakes)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    assert fakes.settled[eid("big")]["outcome"] == "dead"
    assert fakes.settled[eid("big")]["reason"].startswith("record refused by the recorder: ")
    assert "over the 600-byte cap" in fakes.settled[eid("big")]["reason"]
    assert fakes.records[eid("big")]["result"] == "" and fakes.records[eid("big")]["truncated"]
    assert [e["key"] for e in fakes.enqueued] == [f"{eid('fine')}:on_ok"]  # no on_ok for a dead-lettered run


class SlowRecorder(Fakes):
    """Each append takes a while, so finished runs pile up into big report batches."""

    async def append(self, request: recorder_api.Append) -> recorder_api.Appended:
        await trio.sleep(0.2)
        return await super().append(request)


@pytest.mark.trio
async def test_each_append_stays_under_the_size_limit(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settle, "MAX_APPEND_BYTES", 2000)
    fakes = SlowRecorder([delivery(f"e{i}", "spin" if i == 0 else "greet", item={"pad": "y" * 300})
                          for i in range(12)])
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start(nursery, home, fakes)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    sizes = [sum(len(msgpack.packb(r, use_bin_type=True)) for r in call) for call in fakes.appends]
    assert len(fakes.records) == 12
    assert max(map(len, fakes.appends)) > 1  # batches were formed ...
    assert max(sizes) <= 2000, sizes  # ... and split by encoded size


def echo_variant(n: int) -> bytes:
    """An echo guest whose bytes (and so hash) differ by ``n``: a tenant cycling versions."""
    body = "(call $ret (local.get $r) (i64.const 0) (call $copy (local.get $p) (local.get $n))"
    return guests.jobicolet(body + " (local.get $n))", extra=f"(global $version i32 (i32.const {n}))")


@pytest.mark.trio
async def test_compiled_modules_and_validators_are_bounded(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(modules, "LOADED_MODULES", 2)
    monkeypatch.setattr(chaining, "VALIDATORS", 2)
    events: dict[str, Any] = {}
    for n in range(6):
        module = echo_variant(n)
        (home.blobs / f"{guests.sha256(module)}.wasm").write_bytes(module)
        events[f"v{n}"] = job(f"v{n}", module, on_ok=f"after{n}")
        events[f"after{n}"] = job(f"after{n}", guests.ECHO, schema=SCHEMA, schema_sha256=f"schema-{n}")
    fakes = Fakes([delivery(f"e{n}", f"v{n}") for n in range(6)],
                  catalog={"version": 1, "tenants": {"acme": {"events": events, "packages": {}}}})
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            service = await start(nursery, home, fakes)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    assert {fakes.records[eid(f"e{n}")]["status"] for n in range(6)} == {"ok"}
    assert len(fakes.enqueued) == 6
    assert service.runner is not None
    assert len(service.runner.modules) <= 2 and len(service.chaining.validators) <= 2


@pytest.fixture
def counting_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on localhost that serves a schema and counts the requests it gets."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = json.dumps({"type": "object"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


@pytest.mark.trio
async def test_a_follow_up_schema_is_compiled_offline(
    home: Home, tmp_path: Path, counting_server: tuple[str, list[str]]
) -> None:
    url, hits = counting_server
    local = tmp_path / "local.json"
    local.write_text(json.dumps({"type": "object"}))
    events = {
        "by-http": job("by-http", guests.ECHO, on_ok="http-target"),
        "by-file": job("by-file", guests.ECHO, on_ok="file-target"),
        "http-target": job("http-target", guests.ECHO, schema={"$ref": f"{url}/schema.json"},
                           schema_sha256="remote"),
        "file-target": job("file-target", guests.ECHO, schema={"$ref": local.as_uri()}, schema_sha256="file"),
    }
    fakes = Fakes([delivery("h1", "by-http"), delivery("f1", "by-file")],
                  catalog={"version": 1, "tenants": {"acme": {"events": events, "packages": {}}}})
    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start(nursery, home, fakes)
            await fakes.all_settled.wait()
            nursery.cancel_scope.cancel()
    assert hits == []  # nothing was fetched
    assert fakes.enqueued == []  # nor published against a schema that could not be read
    for event_id in (eid("h1"), eid("f1")):
        (note,) = fakes.records[event_id]["logs"]
        assert "does not compile offline" in note["message"], note


@pytest.mark.trio
async def test_retries_and_dead_letters_are_logged_with_the_events_ids(
    home: Home, caplog: pytest.LogCaptureFixture
) -> None:
    fakes = Fakes([delivery("a1", "greet"), delivery("b1", "fails"), delivery("c1", "fails", attempt=2)])
    def logged() -> dict[str, Any]:
        return {r.event_id: r for r in caplog.records if hasattr(r, "event_id")}

    with caplog.at_level("INFO", logger="test"), trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            await start(nursery, home, fakes)
            await fakes.all_settled.wait()
            while len(logged()) < 2:  # noqa: ASYNC110 - the lines follow the settle's reply
                await trio.sleep(0.01)
            await trio.sleep(0.05)  # and no third one comes
            nursery.cancel_scope.cancel()
    lines = logged()
    assert set(lines) == {eid("b1"), eid("c1")}, "one line per retry or dead letter, none for an ok run"
    retry, dead = lines[eid("b1")], lines[eid("c1")]
    delay_ms = fakes.settled[eid("b1")]["delay_ms"]
    assert (retry.levelname, retry.attempt, retry.delay_ms) == ("INFO", 1, delay_ms)
    assert (dead.levelname, dead.attempt, dead.tenant) == ("WARNING", 2, "acme")
    assert "dead-lettered after attempt 2" in dead.getMessage()
    assert dead.reason == fakes.settled[eid("c1")]["reason"]


def test_an_executor_that_never_chains_does_not_load_jsonschema_rs() -> None:
    """``jsonschema_rs`` is ~6 MB of RSS: only a follow-up's schema loads it (chaining.py)."""
    code = "import sys; import jobico.executor.service; print('jsonschema_rs' in sys.modules)"
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert out.stdout.strip() == "False"
