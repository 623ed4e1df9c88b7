"""Views computed ahead: same numbers as a cold compute, never a stale state, contained.

The explorer warms every pane's view in one thread once the panes are mounted and
after the state has stayed put for WARM_UP_DELAY_S; these tests compare what a warmed
pane shows with what a pane that computed on its own shows, for the same ViewState.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

pytest.importorskip("textual")

from synthetic import make_cache

from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.tui.app import PANE_IDS, AlphaTuiApp, ExplorerScreen
from alpha_tui.tui.formatting import fmt
from alpha_tui.tui.panes.base import PaneFailureLine
from alpha_tui.tui.panes.crystals import CrystalsPane
from alpha_tui.tui.panes.elements import ElementsPane
from alpha_tui.tui.snapshot import screen_text
from alpha_tui.tui.state import ViewState
from alpha_tui.tui.warm_up import warm_order, warm_up
from alpha_tui.tui.widgets.stats_table import StatsTable

SIZE = (120, 40)


def new_app(session: AnalysisSession, tmp_path: Path) -> AlphaTuiApp:
    app = AlphaTuiApp(session=session, failure_log=tmp_path / "logs" / "explorer.log")
    app.animation_level = "none"
    return app


async def settle(app: AlphaTuiApp, pilot, rounds: int = 3) -> None:
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def wait_until(pilot, predicate, tries: int = 1000) -> bool:
    for _ in range(tries):
        if predicate():
            return True
        await pilot.pause(0.01)
    return predicate()


def explorer(app: AlphaTuiApp) -> ExplorerScreen:
    assert isinstance(app.screen, ExplorerScreen)
    return app.screen


async def pane_screens(app: AlphaTuiApp, pilot) -> dict[str, str]:
    """Every pane's screen text, visiting them in key order."""
    out = {}
    for pane_id in [*PANE_IDS[1:], PANE_IDS[0]]:
        await pilot.press(explorer(app).panes[pane_id].key)
        await settle(app, pilot)
        out[pane_id] = screen_text(app)
    return out


# ------------------------------------------------------------------ pure parts


def test_warm_order_follows_the_keys_from_the_active_pane() -> None:
    ids = ("a", "b", "c", "d")
    assert warm_order(ids, "c") == ["d", "a", "b"]
    assert warm_order(ids, "a") == ["b", "c", "d"]
    assert warm_order(ids, "zz") == ["a", "b", "c", "d"]


class FakePane:
    def __init__(self, pane_id: str, fail: bool = False, done: bool = True) -> None:
        self.pane_id, self.fail, self.done = pane_id, fail, done
        self.seen: list[ViewState] = []

    def compute_ahead(self, state: ViewState) -> bool:
        self.seen.append(state)
        if self.fail:
            raise RuntimeError("bug outside compute")
        return self.done


def test_warm_up_stops_when_told_and_skips_a_failing_pane() -> None:
    state = ViewState(fusion="f", reduction="mean")
    panes = [FakePane("a"), FakePane("b", fail=True), FakePane("c", done=False), FakePane("d")]
    assert warm_up(panes, state, lambda: False) == ["a", "d"]
    assert all(p.seen == [state] for p in panes)
    calls = []

    def stop_after_two() -> bool:
        calls.append(1)
        return len(calls) > 2

    fresh = [FakePane("a"), FakePane("b"), FakePane("c")]
    assert warm_up(fresh, state, stop_after_two) == ["a", "b"]
    assert fresh[2].seen == []


# ------------------------------------------------------------------ in the explorer


async def test_warmed_panes_show_what_a_cold_compute_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = AnalysisSession(make_cache(seed=3))
    app = new_app(session, tmp_path)
    computed: list[str] = []
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = explorer(app)
        for pane_id in PANE_IDS[1:]:  # every other pane holds its view of this state
            pane = screen.panes[pane_id]
            assert pane.view is None and pane._ahead is not None
            assert pane._ahead[0] == pane.depends(screen.state)
            original = pane.compute

            def counted(state, original=original, pane_id=pane_id):
                computed.append(pane_id)
                return original(state)

            pane.compute = counted  # type: ignore[method-assign]
        warm = await pane_screens(app, pilot)
        assert computed == []  # a first visit only painted

    monkeypatch.setattr(ExplorerScreen, "_warm_up", lambda self: None)
    cold_app = new_app(AnalysisSession(make_cache(seed=3)), tmp_path)
    async with cold_app.run_test(size=SIZE) as pilot:
        await settle(cold_app, pilot)
        assert all(explorer(cold_app).panes[p]._ahead is None for p in PANE_IDS)
        cold = await pane_screens(cold_app, pilot)
    assert warm == cold


async def test_a_state_change_during_warm_up_shows_the_new_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = AnalysisSession(make_cache(seed=0))
    fusion = session.fusion_modules[0]
    release = threading.Event()
    entered = threading.Event()
    original = ElementsPane.compute

    def slow_for_mean(self, state):
        if state.reduction == "mean":
            entered.set()
            release.wait(10)
        return original(self, state)

    monkeypatch.setattr(ElementsPane, "compute", slow_for_mean)
    app = new_app(session, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = explorer(app)
        elements = screen.panes["elements"]
        assert await wait_until(pilot, entered.is_set)  # warm-up is inside Elements
        await pilot.press("r")  # mean -> max while that computation still runs
        await pilot.press("3")
        assert await wait_until(pilot, lambda: elements.view is not None)
        assert elements.view.reduction == "max"
        release.set()
        await settle(app, pilot)
        assert elements.view.reduction == "max"  # the late mean result painted nothing
        table = elements.query_one("#elements-table")
        means = {str(table.get_row(k)[1]): str(table.get_row(k)[3]) for k in table.rows}
        for stat in session.elements(fusion, "max", 1):
            assert means[stat.symbol] == fmt(stat.mean)
        await pilot.press("R")  # back to mean: whatever was kept for it is mean's view
        await settle(app, pilot)
        assert elements.view.reduction == "mean" and elements.is_current
        means = {str(table.get_row(k)[1]): str(table.get_row(k)[3]) for k in table.rows}
        for stat in session.elements(fusion, "mean", 1):
            assert means[stat.symbol] == fmt(stat.mean)
        await pilot.press("2")
        await settle(app, pilot)
        stats = app.screen.query_one("#alpha-stats", StatsTable)
        assert stats.value("mean") == fmt(session.stats(fusion, "mean").mean)


async def test_a_failure_in_warm_up_stays_in_its_pane(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = AnalysisSession(make_cache(seed=0))
    fusion = session.fusion_modules[0]

    def bad_compute(self, state):
        raise KeyError("injected warm-up bug")

    monkeypatch.setattr(CrystalsPane, "compute", bad_compute)
    app = new_app(session, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        crystals = explorer(app).panes["crystals"]
        assert crystals.failures == []  # not reported while nobody looks at the pane
        await pilot.press("5")
        await settle(app, pilot)
        assert crystals.failures and crystals.failures[0].where == "computing the view"
        assert "KeyError" in str(crystals.query_one(PaneFailureLine).render())
        await pilot.press("2")
        await settle(app, pilot)
        stats = app.screen.query_one("#alpha-stats", StatsTable)
        assert stats.value("mean") == fmt(session.stats(fusion, "mean").mean)
    assert app.return_code in (None, 0)
    assert "KeyError: 'injected warm-up bug'" in (tmp_path / "logs" / "explorer.log").read_text()
