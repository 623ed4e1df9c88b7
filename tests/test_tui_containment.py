"""A failure in one pane stays in that pane; selecting a rare element draws.

The first test is the reported crash (space on a rare element in the Elements pane
ended the app inside plotext's legend drawing). The others inject failures into a
pane's rendering and computation and check that the app keeps running, the pane shows
one line, the log file gets the traceback, and the other panes still show numbers.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("textual")

from synthetic import make_cache
from textual.widgets import DataTable

from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.tui.app import AlphaTuiApp, ExplorerScreen
from alpha_tui.tui.formatting import fmt
from alpha_tui.tui.panes.base import PaneFailureLine
from alpha_tui.tui.panes.elements import ElementsPane
from alpha_tui.tui.snapshot import screen_text
from alpha_tui.tui.widgets.plot import ThemedPlot
from alpha_tui.tui.widgets.stats_table import StatsTable

SIZE = (120, 40)
RARE = 92  # uranium: one atom in the whole dataset


async def settle(app: AlphaTuiApp, pilot, rounds: int = 4) -> None:
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def wait_until(pilot, predicate, tries: int = 3000) -> bool:
    for _ in range(tries):
        if predicate():
            return True
        await pilot.pause(0.02)
    return bool(predicate())


def rare_element_session() -> AnalysisSession:
    cache = make_cache(seed=0)
    z = np.asarray(cache.atomic_numbers).copy()
    z[0] = RARE
    return AnalysisSession(replace(cache, atomic_numbers=z.astype(cache.atomic_numbers.dtype)))


def new_app(session: AnalysisSession, tmp_path: Path) -> AlphaTuiApp:
    app = AlphaTuiApp(session=session, failure_log=tmp_path / "logs" / "explorer.log")
    app.animation_level = "none"
    return app


@pytest.mark.parametrize("size", [SIZE, (80, 24)])
async def test_selecting_a_rare_element_draws_its_overlay(tmp_path: Path, size) -> None:
    session = rare_element_session()
    app = new_app(session, tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.press("3")
        await settle(app, pilot)
        table = app.screen.query_one("#elements-table", DataTable)
        table.move_cursor(row=table.get_row_index("U"), animate=False)
        await pilot.press("space")
        await settle(app, pilot)
        assert isinstance(app.screen, ExplorerScreen)
        assert app.screen.state.selected_elements == frozenset({"U"})
        pane = app.screen.query_one(ElementsPane)
        assert pane.failures == [], [f.detail for f in pane.failures]
        view = pane.view
        assert view.selected_atoms == 1 and int(view.selected_hist.counts.sum()) == 1
        plot = app.screen.query_one("#elements-hist", ThemedPlot)
        assert plot.message == ""
        text = screen_text(app)
        assert "U (1 atoms)" in text or size[0] < 100  # the legend, where there is room
        assert "cannot draw" not in text
    assert app.return_code in (None, 0)


async def test_failing_render_stays_in_its_pane(tmp_path: Path, monkeypatch) -> None:
    session = AnalysisSession(make_cache(seed=0))
    fusion = session.fusion_modules[0]
    app = new_app(session, tmp_path)

    def broken_render(self):
        if self.id == "elements-hist":
            raise ZeroDivisionError("injected drawing bug")
        return original(self)

    original = ThemedPlot.render
    monkeypatch.setattr(ThemedPlot, "render", broken_render)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(app, pilot)
        assert isinstance(app.screen, ExplorerScreen), "the app must survive"
        pane = app.screen.query_one(ElementsPane)
        assert [f.summary for f in pane.failures][:1] == ["ZeroDivisionError: injected drawing bug"]
        line = pane.query_one(PaneFailureLine)
        shown = str(line.render())
        assert shown.startswith("✗ Elements: ThemedPlot#elements-hist render failed")
        assert "\n" not in shown
        text = screen_text(app)
        assert "✗ cannot draw this (ZeroDivisionError: injected drawing bug)" in text
        assert "Traceback" not in text
        # the table of the same pane still works
        table = pane.query_one("#elements-table", DataTable)
        assert table.row_count == len(session.elements(fusion, "mean"))
        # other panes still compute and paint numbers
        await pilot.press("2")
        await settle(app, pilot)
        stats = app.screen.query_one("#alpha-stats", StatsTable)
        assert stats.value("mean") == fmt(session.stats(fusion, "mean").mean)
        await pilot.press("r")
        await settle(app, pilot)
        assert stats.value("mean") == fmt(session.stats(fusion, "max").mean)
    assert app.return_code in (None, 0)
    log = (tmp_path / "logs" / "explorer.log").read_text()
    assert "pane elements: ThemedPlot#elements-hist render" in log
    assert "ZeroDivisionError: injected drawing bug" in log and "Traceback" in log


async def test_failing_compute_and_apply_are_contained(tmp_path: Path, monkeypatch) -> None:
    session = AnalysisSession(make_cache(seed=0))
    fusion = session.fusion_modules[0]
    app = new_app(session, tmp_path)

    def bad_compute(self, state):
        raise KeyError("injected compute bug")

    monkeypatch.setattr(ElementsPane, "compute", bad_compute)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(app, pilot)
        pane = app.screen.query_one(ElementsPane)
        assert pane.failures and pane.failures[0].where == "computing the view"
        assert "KeyError" in str(pane.query_one(PaneFailureLine).render())
        await pilot.press("2")
        await settle(app, pilot)
        stats = app.screen.query_one("#alpha-stats", StatsTable)
        assert stats.value("mean") == fmt(session.stats(fusion, "mean").mean)
    assert app.return_code in (None, 0)
    assert "KeyError: 'injected compute bug'" in (tmp_path / "logs" / "explorer.log").read_text()


async def test_failure_line_goes_when_the_pane_draws_again(tmp_path: Path, monkeypatch) -> None:
    session = AnalysisSession(make_cache(seed=0))
    app = new_app(session, tmp_path)
    broken = {"on": True}
    original = ThemedPlot.render

    def flaky(self):
        if self.id == "alpha-hist" and broken["on"]:
            raise RuntimeError("draw fails until fixed")
        return original(self)

    monkeypatch.setattr(ThemedPlot, "render", flaky)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        pane = app.screen.query_one("#pane-alpha")
        assert await wait_until(pilot, lambda: bool(pane.query(PaneFailureLine)))
        broken["on"] = False
        await pilot.press("r")  # new data: the plot tries again, and now draws
        assert await wait_until(pilot, lambda: not pane.query(PaneFailureLine))
        await settle(app, pilot)
        assert not pane.query(PaneFailureLine)
        assert "cannot draw" not in screen_text(app)


async def test_unexpected_loading_error_is_one_line_and_logged(tmp_path: Path) -> None:
    from alpha_tui.tui.widgets.error_screen import ErrorScreen

    def loader(progress, cancel):
        raise RuntimeError("boom in the loader")

    app = AlphaTuiApp(loader=loader, failure_log=tmp_path / "explorer.log")
    app.animation_level = "none"
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, ErrorScreen)
        assert app.error_message is not None
        assert app.error_message.startswith(
            "unexpected error while loading (RuntimeError: boom in the loader)"
        )
        assert "\n" not in app.error_message and "Traceback" not in screen_text(app)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 2
    log = (tmp_path / "explorer.log").read_text()
    assert "Traceback" in log and "RuntimeError: boom in the loader" in log


async def test_failing_export_is_contained(tmp_path: Path, monkeypatch) -> None:
    session = AnalysisSession(make_cache(seed=0))
    app = AlphaTuiApp(
        session=session, failure_log=tmp_path / "explorer.log", snapshot_dir=tmp_path / "snaps"
    )
    app.animation_level = "none"

    def bad_table(self):
        raise ValueError("injected export bug")

    monkeypatch.setattr(ElementsPane, "export_table", bad_table)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(app, pilot)
        await pilot.press("e")
        await settle(app, pilot)
        pane = app.screen.query_one(ElementsPane)
        assert [f.where for f in pane.failures] == ["CSV export"]
        assert "ValueError: injected export bug" in str(pane.query_one(PaneFailureLine).render())
        await pilot.press("2", "e")  # another pane still exports
        await settle(app, pilot)
    assert app.return_code in (None, 0)
    written = [p.name for p in (tmp_path / "snaps").iterdir()]
    assert len(written) == 1, written
    assert written[0].startswith("alpha-mean-") and written[0].endswith(".csv")
