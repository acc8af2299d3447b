"""Metrics counters of the recorder: monotonic across restarts, crashes and retention."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import trio

from jobico.recorder import api
from jobico.recorder.stats import BUCKETS_MS, LATENCY_BUCKETS_MS, Stats
from jobico.recorder.store import COUNTERS_FILE, DAY, Store
from tests.recorder.conftest import T0, rec, running


def counts(store: Store, tenant: str = "acme") -> dict[str, int]:
    return store.stats()["tenants"].get(tenant, {}).get("counts", {})


def crash(store: Store) -> None:
    """What ``kill -9`` leaves: what was synced, and no final save of the counters."""
    store._dir.close()


def test_a_new_home_starts_at_zero(tmp_path: Path) -> None:
    store = Store(tmp_path / "rec")
    try:
        assert store.stats()["tenants"] == {}
    finally:
        store.close()


def test_counters_survive_a_restart_and_keep_counting(tmp_path: Path) -> None:
    store = Store(tmp_path / "rec")
    store.append([rec("a"), rec("b", status="trap")])
    store.close()
    assert (tmp_path / "rec" / COUNTERS_FILE).exists()
    store = Store(tmp_path / "rec")
    try:
        assert counts(store) == {"ok": 1, "trap": 1}
        store.append([rec("c")])
        assert counts(store) == {"ok": 2, "trap": 1}
    finally:
        store.close()


def test_retention_never_makes_the_counters_go_down(tmp_path: Path) -> None:
    now = T0 + 30 * DAY
    store = Store(tmp_path / "rec", retention_days=7, segment_bytes=1)  # a segment per record
    store.append([rec("old", at=T0)])
    store.append([rec("new", at=now - 60)])
    assert store.sweep(now) == 1 and len(store) == 1
    assert counts(store) == {"ok": 2}
    store.close()
    store = Store(tmp_path / "rec", retention_days=7)
    try:
        assert len(store) == 1 and counts(store) == {"ok": 2}  # rebuilt from records: 1
    finally:
        store.close()


def test_a_crash_after_a_save_neither_loses_nor_repeats_a_count(tmp_path: Path) -> None:
    store = Store(tmp_path / "rec")
    store.append([rec("a"), rec("b")])
    store.save_counters()
    store.append([rec("c"), rec("d", status="error")])  # durable, counted, not saved
    crash(store)
    store = Store(tmp_path / "rec")
    try:
        assert counts(store) == {"ok": 3, "error": 1}
    finally:
        store.close()


def test_segments_made_after_retention_emptied_the_folder_are_counted(tmp_path: Path) -> None:
    now = T0 + 30 * DAY
    store = Store(tmp_path / "rec", retention_days=7)
    store.append([rec("old", at=T0)])
    store.save_counters()
    assert store.sweep(now) == 1 and not list((tmp_path / "rec").glob("*.seg"))
    store.append([rec("new", at=now)])
    crash(store)
    assert [p.name[:8] for p in (tmp_path / "rec").glob("*.seg")] == ["00000002"]
    store = Store(tmp_path / "rec")
    try:
        assert counts(store) == {"ok": 2}
    finally:
        store.close()


def test_without_saved_counters_the_retained_records_are_counted(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(tmp_path / "rec")
    store.append([rec("a"), rec("b")])
    store.close()
    saved = tmp_path / "rec" / COUNTERS_FILE
    saved.unlink()
    store = Store(tmp_path / "rec")
    assert counts(store) == {"ok": 2}
    store.close()
    saved.write_text("{not json", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        store = Store(tmp_path / "rec")
    try:
        assert counts(store) == {"ok": 2}
        assert "cannot read the saved metrics counters" in caplog.text and str(saved) in caplog.text
    finally:
        store.close()


def iso(ts: float) -> str:
    from jobico.recorder.records import iso_utc

    return iso_utc(ts)


def test_queue_wait_latency_and_retries(store: Store) -> None:
    store.append([
        rec("a", at=T0 + 0.2, accepted_at=iso(T0), duration_ms=50),  # waited 200 ms
        rec("b", 1, "error", at=T0 + 0.02, accepted_at=iso(T0), duration_ms=3),
        rec("b", 2, "ok", at=T0 + 1.5, accepted_at=iso(T0), duration_ms=3),  # a retry
        rec("c", at=T0 + 1),  # from before accepted_at: left out of wait and latency
        rec("d", at=T0 - 1, accepted_at=iso(T0), duration_ms=2),  # clocks apart: 0 wait
    ])
    acme = store.stats()["tenants"]["acme"]
    assert acme["counts"] == {"ok": 4, "error": 1} and acme["retries"] == 1
    assert acme["duration_ms"]["count"] == 5
    wait, latency = acme["wait_ms"], acme["latency_ms"]
    assert wait["count"] == 3 and wait["sum"] == pytest.approx(220)
    le = dict(zip(LATENCY_BUCKETS_MS, wait["buckets"], strict=True))
    assert (le[1], le[25], le[250]) == (1, 2, 3)
    assert latency["count"] == 4
    assert latency["sum"] == pytest.approx(250 + 23 + 1503 + 2)


def test_saved_counters_from_other_buckets_are_not_trusted() -> None:
    doc = Stats().as_dict()
    assert Stats.from_dict(doc).as_dict() == doc
    with pytest.raises(ValueError, match="buckets"):
        Stats.from_dict({**doc, "buckets_ms": [*BUCKETS_MS, 99999]})
    stats = Stats()
    stats.add("acme", "ok", 1, 3.0, T0, T0 - 1)
    good = stats.as_dict()
    assert Stats.from_dict(json.loads(json.dumps(good))).as_dict() == good
    bad: dict[str, Any] = json.loads(json.dumps(good))
    bad["tenants"]["acme"]["wait_ms"]["buckets"][-1] = 5  # more than its count
    with pytest.raises(ValueError):
        Stats.from_dict(bad)


@pytest.mark.trio
async def test_the_service_saves_the_counters_while_running(tmp_path: Path) -> None:
    saved = tmp_path / ".jobico" / "recorder" / COUNTERS_FILE
    async with running(tmp_path) as service:
        await service.append(api.Append([rec("a"), rec("b", tenant="beta")]))
        with trio.fail_after(10):
            while not saved.exists():  # noqa: ASYNC110 - polling a file another task writes
                await trio.sleep(0.05)
        doc = json.loads(saved.read_text())
        assert doc["tenants"]["acme"]["counts"] == {"ok": 1}
        assert doc["tenants"]["beta"]["counts"] == {"ok": 1}
