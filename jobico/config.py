"""One typed configuration, layered as SPEC §7.

Precedence, lowest first: defaults < ``jobico.toml`` < ``.env`` < ``.env.<APP_ENV>``
< environment ``JOBICO_<SECTION>_<KEY>`` < command-line flags. Every value remembers
where it came from, so an error (and ``jobico config``) can name the key and its source.
Components load it once at start; the supervisor passes flag values to them as
environment variables, the one layer every child inherits.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobico.errors import ConfigError
from jobico.logfiles import FORMATS as LOG_FORMATS
from jobico.redact import redact_url

LOG_LEVELS = ("debug", "info", "warning", "error")


def cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. under ``taskset`` or a cpuset)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# Defaults sized from the machine (README, Configuration). An executor process is
# GIL-bound on short guests, so it uses about one core, and the queue, recorder and
# listener together need about half as much again: one executor process per two
# cores. Measured on 2 cores (perf/bench.py, batches of 100): one process of four
# threads 182 us CPU per echo event, two processes of two 234 us, and +45 MB idle
# RSS. Threads run wasm in parallel (wasmtime lets the GIL go): four per process.
# One listener process per four cores: one serves ~3,000 single-item requests/s.
# Both at most 64, the most a setting may ask for.
SIZED: dict[str, Any] = {
    "listener.workers": lambda n: min(max(1, n // 4), 64),
    "executor.workers": lambda n: min(max(1, n // 2), 64),
}


def _sized(key: str) -> Any:
    return field(default_factory=lambda: SIZED[key](cores()))
QUEUE_BACKENDS = ("file", "memory", "redis")


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = _sized("listener.workers")
    max_connections: int = 512  # per listener process; more get 503 at accept
    request_timeout_s: float = 20.0  # a whole request (head and body) must arrive within this


@dataclass(frozen=True, slots=True)
class ExecutorConfig:
    workers: int = _sized("executor.workers")
    max_concurrency: int = 4
    lease_ms: int = 30_000
    # A lease of 256 and a window of 512 (2 x batch) keep one executor busy while runs wait
    # for their records' fsync; with 64, one executor ran 1,868 C guest events/s at 344 us of
    # CPU each, with 128 or 256 2,487/s at 275 us (perf/bench.py, load 6-7).
    batch: int = 256
    # Compiling one guest module, in ctl's check and in each executor (executor/compiler.py):
    # a real 11.9 MB Go module takes 4.6 s and 350 MB on 2 cores.
    compile_timeout_ms: int = 30_000
    compile_memory_mb: int = 1024


@dataclass(frozen=True, slots=True)
class QueueConfig:
    backend: str = "file"
    fsync: bool = True
    max_depth: int = 1_000_000
    max_inflight_per_tenant: int = 1024  # four executors each holding their per-tenant share (256)
    url: str = ""


@dataclass(frozen=True, slots=True)
class RecorderConfig:
    retention_days: int = 7


@dataclass(frozen=True, slots=True)
class LogConfig:
    level: str = "info"
    file: str = ""
    format: str = "text"  # "json": one object per line (ts, level, component, message, event ids)


@dataclass(frozen=True, slots=True)
class TenantQuota:
    """Per-tenant limits; 0 means unlimited."""

    max_queue_depth: int = 0
    rate: float = 0.0
    burst: int = 0
    max_concurrency: int = 0


@dataclass(frozen=True, slots=True)
class Config:
    listener: ListenerConfig = field(default_factory=ListenerConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    queue: QueueConfig = field(default_factory=QueueConfig)
    recorder: RecorderConfig = field(default_factory=RecorderConfig)
    log: LogConfig = field(default_factory=LogConfig)
    tenants: Mapping[str, TenantQuota] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict, compare=False)

    def quota(self, tenant: str) -> TenantQuota:
        """The tenant's own quota, else the ``[tenants.default]`` one, else unlimited."""
        return self.tenants.get(tenant) or self.tenants.get("default") or TenantQuota()

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("sources")
        return data

    def shown(self) -> dict[str, Any]:
        """``to_dict`` for printing: the queue URL's password masked (it reaches terminals and logs)."""
        data = self.to_dict()
        data["queue"]["url"] = redact_url(data["queue"]["url"])
        return data


SECTIONS: dict[str, type] = {
    "listener": ListenerConfig,
    "executor": ExecutorConfig,
    "queue": QueueConfig,
    "recorder": RecorderConfig,
    "log": LogConfig,
}

