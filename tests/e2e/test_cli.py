"""Issue 16's commands against a real `jobico up`: the live port, signed sends, paging, admin.

One platform serves the module. It is started with ``--port`` over what jobico.toml
says, so every ``jobico send`` here also proves the CLI posts to the running home's
real port (the defect: it posted to the configured one).
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

import pytest

from tests.e2e.conftest import Factory
from tests.e2e.platform import Platform, free_port, package, wait_until
from tests.executor import guests

pytestmark = pytest.mark.e2e
SECRET = "whsec_" + base64.b64encode(b"issue-16 test secret, 32 bytes!!").decode()
EXPORT_RECORDS = int(os.environ.get("JOBICO_EXPORT_RECORDS", "50000"))


@pytest.fixture(scope="module")
def home(module_platform_factory: Factory) -> Platform:
    p = module_platform_factory(start=False)
    configured = p.port
    for tenant, files in {
        "signed": {"hook.toml": package({"event": "echo", "wasm": "echo.wasm"}, webhook={"secret": SECRET})},
        "flow": {"flow.toml": package({"event": "echo", "wasm": "echo.wasm"})},
        "doomed": {"doomed.toml": package({"event": "fail", "wasm": "fail.wasm", "max_attempts": 1})},
    }.items():
        p.write(f"{tenant}/echo.wasm", guests.ECHO)
        p.write(f"{tenant}/fail.wasm", guests.FAIL)
        for name, text in files.items():
            p.write(f"{tenant}/{name}", text)
    live = free_port()
    p.start(up_args=("--port", str(live)))
    p.configured_port = configured  # type: ignore[attr-defined]
    p.port = live  # the helpers' own HTTP goes where the home listens
    for tenant, event in (("signed", "echo"), ("flow", "echo"), ("doomed", "fail")):
        p.wait_for_event(tenant, event)
    return p


def test_send_reaches_the_port_the_home_listens_on(home: Platform) -> None:
    assert home.configured_port != home.port  # type: ignore[attr-defined]
    done = home.cli("send", "flow", "echo", '{"n": 1}')
    event_id = done.stdout.strip()
    record = home.wait_records(1, tenant="flow", text=event_id)[0]
    assert record["result"] == '{"n":1}'


def test_send_signs_with_the_packages_secret(home: Platform) -> None:
    unsigned, reply = home.post("signed", "echo", {"n": 1})
    assert unsigned == 401, reply  # the package really demands a signature
    done = home.cli("send", "signed", "echo", '{"n": "é"}', "--json")
    (event_id,) = json.loads(done.stdout)["ids"]
    record = home.wait_records(1, tenant="signed", text=event_id)[0]
    assert record["result"] == '{"n":"é"}'


def test_send_json_lines_from_stdin_with_a_summary(home: Platform) -> None:
    lines = "".join(json.dumps({"line": n}) + "\n" for n in range(250))
    done = home.cli("send", "flow", "echo", "@-", input=lines)
    assert done.stdout.startswith("accepted 250, rejected 0 in "), done.stdout
    assert "/s)" in done.stdout
    bad = home.cli("send", "flow", "echo", "@-", "--json", check=False,
                   input=lines + '{"line": 250}\n[not json\n')
    assert bad.returncode == 1 and "stdin:252: not valid JSON" in bad.stderr


def test_idempotency_key_gives_the_same_ids(home: Platform) -> None:
    first = home.cli_json("send", "flow", "echo", '{"k": 1}', "--idempotency-key", "order-1")
    again = home.cli_json("send", "flow", "echo", '{"k": 1}', "--idempotency-key", "order-1")
    assert first == again
    batches = ["send", "flow", "echo", '{"k": 3}', "-n", "150", "-k", "bulk-1"]  # keys bulk-1-1, bulk-1-2
    assert home.cli_json(*batches)["ids"] == home.cli_json(*batches)["ids"]


def test_a_refused_batch_stops_the_send_and_says_which_items(home: Platform) -> None:
    done = home.cli("send", "flow", "nope", "{}", "-n", "250", check=False)
    assert done.returncode == 1
    assert "accepted 0, rejected 100, 150 not sent" in done.stdout
    assert "404" in done.stderr


def test_pause_and_resume_a_tenant(home: Platform) -> None:
    assert "paused" in home.cli("pause", "flow").stdout
    tenants = home.cli_json("status")["tenants"]
    assert tenants["flow"]["paused"] is True
    event_id = home.cli("send", "flow", "echo", '{"paused": true}').stdout.strip()
    wait_until(lambda: home.rpc("queue", "stats")["flow"]["depth"] >= 1, 10, "the event to wait")
    assert home.query(tenant="flow", text=event_id) == []
    assert "resumed" in home.cli("resume", "flow").stdout
    home.wait_records(1, tenant="flow", text=event_id)


def test_restart_a_component(home: Platform) -> None:
    before = home.component("recorder")["pid"]
    assert "restarting recorder" in home.cli("restart", "recorder").stdout
    wait_until(lambda: (c := home.component("recorder"))["state"] == "running" and c["pid"] != before,
               30, "the recorder to be back")
    missing = home.cli("restart", "recorderr", check=False)
    assert missing.returncode == 1 and "no component named 'recorderr'" in missing.stderr


def test_purge_all_asks_first(home: Platform) -> None:
    home.cli("send", "doomed", "fail", "{}", "-n", "3")
    wait_until(lambda: len(home.rpc("queue", "dead", {"tenant": "doomed"})) == 3, 30, "3 dead letters")
    kept = home.cli("purge", "--all", "--tenant", "doomed", check=False, input="n\n")
    assert kept.returncode == 1 and "purge all 3 dead-lettered event(s)" in kept.stderr
    assert len(home.rpc("queue", "dead", {"tenant": "doomed"})) == 3
    asked = home.cli("purge", "--all", "--tenant", "doomed", input="y\n")
    assert "purged 3 event(s)" in asked.stdout
    home.cli("send", "doomed", "fail", "{}")
    wait_until(lambda: home.rpc("queue", "dead", {"tenant": "doomed"}), 30, "a dead letter")
    assert json.loads(home.cli("purge", "--all", "--tenant", "doomed", "--yes", "--json").stdout)["purged"]


def _bulk(count: int, tenant: str = "bulk") -> list[dict[str, Any]]:
    """Records as an executor appends them, ten per millisecond (so pages cut through ties)."""
    base = time.time() - 3600
    return [{"event_id": f"{tenant}{n:08d}", "attempt": 1, "tenant": tenant, "event": "export",
             "status": "error" if n % 10 == 0 else "ok", "reason": "boom" if n % 10 == 0 else None,
             "started_at": _iso(base + (n // 10) / 1000), "duration_ms": 1.0} for n in range(count)]


def _iso(ts: float) -> str:
    from jobico.recorder.records import iso_utc

    return iso_utc(ts)


def test_executions_all_streams_every_record_past_the_query_cap(home: Platform) -> None:
    records = _bulk(EXPORT_RECORDS)
    for start in range(0, len(records), 5000):
        home.rpc("recorder", "append", {"records": records[start:start + 5000]})
    started = time.monotonic()
    done = home.cli("executions", "--tenant", "bulk", "--all", "--json", timeout=600)
    seconds = time.monotonic() - started
    lines = done.stdout.splitlines()
    print(f"exported {len(lines)} records with --all --json in {seconds:.1f} s")
    ids = [json.loads(line)["event_id"] for line in lines]
    assert len(ids) == EXPORT_RECORDS == len(set(ids))
    assert ids == [r["event_id"] for r in reversed(records)]  # newest first, ties in stored order


def test_executions_pages_with_before_and_filters(home: Platform) -> None:
    home.rpc("recorder", "append", {"records": _bulk(300, "pages")})
    twenty = home.cli_json("executions", "--tenant", "pages", "--limit", "20")
    first = home.cli_json("executions", "--tenant", "pages", "--limit", "10")
    rest = home.cli_json("executions", "--tenant", "pages", "--limit", "10", "--before", first[-1]["id"])
    assert [r["id"] for r in first + rest] == [r["id"] for r in twenty]
    errors = home.cli_json("executions", "--tenant", "pages", "--text", "BOOM", "--limit", "1000")
    assert len(errors) == 30 and {r["status"] for r in errors} == {"error"}
    assert home.cli_json("executions", "--tenant", "pages", "--since", "15m") == []  # an hour old
    recent = home.cli_json("executions", "--tenant", "pages", "--since", "2h", "--until", "30m",
                           "--limit", "1000")
    assert len(recent) == 300
    missing = home.cli("executions", "--before", "no-such-id", check=False)
    assert missing.returncode == 1 and "no-such-id" in missing.stderr


def test_logs_show_the_components(home: Platform) -> None:
    queue = home.cli("logs", "queue", "--tail", "5").stdout
    assert queue.strip() and " | " not in queue
    merged = home.cli("logs").stdout
    assert {"ctl", "queue", "recorder", "listener"} <= {line.split(" | ")[0].strip()
                                                        for line in merged.splitlines() if " | " in line}
