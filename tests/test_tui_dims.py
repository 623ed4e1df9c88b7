"""Pilot tests of the Dims pane: keys in, the engine's numbers (and numpy's) on screen."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("textual")

from synthetic import make_cache
from textual.widgets import DataTable, Static

from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.tui.app import AlphaTuiApp
from alpha_tui.tui.formatting import fmt, fmt_share
from alpha_tui.tui.panes.dims import DimsPane, fmt_sig
from alpha_tui.tui.snapshot import screen_text
from alpha_tui.tui.widgets.gate_heat_map import GateHeatMap
from alpha_tui.tui.widgets.spark_histogram import SparkHistogram, spark_line


@pytest.fixture(scope="module")
def session() -> AnalysisSession:
    return AnalysisSession(make_cache(seed=0))


async def _settle(app: AlphaTuiApp, pilot) -> None:
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


def _static(app: AlphaTuiApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


@pytest.mark.parametrize("size", [(120, 40), (80, 24)])
async def test_dims_pane_shows_the_engine_numbers(session: AnalysisSession, size) -> None:
    fusion = session.fusion_modules[0]
    gates = np.asarray(session.cache.gates[fusion], dtype=np.float64)
    app = AlphaTuiApp(session=session)
    app.animation_level = "none"
    async with app.run_test(size=size) as pilot:
        await pilot.press("8")
        await _settle(app, pilot)
        pane = app.screen.query_one(DimsPane)
        dims = session.dims(fusion)
        # counts: independent numpy on the gates
        n_open = int(((gates > 0.95).mean(axis=0) >= 0.99).sum())
        n_shut = int(((gates < 0.05).mean(axis=0) >= 0.99).sum())
        assert dims.counts["open"] == n_open and dims.counts["shut"] == n_shut
        title = _static(app, "#dims-title")
        assert f"{n_open} always open, {n_shut} always shut" in title
        assert f"{gates.shape[1] - n_open - n_shut} varying" in title
        sb = session.scale_balance(fusion)
        cache = session.cache
        t = np.linalg.norm(cache.text_transform[fusion].astype(np.float64), axis=1)
        ratio = cache.fusion_input_norm[fusion].astype(np.float64) / t[cache.atom_crystal]
        assert sb.equalising_scale == pytest.approx(np.median(ratio), rel=1e-9)
        assert fmt_sig(np.median(ratio)) in _static(app, "#dims-equalise")
        (row,) = [ln for ln in screen_text(app).splitlines() if "||x||/||t||" in ln]
        cells = row.split()
        assert cells[1:4] == [fmt_sig(np.percentile(ratio, q)) for q in (50, 5, 95)]
        # table: dims by mean; the highlighted one's detail follows the cursor
        table = app.screen.query_one("#dims-table", DataTable)
        order = np.argsort(gates.mean(axis=0), kind="stable")
        assert [int(str(k.value)) for k in table.rows] == order.tolist()
        assert pane.detail is not None and pane.detail.dim == int(order[0])
        # this test is about the detail following the cursor; where focus lands after a
        # tab switch is the explorer's (_activate/_refocus), which in about 1 run in 10
        # here left it on nothing: not yet understood, so the table is focused directly
        table.focus()
        await pilot.press("down", "down")
        await pilot.pause()
        d = int(order[2])
        assert pane.detail.dim == d
        detail = _static(app, "#dims-detail")
        assert f"dim {d} · rank 3/" in detail
        assert f"μ {fmt(gates[:, d].mean(), 3)} σ {fmt(gates[:, d].std(), 3)}" in detail
        assert f">.95 {fmt_share((gates[:, d] > 0.95).mean())}" in detail
        z = np.asarray(cache.atomic_numbers)
        top = max(np.unique(z), key=lambda k: gates[z == k, d].mean())
        assert pane.detail.elements[0].z == int(top)
        edges = np.linspace(0, 1, len(pane.detail.histogram.counts) + 1)
        want, _ = np.histogram(gates[:, d], bins=edges)
        np.testing.assert_array_equal(pane.detail.histogram.counts, want)
        spark = app.screen.query_one("#dims-hist", SparkHistogram)
        assert spark_line(want) in str(spark.render())
        # heat map: the rows drawn are atoms in rising pc1; cells are numpy means
        heat = app.screen.query_one("#dims-heat", GateHeatMap)
        hm = heat.shown
        assert hm is not None and len(hm.atoms) >= 2
        pc1 = session.alpha(fusion, "pc1")
        assert np.all(np.diff(pc1[hm.atoms]) >= 0)
        grp = hm.dim_groups[0]
        np.testing.assert_allclose(hm.values[:, 0], gates[hm.atoms][:, grp].mean(axis=1))
        assert "text scale that would equalise norms" in screen_text(app)


def test_spark_line_marks_every_non_empty_bin() -> None:
    assert spark_line(np.array([0, 1, 100, 50])) == " ▁█▄"
    assert spark_line(np.zeros(3)) == "   "
