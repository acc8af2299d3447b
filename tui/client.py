"""PlatformClient: the only part of the dashboard that talks to a running home.

RPC over the asyncio shell to the sockets in ``<home>/.jobico/run/`` (one
long-lived connection per component, reopened after it breaks), plus one HTTP
POST to the listener for "send a test event", found and signed as ``jobico send``
does (jobico/cli/webhook.py). Transport errors are translated
here, once: a missing supervisor is ``Offline``, any other missing component
``Unavailable`` naming it; errors the components raise pass through as sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from jobico import component_api
from jobico.cli import webhook
from jobico.ctl import api as ctl_api
from jobico.errors import JobicoError, Unavailable, UserError
from jobico.home import Home
from jobico.listener.body import encode
from jobico.queue import api as queue_api
from jobico.recorder import api as recorder_api
from jobico.recorder.records import Filter, parse_time
from jobico.repo import api as repo_api
from jobico.rpc import asyncio_shell
from jobico.rpc.api import EMPTY, Call, Rep, Req
from jobico.rpc.errors import ConnectFailed, ConnectionLost
from supervisor import api as supervisor_api
from tui import wire
from tui.procstat import ProcSampler
from tui.rates import STEP_S, RateTracker, TrendSampler
from tui.source import (
    Catalog,
    ComponentInfo,
    DeadLetter,
    LoadError,
    Offline,
    Overview,
    Record,
    RecordFilter,
    TenantQueue,
    Upload,
)
from tui.tail import TailCursor
from tui.wasminfo import blob_info

PICKUP_S = 5.0  # how long an upload waits for ctl's verdict (as `jobico deploy` does)
E2E_SAMPLE = 500  # newest records read per sparkline step for the end-to-end p99
E2E_MARGIN_S = 30.0  # how far before the newest start a step looks for newly stored runs


class PlatformClient:
    """A ``DataSource`` over a running home; cheap to create, connects lazily."""

    def __init__(self, home: Path, *, timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.home = home
        self._home = Home(home)
        self._timeout = timeout
        self._clock = clock
        self._wall = wall
        self._conns: dict[str, tuple[Any, contextlib.AsyncExitStack]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._accepted = RateTracker()
        self._runs = RateTracker()
        self._trends = TrendSampler()
        self._stored = TailCursor(wall(), margin_s=E2E_MARGIN_S)
        self._next_e2e: float | None = None
        self._procs = ProcSampler()
        self._blobs: dict[str, tuple[int, tuple[str, ...]] | None] = {}

    async def _client(self, name: str) -> Any:
        """The open connection to ``name``. Errors: Offline / Unavailable when not running."""
        async with self._locks.setdefault(name, asyncio.Lock()):
            if name not in self._conns:
                stack = contextlib.AsyncExitStack()
                try:
                    client = await asyncio_shell.connect(self._home.socket(name),
                                                         timeout=self._timeout)
                except ConnectFailed as exc:
                    if name == "supervisor":
                        raise Offline(self.home) from exc
                    raise Unavailable(f"{name} is not running in {self.home}") from exc
                self._conns[name] = (await stack.enter_async_context(client), stack)
            return self._conns[name][0]

    async def _drop(self, name: str) -> None:
        _, stack = self._conns.pop(name, (None, None))
        if stack is not None:
            with contextlib.suppress(Exception):
                await stack.aclose()

    async def _call(self, name: str, method: str, params: dict[str, Any] | None = None) -> Any:
        """One RPC. Errors: as the component raised them; ConnectionLost → Unavailable."""
        client = await self._client(name)
        try:
            return await client.call(method, params or {}, timeout=self._timeout)
        except ConnectionLost as exc:
            await self._drop(name)
            raise Unavailable(f"{name} went away during {method}") from exc

    async def _ask(self, name: str, method: Call[Req, Rep], request: Req) -> Rep:
        """``_call`` with a typed call of the component's api module (``repo_api.upload``...).

        Errors: as ``_call``; ``BadReply`` for an answer off the contract.
        """
        return method.decode(await self._call(name, method.name, request.to_wire()))

    async def _details(self, name: str) -> Mapping[str, Any]:
        """A component's own ``status`` figures; none when it fails (that part of a screen blanks)."""
        try:
            return (await self._ask(name, component_api.status, EMPTY)).details
        except JobicoError:
            return {}

    async def overview(self) -> Overview:
        status = await self._ask("supervisor", supervisor_api.status, EMPTY)
        comps = [ComponentInfo(c.name, c.state, c.pid, c.restarts, c.uptime_s) for c in status.components]
        listeners = [c.name for c in comps if c.name.startswith("listener")]
        queues, rstats, *lstats = await asyncio.gather(
            self._queues(), self._recorder_stats(),
            *(self._details(name) for name in listeners))
        now = self._clock()
        self._procs.forget_except({c.pid for c in comps if c.pid})
        comps = [replace(c, **dict(zip(("cpu_percent", "rss_mb"),
                                       self._procs.sample(c.pid, now), strict=True)))
                 for c in comps]
        total = wire.accepted_total(lstats)
        accepted = None if total is None else self._accepted.update(now, {"all": total})
        accepted_per_s = accepted["all"] if accepted else None
        runs_per_s = self._runs.update(now, wire.runs_by_status(rstats)) if rstats else None
        self._trends.add_rates(now, accepted_per_s, runs_per_s)
        if self._next_e2e is None or now >= self._next_e2e:
            await self._sample_end_to_end(now, first=self._next_e2e is None)
            self._next_e2e = now + STEP_S
        return Overview(
            components=tuple(comps),
            queues=queues,
            accepted_per_s=accepted_per_s,
            runs_per_s=runs_per_s,
            trends=self._trends.trends(now),
        )

    async def _queues(self) -> tuple[TenantQueue, ...]:
        """Each tenant's queue, by tenant; none while the queue does not answer."""
        try:
            stats = await self._ask("queue", queue_api.stats, EMPTY)
        except JobicoError:
            return ()
        return tuple(TenantQueue(tenant, s.depth, s.inflight, s.dead, s.paused)
                     for tenant, s in sorted(stats.tenants.items()))

    async def _recorder_stats(self) -> dict[str, Any]:
        """The recorder's stats as ``wire.runs_by_status`` reads them; {} when it does not answer."""
        try:
            stats = await self._ask("recorder", recorder_api.stats, EMPTY)
        except JobicoError:
            return {}
        return stats.to_wire()

    async def _sample_end_to_end(self, now: float, *, first: bool) -> None:
        """Feed the p99 sparkline with the runs stored since the previous step.

        Up to ``E2E_SAMPLE`` newest records are read per step (a sample when more runs
        end in a step). The first read only marks what was already stored.
        """
        since = recorder_api.Query(Filter(since=self._stored.since), limit=E2E_SAMPLE)
        try:
            found = await self._ask("recorder", recorder_api.query, since)
        except JobicoError:
            return
        fresh = [r for r in _records(found.items) if self._stored.fresh(r)]
        if not first:
            self._trends.add_records(now, fresh)

    async def catalog(self) -> Catalog:
        current, listed = await asyncio.gather(self._ask("ctl", ctl_api.catalog, EMPTY),
                                               self._ask("ctl", ctl_api.packages, ctl_api.ListPackages()))
        return wire.catalog(current.to_wire(), listed.to_wire(), self._blob_info)

    def _blob_info(self, sha256: str) -> tuple[int, tuple[str, ...]] | None:
        if sha256 not in self._blobs:
            self._blobs[sha256] = blob_info(self._home.blobs, sha256)
        return self._blobs[sha256]

    async def read_file(self, tenant: str, path: str) -> str:
        return wire.text((await self._ask("repo", repo_api.read, repo_api.Read(tenant, path))).data)

    async def executions(self, filt: RecordFilter, limit: int,
                         before: str | None = None) -> list[Record]:
        query = recorder_api.Query(_where(filt), limit, before)
        return _records((await self._ask("recorder", recorder_api.query, query)).items)

    @asynccontextmanager
    async def follow(self, filt: RecordFilter, backlog: int = 0
                     ) -> AsyncIterator[AsyncIterator[Record]]:
        """The backlog then new records as they are stored (entered once the stream is
        open). Errors: Unavailable when the recorder is not running or goes away.
        Cancellation: closes the stream on the server."""
        client = await self._client("recorder")
        try:
            async with recorder_api.follow(client, recorder_api.Follow(_where(filt), backlog)) as items:
                yield (_record(item) async for item in items)
        except ConnectionLost as exc:
            await self._drop("recorder")
            raise Unavailable("recorder went away while following records") from exc

    async def record(self, record_id: str) -> Record:
        return _record(await self._ask("recorder", recorder_api.get, recorder_api.Get(record_id)))

    async def attempts(self, event_id: str) -> list[Record]:
        found = await self._ask("recorder", recorder_api.attempts, recorder_api.Attempts(event_id))
        return sorted(_records(found.items), key=lambda r: r.attempt)

    async def dead(self, tenant: str | None = None) -> list[DeadLetter]:
        reply = await self._ask("queue", queue_api.dead, queue_api.ListDead(tenant or None))
        return [DeadLetter(d.id, d.tenant, d.event, d.attempt, d.reason, wire.text(d.body), d.dead_at)
                for d in reply.letters]

    async def replay(self, ids: list[str] | None = None, tenant: str | None = None) -> int:
        return len((await self._ask("queue", queue_api.replay, _selection(ids, tenant))).ids)

    async def purge(self, ids: list[str] | None = None, tenant: str | None = None) -> int:
        return len((await self._ask("queue", queue_api.purge, _selection(ids, tenant))).ids)

    async def send(self, tenant: str, event: str, item: Any) -> list[str]:
        """Post ``item`` as ``jobico send`` does: to the port the home really listens on,
        signed with the package's webhook secret when it has one."""
        url = await self._webhook_url()  # first: an executor-only node is told so, as by the CLI
        secret = webhook.event_secret(await self._ask("ctl", ctl_api.catalog, EMPTY), tenant, event)
        status, reply = await asyncio.to_thread(_post, url, secret, tenant, event, encode(item),
                                                self._timeout)
        if status == 202 and isinstance(reply, dict):
            return list(reply.get("ids", []))
        if isinstance(reply, dict):
            reply = f"{reply.get('error', '')} {reply.get('detail', '')}"
        message = f"{url}/events/{tenant}/{event} answered {status}: {reply}"
        raise (Unavailable if status == 503 else UserError)(message.strip())

    async def _webhook_url(self) -> str:
        """Where the webhook listens, as the running home reports it (jobico/cli/webhook.py)."""
        status = await self._ask("supervisor", supervisor_api.status, EMPTY)
        names = webhook.listener_names(status)
        reports = await asyncio.gather(*(self._details(name) for name in names))
        return webhook.live_webhook_url(self.home, status, (r.get("urls") or [] for r in reports))

    async def upload(self, tenant: str, path: Path) -> Upload:
        """Install the file through repo, then wait (up to ``PICKUP_S``) for ctl's verdict."""
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            raise UserError(f"cannot read {path}: {exc.strerror}") from exc
        before = (await self._verdict(tenant, path.name))[0]
        reply = await self._ask("repo", repo_api.upload, repo_api.Upload(tenant, path.name, data))
        sha = reply.sha256
        kind = "package" if path.suffix == ".toml" else "file"
        deadline = self._clock() + PICKUP_S
        while True:
            errors, loaded = await self._verdict(tenant, path.name)
            # errors seen before the upload may be stale: only new ones end the wait early
            if loaded == sha or (errors and errors != before) or self._clock() >= deadline:
                return Upload(tenant, path.name, sha, kind, loaded=loaded == sha, errors=errors)
            await asyncio.sleep(0.1)

    async def _verdict(self, tenant: str, name: str) -> tuple[tuple[LoadError, ...], str | None]:
        """ctl's verdict on the file so far; none yet while ctl is down or restarting."""
        try:
            listed = await self._ask("ctl", ctl_api.packages, ctl_api.ListPackages(tenant))
        except JobicoError:
            return (), None
        return wire.load_verdict(listed.to_wire(), tenant, name)

    async def restart(self, component: str) -> None:
        await self._ask("supervisor", supervisor_api.restart, supervisor_api.Restart(component))

    async def pause(self, tenant: str) -> None:
        await self._ask("queue", queue_api.pause, queue_api.OfTenant(tenant))

    async def resume(self, tenant: str) -> None:
        await self._ask("queue", queue_api.resume, queue_api.OfTenant(tenant))

    def log_file(self, component: str) -> Path:
        return self._home.log_file(component)

    async def close(self) -> None:
        for name in list(self._conns):
            await self._drop(name)


