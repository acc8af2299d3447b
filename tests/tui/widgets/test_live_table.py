from __future__ import annotations

from tui.widgets.filter_bar import matches
from tui.widgets.live_table import diff_rows


def test_diff_touches_only_what_changed() -> None:
    shown = {"a": ("a", "1"), "b": ("b", "2"), "c": ("c", "3")}
    wanted = {"a": ("a", "1"), "b": ("b", "9"), "d": ("d", "4")}
    diff = diff_rows(shown, wanted)
    assert diff.removed == ["c"]
    assert diff.changed == {"b": [(1, "9")]}
    assert diff.added == ["d"]


def test_filter_words_must_all_match_in_any_field_any_case() -> None:
    assert matches("acme ERR", "acme", "signup", "error")
    assert not matches("acme timeout", "acme", "signup", "error")
    assert matches("", "anything")
