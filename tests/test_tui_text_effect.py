"""Pilot test of pane 7: keys in, the counterfactual numbers on screen out.

The runner is the app's boundary to the model (the CLI passes run_text_effect); here it
writes known outputs onto the cache, so every figure on screen has a numpy expectation.
"""

from __future__ import annotations

import csv
import threading

import numpy as np
import pytest

pytest.importorskip("textual")

from synthetic import make_cache
from textual.widgets import DataTable, Static

from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.capture.cache import CounterfactualRun
from alpha_tui.tui.app import AlphaTuiApp
from alpha_tui.tui.formatting import fmt
from alpha_tui.tui.panes.crystals import CrystalsPane
from alpha_tui.tui.widgets.periodic_table import PeriodicTable

CONDITIONS = ("other_text", "mean_text", "gate_shut", "gate_mean", "text_zeroed")


def known_runner(cache, shifts):
    """Condition c moves crystal i's prediction by shifts[c][i]; reports progress per crystal."""

    def run(fusion, progress, cancel: threading.Event) -> None:
        n = cache.n_crystals
        for i in range(n):
            if cancel.is_set():
                raise RuntimeError("cancelled")
            progress(i + 1, n, "text effect")
        base = cache.predictions.reshape(-1, 1)
        cache.counterfactuals[fusion] = CounterfactualRun(
            fusion, False, base, {c: base + shifts[c].reshape(-1, 1) for c in CONDITIONS}, 0.1
        )

    return run


async def settle(app, pilot, rounds: int = 4) -> None:
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def test_text_effect_pane_numbers_jump_and_export(tmp_path) -> None:
    cache = make_cache(seed=0)
    session = AnalysisSession(cache)
    rng = np.random.default_rng(4)
    shifts = {c: rng.normal(0, 0.5 * (k + 1), cache.n_crystals) for k, c in enumerate(CONDITIONS)}
    app = AlphaTuiApp(
        session=session, snapshot_dir=tmp_path, text_effect=known_runner(cache, shifts)
    )
    app.animation_level = "none"
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        await settle(app, pilot)
        title = str(app.screen.query_one("#effect-title", Static).render())
        assert "press g" in title and "layer_2" in title
        await pilot.press("g")
        await settle(app, pilot)
        table = app.screen.query_one("#effect-conditions", DataTable)
        assert table.row_count == 5
        targets = cache.targets
        for row, condition in enumerate(CONDITIONS):
            d = np.abs(shifts[condition])
            cells = [str(c) for c in table.get_row_at(row)]
            assert cells[1] == fmt(d.mean(), 3)
            assert cells[2] == fmt(d.max(), 3)
            assert cells[3] == fmt(np.abs(cache.predictions - targets).mean(), 3)
            changed = cache.predictions + shifts[condition]
            assert cells[4] == fmt(np.abs(changed - targets).mean(), 3)
        # the headline is the gate-shut verdict, with its mean |Δ|
        title = str(app.screen.query_one("#effect-title", Static).render())
        assert title.startswith("closing the gate at layer_2 changes predictions by ")
        assert f"{np.abs(shifts['gate_shut']).mean():.2f}" in title
        # c moves to the second condition: crystals sorted by its |Δ|, most sensitive first
        await pilot.press("c")
        await pilot.pause()
        crystals = app.screen.query_one("#effect-crystals", DataTable)
        d = np.abs(shifts["mean_text"])
        first = int(str(crystals.get_row_at(0)[0]))
        assert first == int(np.argmax(d))
        assert str(crystals.get_row_at(0)[1]) == fmt(d.max(), 3)
        # periodic table: mean |Δ| per element over atoms
        cells = app.screen.query_one("#effect-periodic", PeriodicTable)._cells
        z = np.asarray(cache.atomic_numbers)
        per_atom = d[np.asarray(cache.atom_crystal)]
        for zi, cell in cells.items():
            assert cell.mean == pytest.approx(per_atom[z == zi].mean())
        # v flips to least sensitive first
        await pilot.press("v")
        await pilot.pause()
        assert int(str(crystals.get_row_at(0)[0])) == int(np.argmin(d))
        # CSV export of the pane
        await pilot.press("e")
        await settle(app, pilot)
        files = list(tmp_path.glob("text_effect*.csv"))
        assert len(files) == 1
        rows = list(csv.reader(files[0].open()))
        assert rows[0][:4] == ["index", "id", "target", "baseline"]
        assert len(rows) == cache.n_crystals + 1
        col = rows[0].index("gate_shut_abs_delta")
        got = np.array([float(r[col]) for r in rows[1:]])
        np.testing.assert_allclose(got, np.abs(shifts["gate_shut"]), rtol=1e-9)
        # enter on a crystal row shows it in the Crystals pane
        crystals.focus()
        crystals.move_cursor(row=0)
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen.query_one("#panes").active == "crystals"
        pane = app.screen.query_one(CrystalsPane)
        assert pane.selected_index == int(np.argmin(d))


async def test_text_effect_pane_without_a_model_says_so(tmp_path) -> None:
    session = AnalysisSession(make_cache(seed=1))
    app = AlphaTuiApp(session=session, snapshot_dir=tmp_path)
    app.animation_level = "none"
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        await settle(app, pilot)
        title = str(app.screen.query_one("#effect-title", Static).render())
        assert "need the model" in title
        await pilot.press("g")
        await settle(app, pilot)
        assert not session.cache.counterfactuals
