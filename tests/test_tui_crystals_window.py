"""The Crystals pane on a session too long for one table: a window of the sorted order.

Expectations come from numpy on the synthetic cache (per-crystal mean of the gate
means), never from the pane's own sort.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("textual")

from synthetic import make_cache
from textual.widgets import DataTable, Static

from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.tui.app import AlphaTuiApp
from alpha_tui.tui.panes.crystals import MARGIN, WINDOW, CrystalsPane

N = 5_000
SIZE = (120, 40)


@pytest.fixture(scope="module")
def session() -> AnalysisSession:
    return AnalysisSession(make_cache(seed=3, n_crystals=N))


def true_means(session: AnalysisSession) -> np.ndarray:
    cache = session.cache
    fusion = session.fusion_modules[0]
    gates = np.asarray(cache.gates[fusion], dtype=np.float64).mean(axis=1)
    return np.bincount(cache.atom_crystal, weights=gates, minlength=N) / cache.atom_counts


async def settle(app: AlphaTuiApp, pilot, rounds: int = 3) -> None:
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()


def shown_indices(table: DataTable) -> list[int]:
    return [int(str(table.coordinate_to_cell_key((i, 0)).row_key.value))
            for i in range(table.row_count)]  # fmt: skip


def cursor_index(table: DataTable) -> int:
    return int(str(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value))


def title(app: AlphaTuiApp) -> str:
    return str(app.screen.query_one("#crystals-title", Static).render())


async def test_long_session_shows_a_window_and_moves_it(
    session: AnalysisSession, tmp_path: Path
) -> None:
    means = true_means(session)
    app = AlphaTuiApp(session=session, snapshot_dir=tmp_path)
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await settle(app, pilot)
        pane = app.screen.query_one(CrystalsPane)
        table = app.screen.query_one("#crystals-table", DataTable)
        # the tab opened while the long view was computing: the table still gets focus
        assert app.focused is table
        assert table.row_count == WINDOW < N
        assert shown_indices(table) == list(range(WINDOW))  # sorted by index
        assert f"rows 1-{WINDOW} of {N:,}, sorted by #" in title(app)

        # jump to the highest mean alpha: far outside the first window
        highest = int(np.argmax(means))
        assert highest >= WINDOW  # the seed puts it outside, or this tests nothing
        await pilot.press("h")
        await settle(app, pilot)
        assert pane.selected_index == highest == cursor_index(table)
        assert table.row_count == WINDOW and highest in shown_indices(table)
        start = pane.window_start
        assert f"rows {start + 1:,}-{start + WINDOW:,} of {N:,}" in title(app)
        assert session.cache.crystal_ids[highest] in title(app)

        # sorted by mean alpha, descending: the window is the top of that order
        await pilot.press("a", "a")
        await settle(app, pilot)
        order = sorted(range(N), key=lambda i: (-means[i], -i))
        assert pane.sort_reverse and pane.sort_column == "alpha"
        assert shown_indices(table) == order[:WINDOW]
        assert cursor_index(table) == highest
        assert "sorted by mean α descending" in title(app)

        # back to index order, then walk down past the bottom of the window
        await pilot.press("i")
        await settle(app, pilot)
        assert pane.sort_column == "index" and not pane.sort_reverse
        assert cursor_index(table) == highest  # sorting re-centres on the selection
        stop = pane.window_start + WINDOW
        pane.select_index(stop - MARGIN - 2)
        await settle(app, pilot)
        for _ in range(MARGIN + 10):
            await pilot.press("down")
        await settle(app, pilot)
        expected = stop - MARGIN - 2 + MARGIN + 10
        assert expected >= stop  # beyond the window the walk started in
        assert pane.selected_index == expected == cursor_index(table)
        assert table.row_count == WINDOW
        assert MARGIN <= table.cursor_row < WINDOW - MARGIN  # re-centred, not at an edge

        # another pane asks for a crystal outside the window
        pane.select_index(7)
        await settle(app, pilot)
        assert pane.selected_index == 7 == cursor_index(table)
        assert pane.window_start == 0

        await pilot.press("e")
        await settle(app, pilot)
    [path] = sorted(tmp_path.glob("crystals-*.csv"))
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))[1:]
    assert len(rows) == N  # every crystal, not the window
    assert [int(r[0]) for r in rows] == list(range(N))
    assert np.allclose([float(r[-1]) for r in rows], means)