_CHECKS: dict[str, tuple[Any, str]] = {
    "listener.port": (lambda v: 0 <= v <= 65535, "must be 0..65535"),
    "listener.workers": (lambda v: 1 <= v <= 64, "must be 1..64"),
    "listener.max_connections": (lambda v: 1 <= v <= 1_000_000, "must be 1..1000000"),
    "listener.request_timeout_s": (lambda v: 0 < v <= 3600, "must be more than 0 and at most 3600"),
    "executor.workers": (lambda v: 1 <= v <= 64, "must be 1..64"),
    "executor.max_concurrency": (lambda v: 1 <= v <= 1024, "must be 1..1024"),
    "executor.lease_ms": (lambda v: v >= 1000, "must be at least 1000"),
    "executor.batch": (lambda v: 1 <= v <= 10_000, "must be 1..10000"),
    "executor.compile_timeout_ms": (lambda v: v >= 100, "must be at least 100"),
    "executor.compile_memory_mb": (lambda v: 256 <= v <= 1_048_576, "must be 256..1048576"),
    "queue.backend": (lambda v: v in QUEUE_BACKENDS, f"must be one of {', '.join(QUEUE_BACKENDS)}"),
    "queue.max_depth": (lambda v: v >= 1, "must be at least 1"),
    "queue.max_inflight_per_tenant": (lambda v: v >= 1, "must be at least 1"),
    "recorder.retention_days": (lambda v: v >= 1, "must be at least 1"),
    "log.level": (lambda v: v in LOG_LEVELS, f"must be one of {', '.join(LOG_LEVELS)}"),
    "log.format": (lambda v: v in LOG_FORMATS, f"must be one of {', '.join(LOG_FORMATS)}"),
}


def _coerce(key: str, kind: type, raw: Any, source: str) -> Any:
    """Turn a raw value (TOML-typed, or a string from .env/env/flags) into ``kind``."""
    problem = f"{key}: expected {kind.__name__}, got {raw!r} (from {source})"
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(problem)
    if kind in (int, float):
        if isinstance(raw, bool):
            raise ConfigError(problem)
        if isinstance(raw, int | float) and (kind is float or isinstance(raw, int)):
            return kind(raw)
        if isinstance(raw, str):
            try:
                return kind(raw.strip())
            except ValueError:
                raise ConfigError(problem) from None
        raise ConfigError(problem)
    if isinstance(raw, str):
        return raw
    raise ConfigError(problem)


def parse_dotenv(path: Path) -> dict[str, str]:
    """A ``.env`` file read as python-dotenv reads it (the rules users know from docker
    compose and every dotenv loader): ``export`` prefixes, quotes, ``# comments`` after
    a value, quoted multi-line values, ``${VAR}`` from earlier lines or the environment.
    A ``KEY`` line without ``=`` declares nothing and is skipped.

    Errors: ``ConfigError`` naming the file and line of a line that is not ``KEY=VALUE``
    (python-dotenv itself would only log it and skip it).
    """
    import dotenv  # here: only a home with a .env pays its import (~10 ms, in every component)
    import dotenv.parser

    text = path.read_text(encoding="utf-8")
    for binding in dotenv.parser.parse_stream(io.StringIO(text)):
        if binding.error:
            line = binding.original.string.splitlines()[0] if binding.original.string else ""
            raise ConfigError(f"{path}:{binding.original.line}: expected KEY=VALUE, got {line!r}")
    values = dotenv.dotenv_values(stream=io.StringIO(text))
    return {key: value for key, value in values.items() if value is not None}


REDIS_EXTRA = "pip install 'jobico[redis]'"


def _check_backend_installed(backend: str, source: str) -> None:
    """The redis backend's client is an optional extra: say how to get it, once, here,
    rather than as an ImportError in a queue process the supervisor restarts forever.

    Errors: ``ConfigError`` naming the key, its source and the install command.
    """
    if backend == "redis" and importlib.util.find_spec("coredis") is None:
        raise ConfigError(f"queue.backend = 'redis' (from {source}) needs the Redis client, "
                          f"which is not installed: {REDIS_EXTRA}")


