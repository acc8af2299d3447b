from __future__ import annotations

import pytest

from jobico.recorder.records import iso_utc
from tui.times import epoch

NOW = 1_735_787_045.0  # 2025-01-02T03:04:05Z


def test_the_records_form_reads_back_to_the_microsecond() -> None:
    assert iso_utc(NOW + 0.25) == "2025-01-02T03:04:05.250000Z"
    assert epoch(iso_utc(NOW + 1e-6)) == pytest.approx(NOW + 1e-6, abs=1e-7)
    assert epoch("not a time") is None and epoch(None) is None and epoch("") is None
