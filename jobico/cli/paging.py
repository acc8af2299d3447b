"""Records page after page, newest first, with no cap on the total (SPEC §5 ``--before``).

The recorder answers at most ``MAX_LIMIT`` records a query, newest ``started_at`` first
(ties in the order it stored them), and ``before ID`` continues after a record in that
very order, so each page asks for the records after the last one of the page before:
exact even when many records started in the same microsecond. The caller gets a
generator, so ``--all`` holds one page at a time however many records match.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace

from jobico.errors import NotFound
from jobico.recorder.api import MAX_LIMIT, Query, Record

Ask = Callable[[Query], Sequence[Record]]
MAX_PAGE = MAX_LIMIT
PAGE = 1_000  # records per query when streaming: a few MB of reply at most


def pages(ask: Ask, query: Query, limit: int | None, page: int = PAGE) -> Iterator[Record]:
    """Every record ``query`` matches (the first ``limit`` when given), newest first, after
    the record ``query.before`` names when given; one query per page of at most ``page``.

    Errors: ``NotFound`` naming ``--before`` when the recorder keeps no record ``before``.
    """
    remaining, anchor, first = limit, query.before, True
    while remaining is None or remaining > 0:
        size = page if remaining is None else min(page, remaining)
        try:
            rows = ask(replace(query, limit=size, before=anchor))
        except NotFound:
            if not first or query.before is None:
                raise
            raise NotFound(f"--before {query.before!r}: no execution with that id") from None
        first = False
        if not rows:  # a short page is no end: the recorder cuts replies at 32 MiB
            return
        yield from rows
        if remaining is not None:
            remaining -= len(rows)
        anchor = rows[-1].id