class _Layers:
    """Collects raw values with their sources, later layers overriding earlier ones."""

    def __init__(self) -> None:
        self.values: dict[str, tuple[Any, str]] = {}
        self.tenants: dict[str, dict[str, tuple[Any, str]]] = {}

    def set(self, key: str, raw: Any, source: str) -> None:
        section, _, name = key.partition(".")
        if section not in SECTIONS:
            raise ConfigError(f"{key}: unknown section [{section}] (from {source})")
        names = {f.name for f in dataclasses.fields(SECTIONS[section])}
        if name not in names:
            raise ConfigError(f"{key}: unknown key in [{section}] (from {source})")
        self.values[key] = (raw, source)

    def add_env(self, env: Mapping[str, str], source: str) -> None:
        for name, raw in env.items():
            if not name.startswith("JOBICO_") or name in ("JOBICO_HOME", "JOBICO_CONFIG"):
                continue
            rest = name.removeprefix("JOBICO_").lower()
            section = next((s for s in SECTIONS if rest.startswith(s + "_")), None)
            if section is None:
                continue
            self.set(f"{section}.{rest.removeprefix(section + '_')}", raw, f"{source} {name}")

    def add_toml(self, path: Path) -> None:
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        for section, table in document.items():
            if section == "tenants" and isinstance(table, dict):
                self._add_tenants(table, str(path))
                continue
            if not isinstance(table, dict):
                raise ConfigError(f"{section}: expected a [{section}] table (from {path})")
            for name, raw in table.items():
                self.set(f"{section}.{name}", raw, str(path))

    def _add_tenants(self, table: dict[str, Any], source: str) -> None:
        names = {f.name for f in dataclasses.fields(TenantQuota)}
        for tenant, quota in table.items():
            if not isinstance(quota, dict):
                raise ConfigError(f"tenants.{tenant}: expected a table (from {source})")
            for name, raw in quota.items():
                if name not in names:
                    raise ConfigError(f"tenants.{tenant}.{name}: unknown key (from {source})")
                self.tenants.setdefault(tenant, {})[name] = (raw, source)

    def build(self) -> Config:
        sections: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for section, kind in SECTIONS.items():
            kwargs: dict[str, Any] = {}
            for f in dataclasses.fields(kind):
                key = f"{section}.{f.name}"
                if key not in self.values:
                    sources[key] = f"default ({cores()} cores)" if key in SIZED else "default"
                    continue
                raw, source = self.values[key]
                value = _coerce(key, type(getattr(kind(), f.name)), raw, source)
                check = _CHECKS.get(key)
                if check and not check[0](value):
                    raise ConfigError(f"{key} = {value!r} {check[1]} (from {source})")
                kwargs[f.name] = value
                sources[key] = source
            sections[section] = kind(**kwargs)
        _check_backend_installed(sections["queue"].backend, sources["queue.backend"])
        tenants = {}
        for tenant, quota in self.tenants.items():
            kwargs = {}
            for name, (raw, source) in quota.items():
                kind = type(getattr(TenantQuota(), name))
                value = _coerce(f"tenants.{tenant}.{name}", kind, raw, source)
                if value < 0:
                    raise ConfigError(f"tenants.{tenant}.{name} must not be negative (from {source})")
                kwargs[name] = value
            tenants[tenant] = TenantQuota(**kwargs)
        return Config(**sections, tenants=tenants, sources=sources)


def load_config(
    root: Path,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Build the effective configuration of the home at ``root``.

    Errors: ``ConfigError`` naming the key and the file, variable or flag it came from.
    """
    env = os.environ if environ is None else environ
    layers = _Layers()
    if (root / "jobico.toml").is_file():
        layers.add_toml(root / "jobico.toml")
    dotenv = root / ".env"
    dotenv_values = parse_dotenv(dotenv) if dotenv.is_file() else {}
    layers.add_env(dotenv_values, str(dotenv))
    app_env = env.get("APP_ENV") or dotenv_values.get("APP_ENV")
    if app_env:
        named = root / f".env.{app_env}"
        if named.is_file():
            layers.add_env(parse_dotenv(named), str(named))
    layers.add_env(env, "environment variable")
    for key, raw in (flags or {}).items():
        if raw is not None:
            layers.set(key, raw, f"command-line flag {key}")
    return layers.build()


def flags_as_env(flags: Mapping[str, Any]) -> dict[str, str]:
    """Flag values as ``JOBICO_*`` variables, so child components see what the CLI was given."""
    out = {}
    for key, raw in flags.items():
        if raw is None:
            continue
        section, _, name = key.partition(".")
        text = str(raw).lower() if isinstance(raw, bool) else str(raw)
        out[f"JOBICO_{section.upper()}_{name.upper()}"] = text
    return out
