"""Which slice of a long sorted list a table shows.

A Textual DataTable costs time per row added (20,000 crystals blocked the UI for
26 s), so a pane with many rows keeps the whole sorted list itself and hands the
table only a window of it around the selected row. This module is the arithmetic
of that window, kept free of Textual so its edges can be tested directly.
"""

from __future__ import annotations


def window_start(position: int, total: int, window: int) -> int:
    """First sorted position to show so that ``position`` sits in the window's middle.

    Clamped at both ends, so the window is always full when ``total >= window``
    (the first and last rows are reachable without a half-empty table).
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if not 0 <= position < total:
        raise ValueError(f"position {position} is outside 0..{total - 1}")
    start = position - window // 2
    return max(0, min(start, total - window))


def window_stop(start: int, total: int, window: int) -> int:
    """One past the last sorted position shown by a window starting at ``start``."""
    return min(total, start + window)


def needs_recentre(row: int, start: int, shown: int, total: int, margin: int) -> bool:
    """True when the cursor (``row`` within the window) is within ``margin`` rows of an
    edge of the window behind which more rows exist, so the user can keep moving."""
    near_top = row < margin and start > 0
    near_bottom = row >= shown - margin and start + shown < total
    return near_top or near_bottom


def rows_label(start: int, stop: int, total: int) -> str:
    """'rows 1,201-1,700 of 100,000' (1-based, inclusive, as a reader counts)."""
    return f"rows {start + 1:,}-{stop:,} of {total:,}"
