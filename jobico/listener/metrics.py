"""Prometheus text exposition (format 0.0.4) of the listener's counters and its neighbours' stats.

Pure: the shell fetches ``stats`` from the queue and the recorder and passes what it
got (``None`` for a component that is down, whose families are then left out and
whose ``jobico_component_up`` is 0). Shapes read here, per tenant:

- queue ``stats``: ``{tenant: {"depth": n, "inflight": n, "dead": n, ...}}``; every
  numeric field becomes a gauge ``jobico_queue_<field>``.
- recorder ``stats``: ``{"buckets_ms": [le...], "tenants": {tenant: {"counts": {status: n},
  "duration_ms": {"buckets": [cumulative count per le], "sum": ms, "count": n}}}}``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(slots=True)
class Counters:
    """What this listener process saw; ``rejected`` counts requests by (tenant, status),
    ``connections_refused`` the connections over ``listener.max_connections``."""

    accepted: Counter[str] = field(default_factory=Counter)
    accepted_requests: Counter[str] = field(default_factory=Counter)
    rejected: Counter[tuple[str, int]] = field(default_factory=Counter)
    connections_refused: int = 0

    def refuse_connection(self) -> None:
        self.connections_refused += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": dict(self.accepted),
            "accepted_requests": dict(self.accepted_requests),
            "rejected": [{"tenant": t, "status": s, "count": n}
                         for (t, s), n in sorted(self.rejected.items())],
            "connections_refused": self.connections_refused,
        }


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: object) -> str:
    inner = ",".join(f'{name}="{_escape(str(value))}"' for name, value in labels.items())
    return "{" + inner + "}"


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str,
               samples: Iterable[tuple[str, str, float]]) -> None:
        """One metric family; samples are (suffix, labels, value). Empty families are skipped."""
        rows = [f"{name}{suffix}{labels} {_number(value)}" for suffix, labels, value in samples]
        if rows:
            self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *rows]


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _queue(out: _Writer, stats: Mapping[str, Any]) -> None:
    fields = sorted({f for per in stats.values() if isinstance(per, Mapping)
                     for f, v in per.items() if _numeric(v)})
    for name in fields:
        out.family(f"jobico_queue_{name}", "gauge", f"Queue {name} per tenant.", (
            ("", _labels(tenant=t), per[name]) for t, per in sorted(stats.items())
            if isinstance(per, Mapping) and _numeric(per.get(name))))


def _recorder(out: _Writer, stats: Mapping[str, Any]) -> None:
    tenants = sorted((stats.get("tenants") or {}).items())
    out.family("jobico_executions_total", "counter", "Recorded runs per tenant and outcome.", (
        ("", _labels(tenant=t, status=s), n) for t, per in tenants
        for s, n in sorted(per["counts"].items())))
    bounds = stats["buckets_ms"] if tenants else []
    samples: list[tuple[str, str, float]] = []
    for tenant, per in tenants:
        hist = per["duration_ms"]
        for bound, count in zip(bounds, hist["buckets"], strict=True):
            samples.append(("_bucket", _labels(tenant=tenant, le=_number(bound / 1000)), count))
        samples += [("_bucket", _labels(tenant=tenant, le="+Inf"), hist["count"]),
                    ("_sum", _labels(tenant=tenant), hist["sum"] / 1000),
                    ("_count", _labels(tenant=tenant), hist["count"])]
    out.family("jobico_run_duration_seconds", "histogram", "Run time of guest runs.", samples)


def render(
    counters: Counters,
    queue: Mapping[str, Any] | None,
    recorder: Mapping[str, Any] | None,
) -> str:
    """The /metrics page. A malformed stats document is skipped like a missing one."""
    out = _Writer()
    out.family("jobico_events_accepted_total", "counter", "Items accepted and queued.", (
        ("", _labels(tenant=t), n) for t, n in sorted(counters.accepted.items())))
    out.family("jobico_events_rejected_total", "counter",
               "Requests rejected, by tenant and HTTP status (tenant is empty when unknown).", (
        ("", _labels(tenant=t, status=s), n) for (t, s), n in sorted(counters.rejected.items())))
    out.family("jobico_connections_refused_total", "counter",
               "Connections refused (503) over listener.max_connections.",
               [("", "", counters.connections_refused)])
    up = {"queue": queue is not None, "recorder": recorder is not None}
    for part, stats in (("queue", queue), ("recorder", recorder)):
        if stats is None:
            continue
        mark = len(out.lines)
        try:
            (_queue if part == "queue" else _recorder)(out, stats)
        except (AttributeError, KeyError, TypeError, ValueError):
            del out.lines[mark:]
            up[part] = False
    out.family("jobico_component_up", "gauge", "Whether the component answered its stats call.", (
        ("", _labels(component=c), int(ok)) for c, ok in up.items()))
    return "\n".join(out.lines) + "\n"
