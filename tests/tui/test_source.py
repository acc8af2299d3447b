"""RecordFilter.matches follows the recorder's own filter rules (recorder/records.py)."""

from __future__ import annotations

from dataclasses import replace

from tests.tui.fixed import record
from tui.source import RecordFilter

RUN = replace(record(3, "error"), started_at="2025-01-02T03:04:05.000000Z")


def test_text_is_a_case_insensitive_substring_of_the_searchable_fields() -> None:
    assert RecordFilter(text="GUEST RETURNED").matches(RUN)  # the reason
    assert RecordFilter(text=RUN.event_id[-4:]).matches(RUN)
    assert not RecordFilter(text="hello ada").matches(RUN)  # the result is not searched


def test_since_is_inclusive_and_until_exclusive() -> None:
    assert RecordFilter(since="2025-01-02T03:04:05Z").matches(RUN)
    assert not RecordFilter(until="2025-01-02T03:04:05Z").matches(RUN)
    assert RecordFilter(until="2025-01-02T03:04:05.000001Z").matches(RUN)


def test_a_tenant_filter_matches_only_that_tenant() -> None:
    assert RecordFilter(tenant="globex").matches(RUN)
    assert not RecordFilter(tenant="acme").matches(RUN)