def _where(filt: RecordFilter) -> Filter:
    """The recorder's filter for the dashboard's (whose times are ISO 8601 text; empty is any)."""
    return Filter(tenant=filt.tenant or None, event=filt.event or None,
                  statuses=frozenset({filt.status}) if filt.status else None, text=filt.text or None,
                  since=parse_time(filt.since, "since") if filt.since else None,
                  until=parse_time(filt.until, "until") if filt.until else None)


def _record(record: recorder_api.Record) -> Record:
    """The dashboard's view of a record (``wire.record`` reads the wire map)."""
    return wire.record(record.to_wire())


def _records(records: Iterable[recorder_api.Record]) -> list[Record]:
    return [_record(r) for r in records]


def _selection(ids: list[str] | None, tenant: str | None) -> queue_api.Selection:
    if ids:
        return queue_api.Selection(ids=tuple(ids))
    if tenant:
        return queue_api.Selection(tenant=tenant)
    raise UserError("name the dead letters: some event ids or a tenant")


def _post(url: str, secret: str | None, tenant: str, event: str, body: bytes,
          timeout: float) -> tuple[int, Any]:
    """Blocking POST (run in a thread). Errors: Unavailable when nothing answers."""
    hook = webhook.Webhook(url, secret, timeout)
    try:
        return hook.post(tenant, event, body)
    finally:
        hook.close()
