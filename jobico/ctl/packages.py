"""Job package TOML (SPEC §2), parsed strictly into frozen dataclasses.

Strict because a typo (``timout_ms``) silently falling back to a default is
worse than a load error: every unknown key, wrong type or out-of-range value is
reported with the file and, where it can be found, the line. All problems of a
file are collected, so one edit can fix them all. Pure: text in, Package out.

Optional ``[limits]`` (per package, every key optional, 0 = unlimited):
``max_queue_depth`` (int), ``rate`` (events/s, number), ``burst`` (int),
``max_concurrency`` (int). Optional ``[webhook]``: ``secret``, ``max_body_kb`` and
``max_items`` (items one request may hold, 1..1,000,000; the listener enforces it).
"""

from __future__ import annotations

import base64
import binascii
import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from jobico import caps
from jobico.ctl.api import (
    ABIS,
    DEFAULT_ABI,
    DEFAULT_ENTRY,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_BODY_KB,
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_MS,
    Limits,
    Problem,
)
from jobico.ctl.problems import ProblemsError, TomlLines, toml_problem
from jobico.errors import UserError
from jobico.names import EVENT_PATTERN, ID_RE, is_id
from jobico.repo.files import clean_relpath

EXPORT_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.$-]{0,127}$")


@dataclass(frozen=True, slots=True)
class _Field:
    kind: type
    default: Any = None
    required: bool = False
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    path: bool = False


_JOB = {
    "event": _Field(str, required=True, pattern=EVENT_PATTERN),
    "schema": _Field(str, path=True),
    "wasm": _Field(str, required=True, path=True),
    "abi": _Field(str, DEFAULT_ABI, choices=ABIS),
    "entry": _Field(str, DEFAULT_ENTRY, pattern=EXPORT_PATTERN),
    "timeout_ms": _Field(int, DEFAULT_TIMEOUT_MS, low=1, high=3_600_000),
    "memory_mb": _Field(int, DEFAULT_MEMORY_MB, low=1, high=4096),
    "max_attempts": _Field(int, DEFAULT_MAX_ATTEMPTS, low=1, high=100),
    "on_ok": _Field(str, pattern=EVENT_PATTERN),
    "on_error": _Field(str, pattern=EVENT_PATTERN),
}
_WEBHOOK = {
    "secret": _Field(str),
    "max_body_kb": _Field(int, DEFAULT_MAX_BODY_KB, low=1, high=65536),
    "max_items": _Field(int, caps.DEFAULT_MAX_ITEMS, low=1, high=1_000_000),
}
_LIMITS = {
    "max_queue_depth": _Field(int, low=0),
    "rate": _Field(float, low=0),
    "burst": _Field(int, low=0),
    "max_concurrency": _Field(int, low=0),
}
_TOP = ("name", "jobs", "webhook", "limits")


@dataclass(frozen=True, slots=True)
class Job:
    event: str
    wasm: str
    schema: str | None = None
    abi: str = DEFAULT_ABI
    entry: str = DEFAULT_ENTRY
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    memory_mb: int = DEFAULT_MEMORY_MB
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    on_ok: str | None = None
    on_error: str | None = None
    lines: dict[str, int] = field(default_factory=dict, compare=False, hash=False)

    def line_of(self, key: str) -> int | None:
        return self.lines.get(key, self.lines.get(""))


@dataclass(frozen=True, slots=True)
class Webhook:
    secret: str | None = None
    max_body_kb: int = DEFAULT_MAX_BODY_KB
    max_items: int = caps.DEFAULT_MAX_ITEMS


@dataclass(frozen=True, slots=True)
class Package:
    id: str
    file: str
    jobs: tuple[Job, ...]
    name: str | None = None
    webhook: Webhook = Webhook()
    limits: Limits = field(default_factory=Limits)


def _value(value: Any, spec: _Field, key: str, where: str) -> tuple[Any, str | None]:
    """The checked value of one key, or an error message naming it."""
    if spec.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, spec.kind) or isinstance(value, bool):
        return None, f"{where}{key} must be {spec.kind.__name__}, got {value!r}"
    if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
        return None, f"{where}{key} = {value} is out of range {spec.low}..{spec.high}"
    if spec.choices and value not in spec.choices:
        return None, f"{where}{key} = {value!r} must be one of {', '.join(spec.choices)}"
    if spec.pattern is not None and not spec.pattern.fullmatch(value):
        return None, f"{where}{key} = {value!r} must match {spec.pattern.pattern}"
    if spec.path:
        try:
            value = clean_relpath(value)
        except UserError as e:
            return None, f"{where}{key}: {e}"
    return value, None


