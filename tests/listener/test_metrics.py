"""The /metrics page: valid exposition (read back with prometheus_client's own parser),
what is available is shown, what is down or malformed is left out."""

from __future__ import annotations

import os
import platform
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from jobico.listener.metrics import Sources, render
from jobico.listener.tally import Tally
from jobico.recorder.stats import Stats

COUNTERS = Tally(requests={("acme", 202): 3, ("acme", 422): 2, ("", 404): 1},
                 items={"acme": 5}, connections_refused=4)


def recorder_stats() -> dict[str, Any]:
    stats = Stats()
    stats.add("acme", "ok", 1, 0.5, 100.2, 100.0)  # ran 0.5 ms after waiting 200 ms
    stats.add("acme", "error", 1, 7.0, 100.0, None)  # no accepted_at: no wait, no latency
    stats.add("acme", "ok", 2, 7.0, 103.0, 100.0)  # a retry
    return {"records": 3, **stats.as_dict()}


SUPERVISOR = {"components": [
    {"name": "queue", "state": "running", "pid": os.getpid(), "restarts": 2},
    {"name": "recorder", "state": "restarting", "pid": None, "restarts": 5},
    {"name": "listener-1", "state": "running", "pid": os.getpid(), "restarts": 0},
]}


def parse(sources: Sources) -> dict[str, list[Sample]]:
    """Every family by name, as a Prometheus server would read the page."""
    text = render(sources).decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert len(found) == 1, (name, labels, samples)
    return found[0]


def test_every_family_parses_with_the_values_it_was_given() -> None:
    queue = {"acme": {"depth": 7, "inflight": 1, "dead": 2, "paused": False}}
    families = parse(Sources(COUNTERS, queue, recorder_stats(), SUPERVISOR, "listener-1"))
    requests = families["jobico_requests"]
    assert value(requests, "jobico_requests_total", tenant="acme", code="202") == 3
    assert value(requests, "jobico_requests_total", tenant="acme", code="422") == 2
    assert value(requests, "jobico_requests_total", tenant="", code="404") == 1
    assert value(families["jobico_items_accepted"], "jobico_items_accepted_total", tenant="acme") == 5
    assert value(families["jobico_connections_refused"], "jobico_connections_refused_total") == 4
    assert value(families["jobico_queue_depth"], "jobico_queue_depth", tenant="acme") == 7
    assert value(families["jobico_queue_dead"], "jobico_queue_dead", tenant="acme") == 2
    assert "jobico_queue_paused" not in families
    runs = families["jobico_executions"]
    assert value(runs, "jobico_executions_total", tenant="acme", status="ok") == 2
    assert value(runs, "jobico_executions_total", tenant="acme", status="error") == 1
    assert value(families["jobico_retries"], "jobico_retries_total", tenant="acme") == 1
    run = families["jobico_run_duration_seconds"]
    assert value(run, "jobico_run_duration_seconds_bucket", tenant="acme", le="0.001") == 1
    assert value(run, "jobico_run_duration_seconds_bucket", tenant="acme", le="+Inf") == 3
    assert value(run, "jobico_run_duration_seconds_sum", tenant="acme") == 0.0145
    wait = families["jobico_queue_wait_seconds"]
    assert value(wait, "jobico_queue_wait_seconds_count", tenant="acme") == 1
    assert value(wait, "jobico_queue_wait_seconds_bucket", tenant="acme", le="0.1") == 0
    assert value(wait, "jobico_queue_wait_seconds_bucket", tenant="acme", le="0.25") == 1
    e2e = families["jobico_end_to_end_seconds"]
    assert value(e2e, "jobico_end_to_end_seconds_count", tenant="acme") == 2
    assert abs(value(e2e, "jobico_end_to_end_seconds_sum", tenant="acme") - 3.2075) < 1e-9
    build = families["jobico_build_info"]  # a gauge in the text format
    (info,) = build
    assert info.name == "jobico_build_info" and info.value == 1
    assert info.labels["python"] == platform.python_version() and info.labels["wasmtime"][0].isdigit()
    up, restarts = families["jobico_component_up"], families["jobico_component_restarts"]
    assert value(up, "jobico_component_up", component="queue") == 1
    assert value(up, "jobico_component_up", component="recorder") == 0  # restarting
    assert value(restarts, "jobico_component_restarts_total", component="recorder") == 5
    cpu = families["process_cpu_seconds"]
    assert {s.labels["component"] for s in cpu} == {"queue", "listener-1"}
    assert value(families["process_resident_memory_bytes"], "process_resident_memory_bytes",
                 component="queue") > 0


def test_down_or_malformed_parts_are_left_out_and_marked_down() -> None:
    broken = {"buckets_ms": [1], "tenants": {"acme": {"counts": {}, "duration_ms": {}}}}
    families = parse(Sources(COUNTERS, None, broken, None, "listener"))
    assert value(families["jobico_items_accepted"], "jobico_items_accepted_total", tenant="acme") == 5
    assert value(families["jobico_component_up"], "jobico_component_up", component="queue") == 0
    assert value(families["jobico_component_up"], "jobico_component_up", component="recorder") == 0
    assert not any(name.startswith(("jobico_queue", "jobico_run", "jobico_exec")) for name in families)
    # no supervisor: the answering process's own figures, under its name
    assert {s.labels["component"] for s in families["process_cpu_seconds"]} == {"listener"}


def test_a_malformed_supervisor_status_is_left_out() -> None:
    families = parse(Sources(Tally(), None, None, {"components": [{"pid": 1}]}, "listener"))
    assert "jobico_component_restarts" in families
    assert not families["jobico_component_restarts"]


def test_label_values_are_escaped() -> None:
    odd = 'a"b\\c\nd'
    families = parse(Sources(Tally(items={odd: 1})))
    assert value(families["jobico_items_accepted"], "jobico_items_accepted_total", tenant=odd) == 1


def test_the_page_never_touches_the_global_registry() -> None:
    from prometheus_client import REGISTRY

    before = set(REGISTRY._names_to_collectors)
    render(Sources(COUNTERS, None, recorder_stats(), SUPERVISOR))
    assert set(REGISTRY._names_to_collectors) == before
