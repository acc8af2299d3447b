"""Records page after page, newest first, with no cap on the total (SPEC §5 ``--before``).

The recorder answers at most 10,000 records a query, newest ``started_at`` first (ties
in the order it stored them), and ``before ID`` continues after a record in that very
order, so each page asks for the records after the last one of the page before: exact
even when many records started in the same microsecond. The caller gets a generator,
so ``--all`` holds one page at a time however many records match.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from jobico.errors import NotFound

Query = Callable[[dict[str, Any]], list[dict[str, Any]]]
MAX_PAGE = 10_000  # the recorder's cap on one query's limit
PAGE = 1_000  # records per query when streaming: a few MB of reply at most


def pages(query: Query, filters: Mapping[str, Any], limit: int | None,
          before: str | None = None, page: int = PAGE) -> Iterator[dict[str, Any]]:
    """Every matching record (the first ``limit`` when given), newest first, after the
    record ``before`` names when given; one query per page of at most ``page`` records.

    Errors: ``NotFound`` naming ``--before`` when the recorder keeps no record ``before``.
    """
    remaining, anchor, first = limit, before, True
    while remaining is None or remaining > 0:
        size = page if remaining is None else min(page, remaining)
        params = {**filters, "limit": size} if anchor is None else {**filters, "limit": size,
                                                                     "before": anchor}
        try:
            rows = query(params)
        except NotFound:
            if not first or before is None:
                raise
            raise NotFound(f"--before {before!r}: no execution with that id") from None
        first = False
        if not rows:  # a short page is no end: the recorder cuts replies at 32 MiB
            return
        yield from rows
        if remaining is not None:
            remaining -= len(rows)
        anchor = rows[-1]["id"]
