"""Prometheus text rendering: what is available is rendered, what is down is skipped."""

from __future__ import annotations

from jobico.listener.metrics import Counters, render


def counters() -> Counters:
    c = Counters()
    c.accepted["acme"] += 5
    c.rejected["acme", 422] += 2
    return c


RECORDER = {
    "records": 5,
    "buckets_ms": [1, 10],
    "tenants": {"acme": {"counts": {"ok": 4, "error": 1},
                         "duration_ms": {"buckets": [3, 5], "sum": 12.5, "count": 5}}},
}


def test_every_family_has_help_and_type_and_is_parseable() -> None:
    text = render(counters(), {"acme": {"depth": 7, "dead": 1, "paused": False}}, RECORDER)
    lines = text.splitlines()
    assert text.endswith("\n")
    for line in lines:
        if not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            float(value)
            family = name.split("{")[0]
            for suffix in ("_bucket", "_sum", "_count"):
                family = family.removesuffix(suffix)
            assert f"# TYPE {family} " in text
    assert 'jobico_queue_depth{tenant="acme"} 7' in lines
    assert 'jobico_queue_dead{tenant="acme"} 1' in lines
    assert not any("paused" in line for line in lines)
    assert 'jobico_executions_total{tenant="acme",status="error"} 1' in lines
    assert 'jobico_run_duration_seconds_bucket{tenant="acme",le="0.001"} 3' in lines
    assert 'jobico_run_duration_seconds_bucket{tenant="acme",le="+Inf"} 5' in lines
    assert 'jobico_run_duration_seconds_sum{tenant="acme"} 0.0125' in lines
    assert 'jobico_component_up{component="queue"} 1' in lines


def test_down_or_malformed_components_are_skipped_and_marked_down() -> None:
    broken = {"buckets_ms": [1], "tenants": {"acme": {"counts": {}, "duration_ms": {}}}}
    lines = render(counters(), None, broken).splitlines()
    assert 'jobico_events_accepted_total{tenant="acme"} 5' in lines
    assert 'jobico_component_up{component="queue"} 0' in lines
    assert 'jobico_component_up{component="recorder"} 0' in lines
    assert not any(line.startswith(("jobico_queue", "jobico_run", "jobico_exec")) for line in lines)


def test_label_values_are_escaped() -> None:
    c = Counters()
    c.accepted['a"b\\c'] += 1
    assert 'jobico_events_accepted_total{tenant="a\\"b\\\\c"} 1' in render(c, None, None)
