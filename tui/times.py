"""Times of records as the dashboard reads them, where a record or a field may lack one.

Records carry ``started_at``/``accepted_at`` in one form, ``iso_utc`` (SPEC §5); what
users type is read by ``jobico.cli.times.parse_when``, as `jobico executions` reads it.
"""

from __future__ import annotations

from jobico.errors import UserError
from jobico.recorder.records import parse_time


def epoch(text: str | None) -> float | None:
    """Epoch seconds of an ISO 8601 time (naive means UTC); None when there is none (a
    record written before SPEC §5 named ``accepted_at``, an empty field) or it is not one."""
    if not text:
        return None
    try:
        return parse_time(text, "time")
    except UserError:
        return None
