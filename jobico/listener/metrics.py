"""``/metrics``: the webhook's counters and its neighbours' stats, through prometheus_client.

The RPC-fed design stays: per scrape, the shell fetches what the other components
know (``Sources``) and ``render`` hands it to a ``Collector`` registered in a
registry of its own (prometheus_client's global default registry is never used),
exposed in the text format 0.0.4. A part that did not answer (``None``) or
answered something malformed is left out, and its ``jobico_component_up`` is 0.
Shapes read here:

- ``counters``: a ``Tally`` summed over every listener process (``tally.py``).
- queue ``stats``: ``{tenant: {"depth": n, "inflight": n, "dead": n, ...}}``; every
  numeric field becomes a gauge ``jobico_queue_<field>``.
- recorder ``stats``: ``stats.Stats.as_dict`` (runs, retries and three histograms).
- supervisor ``status``: ``{"components": [{"name", "state", "pid", "restarts"}]}``;
  gives ``jobico_component_up``/``_restarts_total`` and each component's ``process_*``
  (prometheus_client's ``ProcessCollector`` on its pid, labelled ``component``).
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from typing import Any

from prometheus_client import generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from jobico.listener.tally import Tally

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
QUEUE_HELP = {
    "depth": "Events waiting per tenant (ready or backing off before a retry).",
    "inflight": "Events leased to an executor now, per tenant.",
    "dead": "Dead-lettered events per tenant (`jobico dead`), until replayed or purged.",
}
# Malformed stats documents: a part of the page is left out, never a 500.
_MALFORMED = (AttributeError, KeyError, TypeError, ValueError)


@dataclass(frozen=True, slots=True)
class Sources:
    """What one scrape shows; ``None`` for a component that did not answer.

    ``component``: the name of the answering process, whose own ``process_*`` metrics
    are shown when the supervisor (which knows every pid) did not answer.
    """

    counters: Tally
    queue: Mapping[str, Any] | None = None
    recorder: Mapping[str, Any] | None = None
    supervisor: Mapping[str, Any] | None = None
    component: str = "listener"


@cache
def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def _build_info() -> InfoMetricFamily:
    info = InfoMetricFamily("jobico_build", "The running Jobico, its Python and wasmtime.")
    info.add_metric([], {"version": _version("jobico"), "python": platform.python_version(),
                         "wasmtime": _version("wasmtime")})
    return info


def _counters(tally: Tally) -> Iterator[Metric]:
    requests = CounterMetricFamily(
        "jobico_requests", "Requests to /events/... answered, by tenant and HTTP status code "
        '(tenant "" when the path names no known tenant); counts requests, not items.',
        labels=["tenant", "code"])
    for (tenant, code), n in sorted(tally.requests.items()):
        requests.add_metric([tenant, str(code)], n)
    items = CounterMetricFamily(
        "jobico_items_accepted", "Items accepted and durably queued (every item of each 202).",
        labels=["tenant"])
    for tenant, n in sorted(tally.items.items()):
        items.add_metric([tenant], n)
    refused = CounterMetricFamily("jobico_connections_refused",
                                  "Connections refused (503) over listener.max_connections.",
                                  value=tally.connections_refused)
    yield from (requests, items, refused)


def _numeric(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _queue(stats: Mapping[str, Any]) -> list[Metric]:
    tenants = sorted((t, per) for t, per in stats.items() if isinstance(per, Mapping))
    fields = sorted({f for _, per in tenants for f, v in per.items() if _numeric(v)})
    families = []
    for name in fields:
        gauge = GaugeMetricFamily(f"jobico_queue_{name}", QUEUE_HELP.get(name, f"Queue {name} per tenant."),
                                  labels=["tenant"])
        for tenant, per in tenants:
            if _numeric(per.get(name)):
                gauge.add_metric([str(tenant)], per[name])
        families.append(gauge)
    return families


def _histogram(name: str, help_text: str, bounds_ms: list[float],
               per_tenant: Iterable[tuple[str, Mapping[str, Any]]]) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, help_text, labels=["tenant"])
    for tenant, hist in per_tenant:
        cumulative = [int(n) for n in hist["buckets"]]
        if len(cumulative) != len(bounds_ms):
            raise ValueError(f"{name}: {len(cumulative)} buckets for {len(bounds_ms)} bounds")
        buckets = [(floatToGoString(b / 1000), n) for b, n in zip(bounds_ms, cumulative, strict=True)]
        family.add_metric([tenant], [*buckets, ("+Inf", int(hist["count"]))], hist["sum"] / 1000)
    return family


def _recorder(stats: Mapping[str, Any]) -> list[Metric]:
    tenants = sorted(stats["tenants"].items())
    runs = CounterMetricFamily("jobico_executions", "Recorded runs per tenant and outcome, since "
                               "the home was created (retention does not count down).",
                               labels=["tenant", "status"])
    retries = CounterMetricFamily("jobico_retries", "Recorded runs that were retries (attempt > 1).",
                                  labels=["tenant"])
    for tenant, per in tenants:
        for status, n in sorted(per["counts"].items()):
            runs.add_metric([tenant, status], n)
        retries.add_metric([tenant], per.get("retries", 0))
    latency = stats.get("latency_buckets_ms", [])

    def of(key: str) -> list[tuple[str, Mapping[str, Any]]]:
        return [(t, per[key]) for t, per in tenants if key in per]

    return [runs, retries,
            _histogram("jobico_run_duration_seconds", "Run time of guest runs.",
                       stats["buckets_ms"], of("duration_ms")),
            _histogram("jobico_queue_wait_seconds", "From acceptance to the start of the first run.",
                       latency, of("wait_ms")),
            _histogram("jobico_end_to_end_seconds", "From acceptance to the end of each run "
                       "(a retry's includes the earlier attempts and their back-off).",
                       latency, of("latency_ms"))]


def _components(status: Mapping[str, Any] | None, answered: Mapping[str, bool]) -> list[Metric]:
    """``jobico_component_up``: running as the supervisor sees it, and for the queue and the
    recorder, their stats answered; without a supervisor, only those two are known."""
    up = GaugeMetricFamily("jobico_component_up", "Whether the component is running (and, for the "
                           "queue and the recorder, answered its stats call).", labels=["component"])
    restarts = CounterMetricFamily("jobico_component_restarts",
                                   "Restarts by the supervisor since `jobico up`.", labels=["component"])
    running = dict(answered)
    for c in (status or {}).get("components", ()):
        name = str(c["name"])
        running[name] = c.get("state") == "running" and answered.get(name, True)
        restarts.add_metric([name], int(c.get("restarts") or 0))
    for name, ok in sorted(running.items()):
        up.add_metric([name], int(ok))
    return [up, restarts]


def _processes(pids: Iterable[tuple[str, int | str]]) -> list[Metric]:
    """``ProcessCollector``'s families for each (component, pid), labelled ``component``.

    One series per component, whichever listener answers: process metrics of "the
    process that answered" would reset at each switch, as the counters did.
    """
    merged: dict[str, Metric] = {}
    for name, pid in pids:
        collector = ProcessCollector(pid=_constant(pid), registry=None)
        for family in collector.collect():
            into = merged.setdefault(family.name, Metric(family.name, family.documentation, family.type))
            for sample in family.samples:
                into.add_sample(sample.name, {**sample.labels, "component": name}, sample.value)
    return list(merged.values())


def _constant(pid: int | str) -> Callable[[], int | str]:
    return lambda: pid


class JobicoCollector(Collector):
    """Every family of one scrape, from ``Sources`` fetched beforehand."""

    def __init__(self, sources: Sources) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        s = self._sources
        yield _build_info()
        yield from _counters(s.counters)
        answered = {}
        for part, stats, families in (("queue", s.queue, _queue), ("recorder", s.recorder, _recorder)):
            answered[part] = False
            if stats is not None:
                try:
                    built = families(stats)
                except _MALFORMED:
                    continue
                answered[part] = True
                yield from built
        try:
            yield from _components(s.supervisor, answered)
            pids = [(str(c["name"]), int(c["pid"])) for c in (s.supervisor or {}).get("components", ())
                    if c.get("pid") and c.get("state") == "running"]
        except _MALFORMED:
            yield from _components(None, answered)
            pids = []
        yield from _processes(pids or [(s.component, "self")])


def render(sources: Sources) -> bytes:
    """The /metrics page (``CONTENT_TYPE``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(JobicoCollector(sources))
    return generate_latest(registry)
