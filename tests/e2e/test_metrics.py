"""/metrics through a real `jobico up` with two listener processes: sums, monotonic
counters across kills and restarts, runs, retries, dead letters and latencies."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import Factory
from tests.e2e.platform import Platform, package, wait_until
from tests.executor import guests

pytestmark = pytest.mark.e2e
CONFIG = """workers = 2
[executor]
lease_ms = 4000
"""
N = 40  # requests, one connection each: the kernel spreads them over both listeners
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module")
def home(module_platform_factory: Factory) -> Platform:
    p = module_platform_factory(CONFIG)
    p.write("acme/ping.wasm", guests.ECHO)
    p.write("acme/fail.wasm", guests.FAIL)
    p.write("acme/pkg.toml", package({"event": "ping", "wasm": "ping.wasm"},
                                     {"event": "fail", "wasm": "fail.wasm", "max_attempts": 2}))
    p.wait_for_event("acme", "ping")
    p.wait_for_event("acme", "fail")
    return p


def scrape(p: Platform) -> Samples:
    status, headers, body = p.request("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=0.0.4")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def metric(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def items(p: Platform) -> float:
    return metric(scrape(p), "jobico_items_accepted_total", tenant="acme")


def test_every_scrape_shows_the_sum_over_both_listeners_and_never_decreases(home: Platform) -> None:
    # wait_for_event's probes were answered (400) by either listener: count from here
    before = scrape(home)
    seen = [items(home)]
    for i in range(N):
        status, _ = home.post("acme", "ping", {"n": i})
        assert status == 202
        if i % 4 == 0:
            seen.append(items(home))
    assert home.post("acme", "nope", {})[0] == 404
    per_process = [sum(home.rpc(f"listener-{n}", "status")["accepted"].values()) for n in (1, 2)]
    assert all(per_process) and sum(per_process) == N  # both listeners took requests
    seen.append(wait_until(lambda: (v := items(home)) == N and v, 10, f"a scrape to show {N}"))
    seen += [items(home) for _ in range(10)]  # whichever listener answers
    assert seen == sorted(seen) and seen[-11:] == [N] * 11
    after = scrape(home)
    ok = ("jobico_requests_total", (("code", "202"), ("tenant", "acme")))
    assert after[ok] - before.get(ok, 0) == N
    wait_until(lambda: metric(scrape(home), "jobico_requests_total", tenant="acme", code="404") == 1,
               10, "the 404 counted")


def test_runs_retries_dead_letters_and_latencies(home: Platform) -> None:
    status, _ = home.post("acme", "fail", {"x": 1})
    assert status == 202
    wait_until(lambda: len(home.query(tenant="acme", event="fail")) == 2, 30, "both attempts")
    wait_until(lambda: len(home.query(tenant="acme", event="ping")) == N, 30, f"{N} runs")
    records = home.query(tenant="acme")
    assert all(r["accepted_at"] for r in records)
    s = wait_until(lambda: (s := scrape(home)) and metric(s, "jobico_queue_dead", tenant="acme") == 1
                   and s, 30, "the dead letter in the queue's stats")
    assert metric(s, "jobico_executions_total", tenant="acme", status="ok") == N
    assert metric(s, "jobico_executions_total", tenant="acme", status="error") == 2
    assert metric(s, "jobico_retries_total", tenant="acme") == 1
    assert metric(s, "jobico_queue_wait_seconds_count", tenant="acme") == N + 1  # first attempts
    assert metric(s, "jobico_end_to_end_seconds_count", tenant="acme") == N + 2
    assert metric(s, "jobico_end_to_end_seconds_bucket", tenant="acme", le="+Inf") == N + 2
    assert metric(s, "jobico_run_duration_seconds_count", tenant="acme") == N + 2
    wait_sum = metric(s, "jobico_queue_wait_seconds_sum", tenant="acme")
    e2e_sum = metric(s, "jobico_end_to_end_seconds_sum", tenant="acme")
    assert 0 < wait_sum < e2e_sum
    names = {c["name"] for c in home.status()["components"]}
    assert {"listener-1", "listener-2", "queue", "recorder", "ctl", "repo"} <= names
    for name in names:
        assert metric(s, "jobico_component_up", component=name) == 1
        assert metric(s, "jobico_component_restarts_total", component=name) == 0
        assert metric(s, "process_resident_memory_bytes", component=name) > 0
    build = next(dict(labels) for (n, labels) in s if n == "jobico_build_info")
    assert set(build) == {"version", "python", "wasmtime"}


def test_counters_never_go_back_across_kills_restarts_and_retention(home: Platform) -> None:
    def counters() -> tuple[float, float]:
        s = scrape(home)
        return (metric(s, "jobico_items_accepted_total", tenant="acme"),
                metric(s, "jobico_executions_total", tenant="acme", status="ok"))

    ok = len(home.query(tenant="acme", status="ok"))
    shown = wait_until(lambda: (c := counters())[1] == ok and c, 30, "every run counted")
    home.kill("listener-1")
    home.kill("recorder")
    assert [counters() for _ in range(6)] == [shown] * 6
    assert metric(scrape(home), "jobico_component_restarts_total", component="recorder") == 1
    home.stop()
    for segment in (home.root / ".jobico" / "recorder").glob("*.seg"):
        segment.unlink()  # what retention does to old segments
    home.start()
    assert home.query(tenant="acme") == []
    assert [counters() for _ in range(6)] == [shown] * 6
    status, _ = home.post("acme", "ping", {"n": "again"})
    assert status == 202
    wait_until(lambda: counters() == (shown[0] + 1, shown[1] + 1), 30, "one more item and run")


def test_supervisor_log_is_written_by_the_supervisor(home: Platform) -> None:
    text = (home.root / ".jobico" / "logs" / "supervisor.log").read_text()
    assert " INFO listener-2: running (pid " in text
    assert not any(line.startswith("{") for line in text.splitlines())  # text unless log.format
