"""The window arithmetic of long tables, against positions counted by hand."""

from __future__ import annotations

import pytest

from alpha_tui.tui.row_window import needs_recentre, rows_label, window_start, window_stop


@pytest.mark.parametrize(
    ("position", "total", "window", "start"),
    [
        (0, 100_000, 500, 0),  # first row: clamped at the top
        (249, 100_000, 500, 0),  # still centred at or above the middle of the first window
        (250, 100_000, 500, 0),
        (251, 100_000, 500, 1),
        (1_450, 100_000, 500, 1_200),  # the middle of rows 1,201-1,700
        (99_999, 100_000, 500, 99_500),  # last row: clamped at the bottom, window full
        (99_800, 100_000, 500, 99_500),
        (3, 10, 500, 0),  # everything fits: always from the first row
        (9, 10, 500, 0),
        (0, 1, 1, 0),
        (4, 5, 1, 4),  # a window of one is the position itself
        (2, 5, 2, 1),
    ],
)
def test_window_start(position: int, total: int, window: int, start: int) -> None:
    assert window_start(position, total, window) == start
    stop = window_stop(start, total, window)
    assert start <= position < stop
    assert stop - start == min(window, total)


@pytest.mark.parametrize(
    ("position", "total", "window"), [(-1, 10, 5), (10, 10, 5), (0, 0, 5), (0, 10, 0)]
)
def test_window_start_rejects_impossible_inputs(position: int, total: int, window: int) -> None:
    with pytest.raises(ValueError):
        window_start(position, total, window)


def test_needs_recentre_only_where_more_rows_exist() -> None:
    # window 1,200..1,699 of 100,000 (500 rows shown), margin 10
    assert needs_recentre(9, 1_200, 500, 100_000, 10)
    assert not needs_recentre(10, 1_200, 500, 100_000, 10)
    assert needs_recentre(490, 1_200, 500, 100_000, 10)
    assert not needs_recentre(489, 1_200, 500, 100_000, 10)
    # first window: nothing above, so the top edge never re-centres; the bottom does
    assert not needs_recentre(0, 0, 500, 100_000, 10)
    assert needs_recentre(499, 0, 500, 100_000, 10)
    # last window: nothing below
    assert not needs_recentre(499, 99_500, 500, 100_000, 10)
    assert needs_recentre(0, 99_500, 500, 100_000, 10)
    # everything shown: never
    assert not needs_recentre(0, 0, 455, 455, 10)
    assert not needs_recentre(454, 0, 455, 455, 10)


def test_rows_label_counts_from_one() -> None:
    assert rows_label(1_200, 1_700, 100_000) == "rows 1,201-1,700 of 100,000"
    assert rows_label(0, 1, 1) == "rows 1-1 of 1"
