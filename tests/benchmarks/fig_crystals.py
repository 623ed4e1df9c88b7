"""The Crystals pane on long sessions (issue 11 figure 7): the UI thread's cost of a fill.

Pilot (``App.run_test``, headless) on a synthetic session (tests/synthetic.make_cache)
of 100,000 crystals (--quick: 20,000), Crystals pane open:

* ``crystals_fill_s``: ``_fill_table`` with the order the worker sorted: the windowed
  table of at most WINDOW rows around the selection (what a view change costs the UI).
* ``crystals_resort_s``: a sort key (``sort_by``, direction flipped each time): the
  re-sort of every crystal on the UI thread plus the windowed fill.
* ``crystals_full_over_window``: adding every crystal to the DataTable (the fill before
  the window) over the windowed fill, alternated, same rows and cells. Only the
  ``add_row`` calls are timed for the full fill; the DataTable's layout of 100,000 rows
  on the next idle is not, so the ratio is a lower bound of what the window saves.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import harness

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for synthetic

from synthetic import make_cache  # noqa: E402
from textual.widgets import DataTable  # noqa: E402

from alpha_tui.analysis.session import AnalysisSession  # noqa: E402
from alpha_tui.tui.app import AlphaTuiApp  # noqa: E402
from alpha_tui.tui.panes.crystals import WINDOW, CrystalsPane, crystal_cells  # noqa: E402

LANE = "modern"
SIZE = (120, 40)


def full_fill(table: DataTable[Any], ordered: list[Any]) -> None:
    """Every crystal as a row: the pane's fill before it was windowed."""
    table.clear()
    for c in ordered:
        table.add_row(*crystal_cells(c), key=str(c.index))


async def _measure(n: int, repeat: int) -> dict[str, list[float]]:
    session = AnalysisSession(make_cache(seed=0, n_crystals=n, hidden=4))
    app = AlphaTuiApp(session=session)
    app.animation_level = "none"
    out: dict[str, list[float]] = {}
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        pane = app.screen.query_one(CrystalsPane)
        for _ in range(1200):
            await app.workers.wait_for_complete()
            await pilot.pause(0.05)
            if pane.view is not None:
                break
        if pane.view is None:
            raise RuntimeError("the Crystals view never arrived")
        table = app.screen.query_one("#crystals-table", DataTable)
        out["fill"] = [harness.time_once(lambda: pane._fill_table(pane.view))
                       for _ in range(repeat)]  # fmt: skip
        out["resort"] = [harness.time_once(lambda: pane.sort_by("alpha"))
                         for _ in range(repeat)]  # fmt: skip
        ordered = list(pane.ordered)
        full, window = harness.alternate(
            lambda: full_fill(table, ordered), lambda: pane._fill_table(pane.view),
            repeat=repeat, warmup=0,
        )  # fmt: skip
        out["ratio"] = harness.ratios(full, window)
        out["full"] = full
        pane._fill_table(pane.view)
        await pilot.pause()
        await app.workers.wait_for_complete()
    return out


def figures(quick: bool) -> list[harness.Figure]:
    n = 20_000 if quick else 100_000
    repeat = 3 if quick else 5
    m = asyncio.run(_measure(n, repeat))
    where = f"{n:,} synthetic crystals, table window {WINDOW} rows, Pilot headless"
    full_median = sorted(m["full"])[len(m["full"]) // 2]
    return [
        harness.Figure(
            "crystals_fill_s", "s", m["fill"], target=0.1,
            note=f"{where}; the worker's sorted order",
        ),
        harness.Figure(
            "crystals_resort_s", "s", m["resort"], target=1.0,
            note=f"{where}; sort key: re-sort of all crystals on the UI thread + fill",
        ),
        harness.Figure(
            "crystals_full_over_window", "x", m["ratio"], target=10.0, direction=">=",
            note=f"{where}; add_row of every crystal / windowed fill, alternated; "
            "full fill's idle layout not timed (lower bound)",
            extra={"full_fill_median_s": round(full_median, 3)},
        ),
    ]  # fmt: skip


if __name__ == "__main__":
    harness.main(figures)
