"""How every process of a home writes its log in ``.jobico/logs/``: rotation and format.

Components and the supervisor share it, so their files rotate alike (``MAX_BYTES``
x ``BACKUPS``) and follow ``log.format``: ``text`` (one readable line per record)
or ``json`` (one object per line, for log shippers): ``ts`` (ISO 8601 UTC),
``level``, ``component``, ``logger``, ``message``, then every field the call gave
with ``extra=`` (``event_id``, ``tenant``, ``attempt``...), and ``exception`` with
the traceback when there is one.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 3
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")

# Attributes every LogRecord has: anything else on a record came from ``extra=``.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "component"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in messages are escaped).

    ``component``: the process's name, unless the record carries its own (the
    supervisor's log holds lines it echoes for each component).
    """

    def __init__(self, component: str) -> None:
        super().__init__()
        self._component = component

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "component": getattr(record, "component", self._component),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                doc.setdefault(key, value)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            doc["stack"] = self.formatStack(record.stack_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


def formatter(fmt: str, component: str, text: str = TEXT_FORMAT) -> logging.Formatter:
    """``json`` or else ``text`` (with the ``text`` line format)."""
    return JsonFormatter(component) if fmt == "json" else logging.Formatter(text)


class RotatingLog(logging.handlers.RotatingFileHandler):
    """``MAX_BYTES`` x ``BACKUPS`` rotation. When this process's stdout or stderr is the same
    file (``jobico up --detach`` sends them to ``supervisor.log``), they move to the new
    file at each rotation, rather than writing on into the renamed one."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES) -> None:
        super().__init__(path, maxBytes=max_bytes, backupCount=BACKUPS, encoding="utf-8")
        self.stdio = [fd for fd in (1, 2) if _same_file(fd, path)]

    def doRollover(self) -> None:
        super().doRollover()
        if self.stream is not None:
            for fd in self.stdio:
                os.dup2(self.stream.fileno(), fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        one, two = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (one.st_dev, one.st_ino) == (two.st_dev, two.st_ino)


class Throttle:
    """Says a recurring problem at most once per ``every_s``, with how often it recurred.

    A queue that is away makes every request fail the same way: one line per
    request would flood the log at the webhook's request rate.
    """

    def __init__(self, every_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._every = every_s
        self._clock = clock
        self._next = 0.0
        self._held = 0

    def say(self, logger: logging.Logger, message: str, *args: object) -> None:
        now = self._clock()
        if now < self._next:
            self._held += 1
            return
        if self._held:
            message += f" (and {self._held} more like it since the last line)"
        logger.warning(message, *args)
        self._next, self._held = now + self._every, 0
