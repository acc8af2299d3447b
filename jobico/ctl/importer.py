"""``jobico import``: an original Jobico package YAML -> a package TOML (SPEC §2).

The original names a runtime per event and describes modules in a separate
``runtimes`` list; here each job names its wasm directly, so the importer joins
the two and maps ``result.ok``/``result.error`` to ``on_ok``/``on_error``: each is
either an event name or, as the original's ctl.proto has it (``ResultDef`` holds two
``EventDef``), an event definition whose ``id`` is the chained event. The original
package's ``name`` stays the package's ``name``. Keys
of the original format that have no meaning here (``supplierqueue``,
``runtimes[].type``, ...) are ignored. The result is parsed back with the
package parser before it is written, so an import never drops a file the
watcher would reject for its syntax.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w
import yaml

from jobico.ctl.packages import parse_package
from jobico.errors import UserError
from jobico.names import check_id
from jobico.repo.files import write_file


def _text(node: Any, key: str, where: str, source: str) -> str:
    value = node.get(key) if isinstance(node, dict) else None
    if not isinstance(value, str | int) or isinstance(value, bool) or value == "":
        raise UserError(f"{source}: {where}{key} is missing or not a string")
    return str(value)


def _runtimes(doc: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    runtimes = doc.get("runtimes") or []
    if not isinstance(runtimes, list):
        raise UserError(f"{source}: runtimes must be a list")
    found: dict[str, dict[str, Any]] = {}
    for i, runtime in enumerate(runtimes):
        found[_text(runtime, "id", f"runtimes[{i}].", source)] = runtime
    return found


def _job(job: Any, i: int, runtimes: dict[str, dict[str, Any]], source: str) -> dict[str, Any]:
    event = job.get("event") if isinstance(job, dict) else None
    where = f"jobs[{i}].event."
    if not isinstance(event, dict):
        raise UserError(f"{source}: jobs[{i}].event is missing or not a map")
    runtime_id = _text(event, "runtime", where, source)
    if runtime_id not in runtimes:
        known = ", ".join(sorted(runtimes)) or "none"
        raise UserError(
            f"{source}: {where}runtime {runtime_id!r} is not defined in runtimes (defined: {known})"
        )
    runtime = runtimes[runtime_id]
    index = list(runtimes).index(runtime_id)
    out: dict[str, Any] = {
        "event": _text(event, "id", where, source),
        "schema": _text(event.get("schema"), "schemaref", f"{where}schema.", source),
        "wasm": _text(runtime, "moduleref", f"runtimes[{index}].", source),
        "abi": "jobicolet",  # the only ABI the original runtime had
    }
    if runtime.get("mainfuncname") is not None:
        out["entry"] = _text(runtime, "mainfuncname", f"runtimes[{index}].", source)
    result = job.get("result") or {}
    if not isinstance(result, dict):
        raise UserError(f"{source}: jobs[{i}].result must be a map with ok/error")
    for key, target in (("ok", "on_ok"), ("error", "on_error")):
        chained = result.get(key)
        if isinstance(chained, dict):  # the original's form: an event definition (ctl.proto EventDef)
            out[target] = _text(chained, "id", f"jobs[{i}].result.{key}.", source)
        elif chained is not None:
            out[target] = _text(result, key, f"jobs[{i}].result.", source)
    return out


def convert(text: str, source: str = "package.yml") -> tuple[str, str]:
    """``(package id, TOML text)`` for an original package. Errors: UserError naming the key."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UserError(f"{source}: not valid YAML: {e}") from None
    if not isinstance(doc, dict):
        raise UserError(f"{source}: expected a map with id, jobs and runtimes")
    package_id = _text(doc, "id", "", source)
    check_id(package_id, f"package id in {source}")
    jobs = doc.get("jobs")
    if not isinstance(jobs, list) or not jobs:
        raise UserError(f"{source}: jobs must be a non-empty list")
    runtimes = _runtimes(doc, source)
    name = doc.get("name")
    package = {"name": name if isinstance(name, str) and name.strip() else package_id,
               "jobs": [_job(j, i, runtimes, source) for i, j in enumerate(jobs)]}
    body = f"# imported by `jobico import` from {Path(source).name}\n" + tomli_w.dumps(package)
    parse_package(source, package_id, body)  # raises ProblemsError naming the source
    return package_id, body


def import_file(tenants: Path, source: Path, tenant: str) -> Path:
    """Convert ``source`` and write it atomically as ``tenants/<tenant>/<id>.toml`` (0600).

    Errors: UserError for an invalid tenant, an unreadable file or a bad package.
    """
    check_id(tenant)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {source}: {e}") from None
    package_id, body = convert(text, str(source))
    write_file(tenants, tenant, f"{package_id}.toml", body.encode())
    return tenants / tenant / f"{package_id}.toml"
