"""Where the demo guests live, and how their packages name their files."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "tenants" / "demo"
TEMPLATE = ROOT / "jobico" / "templates" / "home"
HELLO = TEMPLATE / "tenants" / "hello"
EXAMPLES = ROOT / "examples" / "guests"
TENANT_DIRS = (DEMO, HELLO)


def packages(folder: Path) -> dict[Path, dict[str, Any]]:
    """Every package TOML of a tenant folder, parsed."""
    return {p: tomllib.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.toml"))}


def jobs(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(package file, job table) for every job of a tenant folder."""
    return [(path, job) for path, doc in packages(folder).items() for job in doc["jobs"]]


def tenant_files(folder: Path) -> dict[str, bytes]:
    """A tenant folder as ctl sees it: relative path -> bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
