"""Counters summed over the listener processes of a home, kept across restarts."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from jobico.listener.tally import Counters, Tally, TallyFiles


def process(run: Path, name: str) -> tuple[Counters, TallyFiles]:
    """One listener process's counters, started from its file as the service does."""
    counters = Counters()
    files = TallyFiles(run, name, counters)
    files.load()
    return counters, files


def accepted(tally: Tally) -> int:
    return sum(tally.items.values())


def test_every_process_answers_the_sum_of_all(tmp_path: Path) -> None:
    one, one_files = process(tmp_path, "listener-1")
    two, two_files = process(tmp_path, "listener-2")
    one.answered("acme", 202, 3)
    two.answered("acme", 202, 2)
    two.answered("", 404)
    two.refuse_connection()
    two_files.save()
    for files in (one_files, two_files):
        total = files.total()
        assert total.items == {"acme": 5}
        assert total.requests == {("acme", 202): 2, ("", 404): 1}
        assert total.connections_refused == 1


def test_a_scrape_shows_only_what_was_saved_so_it_never_goes_down(tmp_path: Path) -> None:
    one, one_files = process(tmp_path, "listener-1")
    two, two_files = process(tmp_path, "listener-2")
    two.answered("acme", 202, 4)
    assert accepted(one_files.total()) == 0  # listener-2 has not saved yet
    two.answered("acme", 202, 1)
    seen = accepted(two_files.total())  # saved before it is shown
    assert seen == 5
    two.answered("acme", 202, 7)  # then killed with -9: never saved, never shown
    assert accepted(one_files.total()) == 5
    two, two_files = process(tmp_path, "listener-2")  # restarted from its file
    assert accepted(two_files.total()) == 5
    one.answered("acme", 202, 1)
    assert accepted(two_files.total()) == 5 and accepted(one_files.total()) == 6


def test_files_of_instances_no_longer_configured_stay_in_the_sum(tmp_path: Path) -> None:
    old, old_files = process(tmp_path, "listener-2")
    old.answered("acme", 202, 9)
    old_files.save()
    _, alone = process(tmp_path, "listener")  # workers went from 2 to 1
    assert accepted(alone.total()) == 9


def test_a_file_that_cannot_be_read_is_left_out_and_said(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "listener-2.counters.json").write_text('{"requests": "nope"}', encoding="utf-8")
    (tmp_path / "listener-1.counters.json").write_text("[", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        one, files = process(tmp_path, "listener-1")
        one.answered("acme", 202, 1)
        assert accepted(files.total()) == 1
    assert "listener-1.counters.json" in caplog.text and "start again at 0" in caplog.text
    assert "listener-2.counters.json" in caplog.text and "left out" in caplog.text


def test_saved_counts_must_be_counts() -> None:
    good = Tally({("acme", 202): 1}, {"acme": 2}, 3)
    assert Tally.from_json(good.to_json()) == good
    for bad in (b'{"requests": [["a", 202, -1]], "items": {}, "connections_refused": 0}',
                b'{"requests": [], "items": {"a": 1.5}, "connections_refused": 0}',
                b'{"requests": [], "items": {}}'):
        with pytest.raises(ValueError, match="not a counters file"):
            Tally.from_json(bad)


def test_saves_from_two_threads_never_put_an_older_snapshot_on_disk(tmp_path: Path) -> None:
    """The HTTP thread saves before a scrape while the trio thread saves on its timer."""
    counters, files = process(tmp_path, "listener")
    path = tmp_path / "listener.counters.json"
    stop = threading.Event()
    seen: list[int] = []

    def count() -> None:
        while not stop.is_set():
            counters.answered("acme", 202, 1)

    def save() -> None:
        for _ in range(40):
            files.save()

    def read() -> None:
        while not stop.is_set():
            if path.exists():
                seen.append(accepted(Tally.from_json(path.read_bytes())))

    savers = [threading.Thread(target=save) for _ in range(2)]
    others = [threading.Thread(target=count), threading.Thread(target=read)]
    for t in savers + others:
        t.start()
    for t in savers:
        t.join()
    stop.set()
    for t in others:
        t.join()
    assert seen and seen == sorted(seen)
    assert files.save() == counters.snapshot() == Tally.from_json(path.read_bytes())
