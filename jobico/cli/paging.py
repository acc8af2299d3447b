"""Records page after page, newest first, with no cap on the total (SPEC §5 ``--before``).

The recorder answers at most 10,000 records a query, newest ``started_at`` first (ties
in the order it stored them), and filters by ``until`` (exclusive) but has no ``before
ID``. So a page continues after an anchor record by asking for records up to and
including the anchor's start time and dropping everything up to the anchor itself:
exact even when several records started in the same microsecond. The caller gets a
generator, so ``--all`` holds one page at a time however many records match.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jobico.errors import Unavailable
from jobico.recorder.records import parse_time

Query = Callable[[dict[str, Any]], list[dict[str, Any]]]
MAX_PAGE = 10_000  # the recorder's cap on one query's limit
PAGE = 1_000  # records per query when streaming: a few MB of reply at most
TICK = 1e-6  # records carry microseconds: [t, t + TICK) is "started at t"


def started(record: Mapping[str, Any]) -> float:
    return parse_time(record["started_at"], "started_at")


def older_than(query: Query, filters: Mapping[str, Any], anchor: Mapping[str, Any],
               limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` matching records that come after ``anchor`` in the recorder's order.

    When the anchor itself does not match the filters, records that started in the
    same microsecond as it are left out (their order relative to it is unknown).
    Errors: ``Unavailable`` if more than 10,000 records started in that one microsecond.
    """
    at = started(anchor)
    given = parse_time(filters["until"], "until") if filters.get("until") is not None else None
    wanted = min(limit + 1, MAX_PAGE)
    while True:
        rows = query({**filters, "until": _earliest(at + TICK, given), "limit": wanted})
        for i, row in enumerate(rows):
            if row["id"] == anchor["id"]:
                if i + 1 < len(rows):
                    return rows[i + 1:i + 1 + limit]
                # the anchor ends the reply: what follows it is everything that started earlier
                return query({**filters, "until": _earliest(at, given), "limit": limit})
            if started(row) < at:
                return rows[i:i + limit]
        if len(rows) < wanted:  # nothing older than the anchor
            return []
        if wanted == MAX_PAGE:
            raise Unavailable(f"more than {MAX_PAGE} records started at {anchor['started_at']}; "
                              "cannot page past them")
        wanted = min(wanted * 2, MAX_PAGE)


def _earliest(until: float, given: float | None) -> float:
    return until if given is None else min(until, given)


def pages(query: Query, filters: Mapping[str, Any], limit: int | None,
          anchor: Mapping[str, Any] | None = None, page: int = PAGE) -> Iterator[dict[str, Any]]:
    """Every matching record (the first ``limit`` when given), newest first, after ``anchor``
    when given; one query per page of at most ``page`` records."""
    remaining = limit
    while remaining is None or remaining > 0:
        size = page if remaining is None else min(page, remaining)
        if anchor is None:
            rows = query({**filters, "limit": size})
        else:
            rows = older_than(query, filters, anchor, size)
        if not rows:
            return
        yield from rows
        if remaining is not None:
            remaining -= len(rows)
        anchor = rows[-1]