def _read_table(
    table: Any,
    specs: dict[str, _Field],
    where: str,
    line: Any,
    problems: list[Problem],
    file: str,
) -> dict[str, Any]:
    """Check a TOML table against ``specs``; defaults fill what is absent."""
    if not isinstance(table, dict):
        problems.append(Problem(file, line(""), f"{where.rstrip('.')} must be a table"))
        return {}
    out: dict[str, Any] = {}
    for key in table.keys() - specs.keys():
        allowed = ", ".join(specs)
        problems.append(Problem(file, line(key), f"unknown key {where}{key} (allowed: {allowed})"))
    for key, spec in specs.items():
        if key not in table:
            if spec.required:
                problems.append(Problem(file, line(""), f"missing required key {where}{key}"))
            out[key] = spec.default
            continue
        out[key], error = _value(table[key], spec, key, where)
        if error:
            problems.append(Problem(file, line(key), error))
    return out


def _check_secret(secret: str | None) -> str | None:
    if secret is None:
        return None
    if not secret.startswith("whsec_"):
        return "webhook.secret must start with 'whsec_'"
    try:
        if not base64.b64decode(secret.removeprefix("whsec_"), validate=True):
            return "webhook.secret has an empty key after 'whsec_'"
    except binascii.Error:
        return "webhook.secret must be 'whsec_' followed by base64"
    return None


def _read_jobs(raw_jobs: Any, lines: TomlLines, problems: list[Problem], file: str) -> list[Job]:
    """Every ``[[jobs]]`` table as a Job; a job with a problem is reported, not returned."""
    if not isinstance(raw_jobs, list) or not raw_jobs:
        problems.append(Problem(file, None, "a package needs at least one [[jobs]] table"))
        return []
    jobs: list[Job] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_jobs):

        def line(key: str, i: int = i) -> int | None:
            return lines.find("jobs", i, key)

        before = len(problems)
        values = _read_table(raw, _JOB, f"jobs[{i}].", line, problems, file)
        event = values.get("event")
        if event is not None and event in seen:
            problems.append(Problem(file, line("event"), f"event {event!r} is defined twice"))
        seen.add(event)
        if len(problems) == before:
            job_lines = {k: n for k in ("", *raw) if (n := line(k)) is not None}
            jobs.append(Job(**values, lines=job_lines))
    return jobs


def parse_package(file: str, package_id: str, text: bytes | str) -> Package:
    """Parse one package file. ``file`` is how errors name it (e.g. tenants/acme/x.toml).

    Errors: ProblemsError listing every problem found, each with file and line.
    """
    problems: list[Problem] = []
    if not is_id(package_id):
        msg = f"package id {package_id!r} (the file name) must match {ID_RE}"
        raise ProblemsError([Problem(file, None, msg)])
    try:
        source = text.decode("utf-8") if isinstance(text, bytes) else text
        doc = tomllib.loads(source)
    except UnicodeDecodeError as e:
        raise ProblemsError([Problem(file, None, f"not UTF-8 text: {e}")]) from None
    except tomllib.TOMLDecodeError as e:
        raise ProblemsError([toml_problem(file, e)]) from None
    lines = TomlLines(source)

    for key in doc.keys() - set(_TOP):
        problems.append(
            Problem(file, lines.find("", 0, key), f"unknown key {key} (allowed: {', '.join(_TOP)})")
        )
    name, error = _value(doc["name"], _Field(str), "name", "") if "name" in doc else (None, None)
    if error:
        problems.append(Problem(file, lines.find("", 0, "name"), error))

    jobs = _read_jobs(doc.get("jobs"), lines, problems, file)

    def table_line(name: str) -> Any:
        return lambda key: lines.find(name, 0, key)

    hook = _read_table(doc.get("webhook", {}), _WEBHOOK, "webhook.", table_line("webhook"), problems, file)
    if error := _check_secret(hook.get("secret")):
        problems.append(Problem(file, lines.find("webhook", 0, "secret"), error))
    limits = _read_table(doc.get("limits", {}), _LIMITS, "limits.", table_line("limits"), problems, file)
    if problems:
        raise ProblemsError(sorted(problems, key=lambda p: p.line or 0))
    return Package(package_id, file, tuple(jobs), name, Webhook(**hook), Limits(**limits))
