"""Times as users type them (``jobico executions --since``, the dashboard's since/until
fields): ISO 8601 (naive means UTC, as records are) or relative to now. Pure: the caller
passes ``now``; imported by the dashboard too, so both read a time the same way."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from jobico.errors import UserError

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])", re.ASCII | re.IGNORECASE)
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


def parse_when(text: str, now: float, field: str) -> float:
    """Epoch seconds for ``15m``, ``2h``, ``1d``, ``30s``, ``1w`` (that long before ``now``) or
    an ISO 8601 time (``2026-01-01``, ``2026-01-01T10:00``, ``...Z``, ``...+02:00``).

    Errors: ``UserError`` naming ``field`` (a flag, or a dashboard field) and the forms it takes.
    """
    value = text.strip()
    relative = _RELATIVE.fullmatch(value)
    if relative:
        return now - float(relative.group(1)) * _UNIT_S[relative.group(2).lower()]
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise UserError(f"{field} {text!r}: expected an ISO 8601 time (2026-01-01T10:00) "
                        "or a time ago (30s, 15m, 2h, 1d, 1w)") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
