"""How numbers look on screen: short, fixed-width friendly, a dash when unknown."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text

from jobico.cli.visible import visible

DASH = "\u2013"  # an en dash: a blank that still lines up
STATUS_STYLES = {"ok": "green", "error": "red", "timeout": "yellow", "trap": "magenta",
                 "limit": "yellow", "running": "green", "up": "green", "ready": "green",
                 "starting": "yellow", "backoff": "red", "stopped": "red", "paused": "yellow"}
LEVEL_STYLES = {"debug": "dim", "info": "", "warn": "yellow", "error": "red",
                "fatal": "bold red", "panic": "bold red", "none": "dim"}


def duration(seconds: float | None) -> str:
    """3s, 4m05s, 2h07m, 3d04h."""
    if seconds is None:
        return DASH
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def number(value: float | None, unit: str = "", digits: int = 1) -> str:
    return DASH if value is None else f"{value:.{digits}f}{unit}"


def size(n: int | None) -> str:
    if n is None:
        return DASH
    for unit in ("B", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


def status(value: str) -> Text:
    return Text(value, style=STATUS_STYLES.get(value, ""))


def level(value: str) -> Text:
    return Text(value, style=LEVEL_STYLES.get(value, ""))


def said(exc: Exception) -> str:
    """An error for a notification (shown with ``markup=False``): it may quote a guest or a sender."""
    return visible(str(exc), multiline=True)


def when(ts: float | None) -> str:
    """An epoch time as UTC, to the second."""
    return DASH if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")
