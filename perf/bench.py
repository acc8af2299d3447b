"""End-to-end benchmark: a real `jobico up` on a temporary home, driven over real HTTP.

    .venv/bin/python perf/bench.py [--seconds 10] [--only single,batch100,...] [--set KEY=VALUE ...]
                                   [--profile DIR]   # py-spy every component, per scenario, into DIR

Prints one JSON line per scenario (``make bench``):

- ``loadgen``: the load generator alone against a trivial asyncio server (child
  process): its ceiling, to compare with the platform's figures below;
- ``startup``: ``jobico up`` to ``GET /healthz`` 200, the CPU that took, and the idle
  platform's RSS;
- ``batch100``: batches of 100 items to the jobicolet echo guest, closed loop;
- ``batch100-c``, ``single-c``: batches of 100 and single-item requests to the WASI C
  guest (``perf/guests/greet_wasi.c``: wasi-libc, the item on stdin, the result on
  stdout, two log lines on stderr, ``exit()``), closed loop;
- ``tenants``: four tenants at once, batches of 10, the C guest, closed loop;
- ``rate2000-c``: 2,000 events/s offered open loop to the C guest (batches of 10 at 200
  requests/s);
- ``targets``: issue 15's targets, each with its figure, met or not, and the conditions.

The home runs the *default* configuration (executor and listener sized from the cores),
with fsync on; ``--set`` overrides a setting (e.g. ``executor.workers=1``).

Closed loops keep at most ``WINDOW`` events accepted and not yet recorded, so the
queue never grows without bound and the latency stays meaningful (Little's law:
latency ~ window / throughput). End-to-end latency is from the POST's send time
to the moment its record reaches a ``follow`` stream of the recorder (appended and
fsync'd), per event. Every line names its conditions: machine, cores, load before
the run, the home's config, the guest; and the CPU each component spent per event
(``cpu_us_per_event``), which, unlike events/s, does not depend on what else runs on
the machine: ``cpu_bound_events_per_s`` is what that cost allows on idle cores.
The recorder's figure includes streaming every record to this benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing import Process
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "perf"))

import loadgen  # noqa: E402
from procstat import cpu_model, memory_mb  # noqa: E402

from jobico.errors import JobicoError  # noqa: E402
from jobico.procs import cpu_seconds  # noqa: E402
from jobico.rpc import asyncio_shell  # noqa: E402
from tests.e2e.platform import JOBICO, Platform, package  # noqa: E402
from tests.executor import guests  # noqa: E402

TENANTS = ("bench", "t2", "t3", "t4")
# Both guests take it: the echo guest returns it, the C guest greets "name" with fib("n").
ITEM = {"name": "Ada", "n": 10, "email": "ada@example.com", "note": "x" * 64}
SCHEMA = {"type": "object", "required": ["name", "n", "email"],
          "properties": {"name": {"type": "string"}, "email": {"type": "string"},
                         "n": {"type": "integer", "minimum": 0, "maximum": 93}}}
C_GUEST = ROOT / "perf" / "guests" / "greet_wasi.wasm"
# event -> (module, abi, entry, what it is)
JOBS = {
    "echo": (guests.ECHO, "jobicolet", "event", "jobicolet echo (tests/executor/guests.py ECHO)"),
    "greet": (C_GUEST.read_bytes(), "wasi", "_start", "WASI C greet (perf/guests/greet_wasi.c)"),
}
# The bench's home: the default configuration (listener and executor sized from the cores),
# fsync on (the default, stated), warnings only in the logs.
CONFIG = {"queue.fsync": "true", "log.level": "warning"}
WINDOW = 4000  # closed loops: events accepted and not yet recorded, at most
STARTUP_TIMEOUT_S = 30.0
DRAIN_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Scenario:
    name: str
    per_request: int  # items per request
    connections: int
    event: str = "echo"  # the job: a key of JOBS
    tenants: tuple[str, ...] = TENANTS[:1]
    rate: float | None = None  # requests/s (open loop); None: closed loop
    item: dict[str, Any] = field(default_factory=lambda: ITEM)
    window: int = WINDOW


SCENARIOS = (
    Scenario("batch100", 100, 8),
    Scenario("batch100-c", 100, 8, "greet"),
    Scenario("single-c", 1, 32, "greet"),
    Scenario("tenants", 10, 16, "greet", TENANTS),
    Scenario("rate2000-c", 10, 32, "greet", rate=200.0),
    Scenario("single", 1, 32),  # not in ``make bench``: --only single
)
DEFAULT_SCENARIOS = ("batch100", "batch100-c", "single-c", "tenants", "rate2000-c")


# --- conditions and output ------------------------------------------------------------------

def conditions(config: dict[str, str], event: str | None = None,
               item: dict[str, Any] = ITEM) -> dict[str, Any]:
    """Where a figure was measured; ``config`` lists what differs from the defaults."""
    return {"machine": f"{platform.machine()} {cpu_model()}",
            "cores": os.cpu_count(), "load_1m": round(os.getloadavg()[0], 2),
            "python": platform.python_version(), "config": config,
            **({"guest": JOBS[event][3]} if event else {}),
            "item_bytes": len(json.dumps(item))}


def emit(line: dict[str, Any]) -> None:
    print(json.dumps(line), flush=True)


# --- the load generator alone ---------------------------------------------------------------

def selfcheck(seconds: float) -> dict[str, Any]:
    """The load generator against a trivial server: its own ceiling and CPU cost."""
    sock = socket.create_server(("127.0.0.1", 0), backlog=1024)
    port = sock.getsockname()[1]
    server = Process(target=loadgen.trivial_server, args=(sock,), daemon=True)
    server.start()
    sock.close()
    try:
        out: dict[str, Any] = {"scenario": "loadgen"}
        for label, per, connections in (("single", 1, 32), ("batch100", 100, 8)):
            body = loadgen.batch_body([ITEM] * per)
            requests = [loadgen.request("/events/bench/echo", body)]
            cpu = time.process_time()
            load = asyncio.run(loadgen.drive("127.0.0.1", port, requests, seconds=seconds,
                                             connections=connections))
            cpu = time.process_time() - cpu
            requests_done = sum(load.statuses.values())
            out[label] = {"requests_per_s": round(requests_done / load.elapsed),
                          "items_per_s": round(load.accepted / load.elapsed),
                          "loadgen_cpu_us_per_request": round(cpu / requests_done * 1e6, 1)}
        return out
    finally:
        server.terminate()
        server.join()


# --- the platform ---------------------------------------------------------------------------

def toml_value(value: str) -> str:
    return value if value in ("true", "false") or value.replace(".", "", 1).isdigit() else json.dumps(value)


def make_home(root: Path, config: dict[str, str], tenants: tuple[str, ...] = TENANTS,
              webhook: dict[str, Any] | None = None) -> Platform:
    """A home serving every job of ``JOBS`` to each of ``tenants``, with ``config`` (and the
    packages' ``[webhook]`` table, e.g. a larger ``max_body_kb``)."""
    sections: dict[str, list[str]] = {"listener": []}
    for key, value in config.items():
        section, name = key.split(".", 1)
        sections.setdefault(section, []).append(f"{name} = {toml_value(value)}\n")
    # Platform writes [listener] host and port and then this text: listener keys come first.
    extra = "".join(sections.pop("listener")) + "".join(
        f"[{section}]\n" + "".join(lines) for section, lines in sections.items())
    home = Platform(root, extra)
    for tenant in tenants:
        home.write(f"{tenant}/schema.json", json.dumps(SCHEMA))
        for event, job in JOBS.items():
            home.write(f"{tenant}/{event}.wasm", job[0])
        home.write(f"{tenant}/bench.toml", package(*(
            {"event": event, "schema": "schema.json", "wasm": f"{event}.wasm", "abi": abi,
             "entry": entry, "timeout_ms": 1000, "memory_mb": 16, "max_attempts": 3}
            for event, (_, abi, entry, _) in JOBS.items()), **({"webhook": webhook} if webhook else {})))
    return home


def start(home: Platform) -> float:
    """``jobico up`` until ``/healthz`` answers 200; the seconds it took."""
    env = dict(os.environ)
    env.pop("APP_ENV", None)
    out = open(home.console, "ab")  # noqa: SIM115 - closed with the process
    started = time.perf_counter()
    home.process = subprocess.Popen([*JOBICO, "up", "--home", str(home.root)], stdout=out, stderr=out,
                                    stdin=subprocess.DEVNULL, env=env)
    out.close()
    while True:
        if home.process.poll() is not None:
            raise SystemExit(f"jobico up exited with {home.process.returncode}:\n{home.console_text()}")
        try:
            if home.request("GET", "/healthz")[0] == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        if time.perf_counter() - started > STARTUP_TIMEOUT_S:
            raise SystemExit(f"not healthy after {STARTUP_TIMEOUT_S} s:\n{home.console_text()}")
        time.sleep(0.02)


def components(home: Platform) -> dict[str, int]:
    status = home.rpc("supervisor", "status")
    assert home.process is not None
    return {"supervisor": home.process.pid, **{c["name"]: c["pid"] for c in status["components"]}}


def wait_for_events(home: Platform, tenants: tuple[str, ...] = TENANTS) -> None:
    for tenant in tenants:
        for event in JOBS:
            home.wait_for_event(tenant, event, timeout=30.0)


# --- one scenario ---------------------------------------------------------------------------

class Follower:
    """Records as they become durable, from the recorder's ``follow`` stream."""

    def __init__(self, sock: Path) -> None:
        self.sock = sock
        self.recorded: dict[str, float] = {}
        self.progress = asyncio.Event()
        self.restarts = 0

    async def run(self, ready: asyncio.Event) -> None:
        while True:
            try:
                async with await asyncio_shell.connect(self.sock) as client, \
                        client.stream("follow", {"status": "ok"}) as records:
                    ready.set()
                    async for record in records:
                        self.recorded.setdefault(record["event_id"], time.perf_counter())
                        self.progress.set()
            except JobicoError:  # fell behind the recorder's buffer, or it restarted: follow again
                self.restarts += 1
                await asyncio.sleep(0.1)


async def _windowed(load: loadgen.Load, follower: Follower, scenario: Scenario, port: int,
                    seconds: float) -> None:
    """Drive ``scenario``; closed loops pause while ``scenario.window`` events are in flight."""
    body = loadgen.batch_body([scenario.item] * scenario.per_request)
    requests = [loadgen.request(f"/events/{t}/{scenario.event}", body) for t in scenario.tenants]

    async def room() -> None:
        while load.accepted - len(follower.recorded) >= scenario.window:
            follower.progress.clear()
            await follower.progress.wait()

    await loadgen.drive("127.0.0.1", port, requests, seconds=seconds, connections=scenario.connections,
                        rate=scenario.rate, load=load, room=None if scenario.rate else room)


async def _run(scenario: Scenario, home: Platform, seconds: float) -> tuple[loadgen.Load, Follower, float]:
    follower = Follower(home.root / ".jobico" / "run" / "recorder.sock")
    ready = asyncio.Event()
    follow = asyncio.create_task(follower.run(ready))
    await asyncio.wait_for(ready.wait(), 10)
    load = loadgen.Load()
    await _windowed(load, follower, scenario, home.port, seconds)

    async def drained() -> None:
        while len(follower.recorded.keys() & load.sent.keys()) < load.accepted:
            follower.progress.clear()
            await follower.progress.wait()

    with contextlib.suppress(TimeoutError):  # what is missing then is reported as not_recorded
        await asyncio.wait_for(drained(), DRAIN_TIMEOUT_S)
    follow.cancel()
    last = max((follower.recorded[i] for i in load.sent if i in follower.recorded), default=load.started)
    return load, follower, last


def quantiles_ms(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {}
    cuts = statistics.quantiles(values, n=100)
    return {"p50": round(cuts[49] * 1000, 1), "p95": round(cuts[94] * 1000, 1),
            "p99": round(cuts[98] * 1000, 1)}


def profilers(pids: dict[str, int], scenario: Scenario, seconds: float, into: Path | None
              ) -> list[subprocess.Popen[bytes]]:
    """py-spy sampling each component (100 Hz, not pausing it; only the thread holding the GIL, so
    the samples are Python CPU time) for ``seconds``."""
    if into is None:
        return []
    spy = os.environ.get("PY_SPY") or shutil.which("py-spy")
    if spy is None:
        raise SystemExit("--profile needs py-spy on PATH or in $PY_SPY")
    into.mkdir(parents=True, exist_ok=True)
    return [subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                              "--nonblocking", "--gil", "--format", "raw",
                              "-o", str(into / f"{scenario.name}-{name}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for name, pid in pids.items()]


def run_scenario(scenario: Scenario, home: Platform, pids: dict[str, int], seconds: float,
                 config: dict[str, str], profile: Path | None) -> dict[str, Any]:
    spies = profilers(pids, scenario, seconds, profile)
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    load_before = os.getloadavg()[0]
    mine = time.process_time()
    load, follower, last = asyncio.run(_run(scenario, home, seconds))
    mine = time.process_time() - mine
    for spy in spies:
        spy.wait()
    span = max(last - load.started, load.elapsed)
    latencies = [follower.recorded[i] - sent for i, sent in load.sent.items() if i in follower.recorded]
    completed = len(latencies)
    used = {name: cpu_seconds(pid) - before[name] for name, pid in pids.items()}
    per_event = {name: round(cpu / max(completed, 1) * 1e6) for name, cpu in used.items() if cpu}
    return {
        "scenario": scenario.name,
        "items_per_request": scenario.per_request,
        "tenants": len(scenario.tenants),
        "loop": f"open, {scenario.rate * scenario.per_request:g} events/s offered" if scenario.rate
        else f"closed, {scenario.connections} connections, window {scenario.window} events",
        "seconds": round(load.elapsed, 1),
        "accepted_items_per_s": round(load.accepted / load.elapsed),
        "completed_events_per_s": round(completed / span),
        "completed": completed,
        "not_recorded": load.accepted - completed,
        "statuses": dict(load.statuses),
        "e2e_ms": quantiles_ms(latencies),
        "accept_ms": quantiles_ms(load.replies),
        "cpu_percent": {name: round(cpu / span * 100) for name, cpu in used.items()}
        | {"loadgen": round(mine / span * 100)},
        "cpu_us_per_event": per_event | {"total": sum(per_event.values())},
        # what the CPU cost allows if the platform had every core to itself
        "cpu_bound_events_per_s": round((os.cpu_count() or 1) * 1e6 / max(sum(per_event.values()), 1)),
        "peak_rss_mb": {name: round(memory_mb(pid, "VmHWM")) for name, pid in pids.items()},
        "follow_restarts": follower.restarts,
        "conditions": conditions(config, scenario.event, scenario.item) | {"load_1m": round(load_before, 2)},
    }


# Issue 15's targets (idle 2-core machine, fsync on, default configuration):
# (what, scenario, figure's path in its line, "max" or "min", bound)
TARGETS = (
    ("CPU per event, all processes, jobicolet echo, batches of 100 (us)",
     "batch100", ("cpu_us_per_event", "total"), "max", 250),
    ("CPU per event, all processes, WASI C guest, batches of 100 (us)",
     "batch100-c", ("cpu_us_per_event", "total"), "max", 400),
    ("completed events/s, WASI C guest, batches of 100", "batch100-c",
     ("completed_events_per_s",), "min", 4000),
    ("completed events/s, WASI C guest, single-item requests", "single-c",
     ("completed_events_per_s",), "min", 2000),
    ("p99 end to end at 2,000 events/s offered, batches of 10 (ms)", "rate2000-c",
     ("e2e_ms", "p99"), "max-strict", 100),
    ("jobico up to healthy (s)", "startup", ("up_to_healthy_s",), "max-strict", 3),
    ("idle RSS, all processes (MB)", "startup", ("idle_rss_total_mb",), "max-strict", 300),
)


def targets(lines: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Each target with its figure, whether it is met, and the conditions it was measured in
    (the load average before its run: the targets are for an idle machine)."""
    out = []
    for what, scenario, path, kind, bound in TARGETS:
        line = lines.get(scenario)
        if line is None:
            continue
        figure: Any = line
        for key in path:
            figure = figure.get(key) if isinstance(figure, dict) else None
        if figure is None:
            met = False
        elif kind == "min":
            met = figure >= bound
        else:
            met = figure < bound if kind == "max-strict" else figure <= bound
        sign = {"min": ">=", "max": "<=", "max-strict": "<"}[kind]
        conds = line["conditions"]
        out.append({"target": f"{what} {sign} {bound:,}", "figure": figure, "met": met,
                    "scenario": scenario, "load_1m": conds["load_1m"], "guest": conds.get("guest")})
    conds = conditions(next(iter(lines.values()))["conditions"]["config"])
    return {"scenario": "targets", "targets": out,
            "conditions": {k: conds[k] for k in ("machine", "cores", "python", "config")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a setting of the bench's home, e.g. listener.workers=1")
    parser.add_argument("--profile", type=Path, help="py-spy (on PATH or $PY_SPY) each component "
                        "during each scenario; collapsed stacks into this directory")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    args = parser.parse_args()
    config = dict(CONFIG)
    for item in args.set:
        key, _, value = item.partition("=")
        config[key] = value
    only = set(filter(None, args.only.split(","))) or {"loadgen", "startup", *DEFAULT_SCENARIOS}
    lines: dict[str, dict[str, Any]] = {}
    if "loadgen" in only:
        emit(selfcheck(min(args.seconds, 5.0)) | {"conditions": conditions({})})
    root = Path(tempfile.mkdtemp(prefix="jobico-bench-"))
    home = make_home(root, config)
    try:
        load_before = os.getloadavg()[0]
        took = start(home)
        pids = components(home)
        startup_cpu = sum(cpu_seconds(pid) for pid in pids.values())
        time.sleep(2.0)  # settle: let every component finish its start-up work
        lines["startup"] = {
            "scenario": "startup", "up_to_healthy_s": round(took, 2),
            # CPU every process used until healthy: on a busy machine, the part of the
            # wall time that is ours (it cannot finish faster than this / cores)
            "startup_cpu_s": round(startup_cpu, 2),
            "idle_rss_mb": {name: round(memory_mb(pid, "VmRSS")) for name, pid in pids.items()},
            "idle_rss_total_mb": round(sum(memory_mb(pid, "VmRSS") for pid in pids.values())),
            "conditions": conditions(config) | {"load_1m": round(load_before, 2)}}
        emit(lines["startup"])
        wait_for_events(home)
        for scenario in SCENARIOS:
            if scenario.name in only:
                lines[scenario.name] = run_scenario(scenario, home, pids, args.seconds, config,
                                                    args.profile)
                emit(lines[scenario.name])
        emit(targets(lines))
    finally:
        home.stop()
        if args.keep:
            print(f"# home kept at {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
