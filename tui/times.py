"""Times as the dashboard reads and writes them: ISO 8601 UTC, or relative to now.

Records carry ``started_at``/``accepted_at`` as ISO 8601 UTC text (SPEC §5); the
search fields take what `jobico executions --since` takes: ``15m``, ``2h``, ``3d``
ago, or an ISO time (naive means UTC). Pure (the caller passes ``now``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")


def parse_when(text: str, now: float) -> float:
    """Epoch seconds for ``text``: a duration ago (``15m``) or an ISO 8601 time.

    Errors: ``ValueError`` saying what is accepted.
    """
    value = text.strip()
    relative = RELATIVE.fullmatch(value.lower())
    if relative:
        return now - float(relative[1]) * UNITS[relative[2]]
    at = epoch(value)
    if at is None:
        raise ValueError(f"{text!r} is not a time: use 30s, 15m, 2h, 3d, 1w ago, "
                         "or ISO 8601 (2025-01-02T03:04:05Z)")
    return at


def epoch(text: str | None) -> float | None:
    """Epoch seconds of an ISO 8601 time (naive means UTC), None when it is not one."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def iso(seconds: float) -> str:
    """The form records carry: ``2025-01-02T03:04:05.123456Z``."""
    text = datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")
