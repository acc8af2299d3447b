from __future__ import annotations

from pathlib import Path

import pytest
import trio

from jobico.recorder.commit import GroupCommit
from jobico.recorder.records import Filter
from jobico.recorder.store import Store
from tests.recorder.conftest import rec


@pytest.mark.trio
async def test_concurrent_appends_share_fsyncs_and_return_once_durable(tmp_path: Path) -> None:
    store = Store(tmp_path / "rec")
    published: list[str] = []
    rounds = 0
    original = store.begin_sync

    def counting_begin_sync():  # type: ignore[no-untyped-def]
        nonlocal rounds
        rounds += 1
        return original()

    store.begin_sync = counting_begin_sync  # type: ignore[method-assign]
    commit = GroupCommit(store, lambda done: published.extend(r["id"] for _, r in done))
    results: dict[int, list[bool]] = {}

    async def append(i: int) -> None:
        results[i], _ = await commit.append([rec(f"{i:04d}"), rec(f"{i:04d}")])
        assert store.durable >= 1 and store.get(f"{i:04d}-1")["event_id"] == f"{i:04d}"

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(commit.run)
            async with trio.open_nursery() as appenders:
                for i in range(50):
                    appenders.start_soon(append, i)
            nursery.cancel_scope.cancel()
    store.close()
    assert all(flags == [True, False] for flags in results.values()) and len(results) == 50
    assert rounds <= 3  # 50 appends, one shared fsync (plus at most a straggler round)
    assert sorted(published) == sorted(f"{i:04d}-1" for i in range(50))
    reopened = Store(tmp_path / "rec")
    assert len(reopened.query(Filter(), 100)) == 50
    reopened.close()
