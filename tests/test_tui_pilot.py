"""Pilot-driven tests of the explorer: keys in, numbers on screen out.

Every number read from the screen is compared with the analysis engine's value and,
where cheap, with an independent numpy computation on the synthetic cache.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("textual")

from synthetic import make_cache
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import ColumnKey

from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.errors import UserError
from alpha_tui.tui.app import PANE_IDS, AlphaTuiApp, ExplorerScreen, LoadingScreen
from alpha_tui.tui.formatting import fmt
from alpha_tui.tui.help import HelpScreen
from alpha_tui.tui.panes.alpha import AlphaPane
from alpha_tui.tui.panes.crystals import CrystalsPane
from alpha_tui.tui.panes.elements import ElementsPane
from alpha_tui.tui.panes.layers import LayersPane
from alpha_tui.tui.snapshot import screen_text
from alpha_tui.tui.widgets.error_screen import ErrorScreen
from alpha_tui.tui.widgets.plot import ThemedPlot
from alpha_tui.tui.widgets.progress_panel import ProgressPanel
from alpha_tui.tui.widgets.reduction_picker import ReductionPicker
from alpha_tui.tui.widgets.stats_table import StatsTable

SIZE = (120, 40)


async def settle(app: AlphaTuiApp, pilot, rounds: int = 3) -> None:
    """Let workers finish and their results be painted (results arrive as messages)."""
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()


async def wait_until(pilot, predicate, tries: int = 500) -> bool:
    for _ in range(tries):
        if predicate():
            return True
        await pilot.pause(0.02)
    return predicate()


@pytest.fixture(scope="module")
def session() -> AnalysisSession:
    return AnalysisSession(make_cache(seed=0))


@pytest.fixture(scope="module")
def session2() -> AnalysisSession:
    return AnalysisSession(make_cache(seed=0, fusion_layers=(1, 2)))


def new_app(**kwargs: object) -> AlphaTuiApp:
    """The app with animations off (tests wait on results, not on tweens)."""
    app = AlphaTuiApp(**kwargs)  # type: ignore[arg-type]
    app.animation_level = "none"
    return app


def explorer(app: AlphaTuiApp) -> ExplorerScreen:
    screen = app.screen
    assert isinstance(screen, ExplorerScreen)
    return screen


def stats_value(app: AlphaTuiApp, key: str) -> str:
    return app.screen.query_one("#alpha-stats", StatsTable).value(key)


def static_text(app: AlphaTuiApp, selector: str) -> str:
    widget = app.screen.query_one(selector, Static)
    return str(widget.render())


# ------------------------------------------------------------------ reductions


async def test_reduction_cycle_shows_engine_numbers(session: AnalysisSession) -> None:
    fusion = session.fusion_modules[0]
    gates = np.asarray(session.cache.gates[fusion], dtype=np.float64)
    app = new_app(session=session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        mean_stats = session.stats(fusion, "mean")
        assert stats_value(app, "mean") == fmt(mean_stats.mean)
        assert stats_value(app, "mean") == fmt(gates.mean(axis=1).mean())
        assert stats_value(app, "std") == fmt(gates.mean(axis=1).std())

        await pilot.press("r")
        await settle(app, pilot)
        assert explorer(app).state.reduction == "max"
        assert stats_value(app, "mean") == fmt(session.stats(fusion, "max").mean)
        assert stats_value(app, "mean") == fmt(gates.max(axis=1).mean())
        assert stats_value(app, "max") == fmt(gates.max())
        title = static_text(app, "#alpha-title")
        assert f"max over {gates.shape[1]} gate dims" in title and fusion in title

        await pilot.press("R", "R")  # back past mean to the end of the cycle
        await settle(app, pilot)
        assert explorer(app).state.reduction == "injection"
        assert stats_value(app, "mean") == fmt(session.stats(fusion, "injection").mean)


async def test_reduction_picker_validates_inline(session: AnalysisSession) -> None:
    fusion = session.fusion_modules[0]
    gates = np.asarray(session.cache.gates[fusion], dtype=np.float64)
    hidden = gates.shape[1]
    app = new_app(session=session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2", "p")
        await settle(app, pilot)
        assert isinstance(app.screen, ReductionPicker)
        await pilot.press(*"quantile:2", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ReductionPicker)
        assert "quantile must be in [0, 1]" in static_text(app, "#picker-error")

        app.screen.query_one("#picker-input", Input).value = f"dim:{hidden + 3}"
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ReductionPicker), "out-of-range dim must not close"
        assert "out of range" in static_text(app, "#picker-error")

        app.screen.query_one("#picker-input", Input).value = "dim:3"
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ExplorerScreen)
        assert explorer(app).state.reduction == "dim:3"
        assert stats_value(app, "mean") == fmt(gates[:, 3].mean())
        assert "gate dim 3 of" in static_text(app, "#alpha-title")


# ------------------------------------------------------------------ elements


async def test_min_count_filter_removes_rows(session: AnalysisSession) -> None:
    fusion = session.fusion_modules[0]
    z = np.asarray(session.cache.atomic_numbers)
    values, counts = np.unique(z, return_counts=True)

    def expected(min_count: int) -> set[str]:
        keep = {int(v) for v, c in zip(values, counts, strict=True) if c >= min_count}
        return {e.symbol for e in session.elements(fusion, "mean", 1) if e.z in keep}

    app = new_app(session=session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(app, pilot)
        table = app.screen.query_one("#elements-table", DataTable)

        def shown() -> set[str]:
            return {str(k.value) for k in table.rows}

        assert shown() == expected(1) == {e.symbol for e in session.elements(fusion, "mean", 1)}
        await pilot.press("plus", "plus", "plus", "plus")  # 1 -> 2 -> 5 -> 10 -> 20
        await settle(app, pilot)
        assert explorer(app).state.min_count == 20
        assert shown() == expected(20) == {e.symbol for e in session.elements(fusion, "mean", 20)}
        assert expected(20) < expected(1), "the filter must remove some elements"
        # numbers in the mean column are the engine's
        for e in session.elements(fusion, "mean", 20):
            assert str(table.get_cell(e.symbol, "mean")) == fmt(e.mean)
            assert str(table.get_cell(e.symbol, "count")) == f"{e.count:,}"

        min_input = app.screen.query_one("#min-count", Input)
        min_input.focus()
        min_input.value = "50"
        await pilot.press("enter")
        await settle(app, pilot)
        assert explorer(app).state.min_count == 50
        assert shown() == expected(50)
        await pilot.press("minus")
        await settle(app, pilot)
        assert explorer(app).state.min_count == 20
        assert shown() == expected(20)


async def test_element_selection_and_sort(session: AnalysisSession) -> None:
    fusion = session.fusion_modules[0]
    app = new_app(session=session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("3")
        await settle(app, pilot)
        table = app.screen.query_one("#elements-table", DataTable)
        first = str(table.coordinate_to_cell_key((0, 0)).row_key.value)
        # default order is the engine's (mean ascending)
        assert first == session.elements(fusion, "mean")[0].symbol
        await pilot.press("space")
        await settle(app, pilot)
        assert explorer(app).state.selected_elements == frozenset({first})
        assert str(table.get_cell(first, "sel")) == "✓"
        plot = app.screen.query_one("#elements-hist", ThemedPlot)
        assert plot.message == ""  # painted, not a placeholder
        # the overlay is that element's atoms, binned on the all-atoms edges
        view = app.screen.query_one(ElementsPane).view
        z = {e.symbol: e.z for e in session.elements(fusion, "mean")}[first]
        mask = np.asarray(session.cache.atomic_numbers) == z
        assert view.selected == frozenset({first})
        assert view.selected_atoms == int(mask.sum()) > 0
        assert view.selected_hist is not None
        np.testing.assert_array_equal(view.selected_hist.edges, view.all_hist.edges)
        alpha = np.asarray(session.alpha(fusion, "mean"), dtype=np.float64)[mask]
        want, _ = np.histogram(alpha[np.isfinite(alpha)], bins=view.all_hist.edges)
        np.testing.assert_array_equal(view.selected_hist.counts, want)
        assert int(view.selected_hist.counts.sum()) == int(mask.sum())
        await pilot.press("c")  # sort by count ascending
        await settle(app, pilot)
        keys = [str(k.value) for k in table.rows]
        order = [table.get_row_index(k) for k in keys]
        by_row = [k for _, k in sorted(zip(order, keys, strict=True))]
        stats = {e.symbol: e.count for e in session.elements(fusion, "mean")}
        assert [stats[k] for k in by_row] == sorted(stats.values())


# ------------------------------------------------------------------ fusion


async def test_fusion_cycle_changes_every_number(session2: AnalysisSession) -> None:
    first, second = session2.fusion_modules
    app = new_app(session=session2)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        assert first in static_text(app, "#alpha-title")
        assert stats_value(app, "mean") == fmt(session2.stats(first, "mean").mean)
        await pilot.press("f")
        await settle(app, pilot)
        assert explorer(app).state.fusion == second
        assert second in static_text(app, "#alpha-title")
        gates = np.asarray(session2.cache.gates[second], dtype=np.float64)
        assert stats_value(app, "mean") == fmt(session2.stats(second, "mean").mean)
        assert stats_value(app, "mean") == fmt(gates.mean(axis=1).mean())
        assert fmt(session2.stats(first, "mean").mean) != fmt(session2.stats(second, "mean").mean)
        # another pane follows the same state
        await pilot.press("6")
        await settle(app, pilot)
        r = session2.correlation(second, "mean").pearson_r
        assert f"{r:+.3f}" in static_text(app, "#corr-title")


# ------------------------------------------------------------------ layers


async def test_text_projection_shows_every_layer_skipped(session: AnalysisSession) -> None:
    cache = session.cache
    hidden = cache.hidden_size(session.fusion_modules[0])
    proj_width = cache.text_source_width("text_projection")
    app = new_app(session=session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        await settle(app, pilot)
        pane = app.screen.query_one(LayersPane)
        default = pane.status_texts()
        assert [layer for layer, _, _ in default] == [x.name for x in cache.layers]
        assert [status for _, _, status in default] == ["MATCH"] * len(cache.layers)
        while explorer(app).state.text_source != "text_projection":
            await pilot.press("t")
            await settle(app, pilot)
        statuses = pane.status_texts()
        assert [layer for layer, _, _ in statuses] == [x.name for x in cache.layers]
        assert {s for _, _, s in statuses} == {f"SKIPPED({hidden}≠{proj_width})"}
        message = app.screen.query_one("#layers-flow", ThemedPlot).message
        assert f"no layer has width {proj_width}" in message
        assert "every pair SKIPPED" in message
        table = app.screen.query_one("#layers-table", DataTable)
        skipped_rows = [
            row
            for row in (table.get_row_at(i) for i in range(table.row_count))
            if str(row[0]) == "▶"
        ]
        assert len(skipped_rows) == len(cache.layers)
        assert all(str(row[3]) == f"SKIPPED({hidden}≠{proj_width})" for row in skipped_rows)
        assert all(str(row[7]).endswith(f",{proj_width}]") for row in skipped_rows)
        assert f"SKIPPED({hidden}≠{proj_width})" in screen_text(app)


# ------------------------------------------------------------------ crystals


async def test_header_clicks_sort_only_the_main_table(session: AnalysisSession) -> None:
    fusion = session.fusion_modules[0]
    means = np.asarray(session.crystal_alpha(fusion, "mean"), dtype=np.float64)
    app = new_app(session=session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await settle(app, pilot)
        pane = app.screen.query_one(CrystalsPane)
        crystals = app.screen.query_one("#crystals-table", DataTable)
        atoms = app.screen.query_one("#atoms-table", DataTable)

        async def click(table: DataTable, key: str) -> None:
            index = list(table.columns).index(ColumnKey(key))
            label = table.columns[ColumnKey(key)].label
            table.post_message(DataTable.HeaderSelected(table, ColumnKey(key), index, label))
            await settle(app, pilot)

        def row_order() -> list[int]:
            return [int(str(crystals.coordinate_to_cell_key((i, 0)).row_key.value))
                    for i in range(crystals.row_count)]  # fmt: skip

        await click(crystals, "alpha")
        assert (pane.sort_column, pane.sort_reverse) == ("alpha", False)
        assert row_order() == np.argsort(means, kind="stable").tolist()
        assert crystals.columns[ColumnKey("alpha")].label.plain == "mean α ▲"
        assert crystals.columns[ColumnKey("index")].label.plain == "#"
        await click(crystals, "alpha")
        assert pane.sort_reverse is True
        assert row_order() == np.argsort(-means, kind="stable").tolist()
        assert crystals.columns[ColumnKey("alpha")].label.plain == "mean α ▼"
        # the atoms table also has an "alpha" column: clicking it is not a crystal sort
        await click(atoms, "alpha")
        assert (pane.sort_column, pane.sort_reverse) == ("alpha", True)
        # the elements pane sorts by its own columns the same way
        await pilot.press("3")
        await settle(app, pilot)
        table = app.screen.query_one("#elements-table", DataTable)
        await click(table, "count")
        rows = [str(table.coordinate_to_cell_key((i, 0)).row_key.value)
                for i in range(table.row_count)]  # fmt: skip
        stats = session.elements(fusion, "mean")
        assert rows == [e.symbol for e in sorted(stats, key=lambda e: (e.count, e.z))]
        assert table.columns[ColumnKey("count")].label.plain == "count ▲"
        assert table.columns[ColumnKey("mean")].label.plain == "mean"


async def test_crystal_jumps_select_extremes(session: AnalysisSession) -> None:
    fusion = session.fusion_modules[0]
    cache = session.cache
    alpha = np.asarray(session.alpha(fusion, "mean"))
    sums = np.bincount(cache.atom_crystal, weights=alpha, minlength=cache.n_crystals)
    means = sums / np.bincount(cache.atom_crystal, minlength=cache.n_crystals)
    order = np.argsort(means, kind="stable")
    app = new_app(session=session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        await settle(app, pilot)
        pane = app.screen.query_one(CrystalsPane)
        for key, expected in (
            ("h", int(order[-1])),
            ("l", int(order[0])),
            ("m", int(order[(len(order) - 1) // 2])),
        ):
            await pilot.press(key)
            await settle(app, pilot)
            assert pane.selected_index == expected
            atoms = app.screen.query_one("#atoms-table", DataTable)
            assert atoms.row_count == int(cache.atom_counts[expected])
            assert cache.crystal_ids[expected] in static_text(app, "#crystals-title")
            shown = [float(str(atoms.get_row_at(i)[2])) for i in range(atoms.row_count)]
            truth = alpha[cache.atom_crystal == expected]
            assert np.allclose(shown, truth, atol=5e-5)


# ------------------------------------------------------------------ export


async def test_save_and_export_never_overwrite(session: AnalysisSession, tmp_path: Path) -> None:
    fusion = session.fusion_modules[0]
    app = new_app(session=session, snapshot_dir=tmp_path / "snaps")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        await pilot.press("s", "s", "e", "e")
        await settle(app, pilot)
    folder = tmp_path / "snaps"
    svgs = sorted(folder.glob("alpha-mean-*.svg"))
    txts = sorted(folder.glob("alpha-mean-*.txt"))
    csvs = sorted(folder.glob("alpha-mean-*.csv"))
    assert len(svgs) == 2 and len(txts) == 2 and len(csvs) == 2
    assert all(p.stat().st_size > 0 for p in svgs + txts + csvs)
    text = txts[0].read_text()
    assert fmt(session.stats(fusion, "mean").mean) in text
    assert "variance collapse" in text
    assert svgs[0].read_text().lstrip().startswith("<svg")
    lines = csvs[1].read_text().splitlines()
    assert lines[0].split(",")[-1] == "alpha_mean"
    values = np.array([float(line.split(",")[-1]) for line in lines[1:]])
    assert np.allclose(values, session.alpha(fusion, "mean"))


async def test_unwritable_folder_is_a_notification(
    session: AnalysisSession, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    app = new_app(session=session, snapshot_dir=blocker / "snaps")
    notes: list[tuple[str, str]] = []
    async with app.run_test(size=SIZE) as pilot:
        original = app.notify

        def record(message: str, **kwargs: object) -> None:
            notes.append((message, str(kwargs.get("severity", "information"))))
            original(message, **kwargs)  # type: ignore[arg-type]

        app.notify = record  # type: ignore[method-assign]
        await pilot.press("2")
        await settle(app, pilot)
        await pilot.press("s", "e")
        await settle(app, pilot)
        assert isinstance(app.screen, ExplorerScreen)
    errors = [m for m, severity in notes if severity == "error"]
    assert len(errors) == 2
    assert all("cannot write to" in m and str(blocker) in m for m in errors)


# ------------------------------------------------------------------ layout


async def test_resize_down_and_back_on_every_pane(session2: AnalysisSession) -> None:
    app = new_app(session=session2)
    async with app.run_test(size=(80, 24)) as pilot:
        for key in "123456":
            await pilot.press(key)
            await settle(app, pilot)
            await pilot.resize_terminal(40, 12)
            await pilot.pause()
            await pilot.resize_terminal(120, 40)
            await pilot.pause()
            await pilot.resize_terminal(80, 24)
        await pilot.press("2", "r", "f")
        await settle(app, pilot)
        await pilot.resize_terminal(40, 12)
        await settle(app, pilot)
        assert explorer(app).active_pane_id == "alpha"
        assert app.screen.query_one(AlphaPane).error is None
        await pilot.resize_terminal(*SIZE)
        await settle(app, pilot)
        state = explorer(app).state
        assert (state.fusion, state.reduction) == (session2.fusion_modules[1], "max")
        gates = np.asarray(session2.cache.gates[state.fusion], dtype=np.float64)
        assert stats_value(app, "mean") == fmt(session2.stats(state.fusion, "max").mean)
        assert stats_value(app, "mean") == fmt(gates.max(axis=1).mean())
    assert app.return_code in (None, 0)


async def test_tab_cycles_panes_and_help_opens(session: AnalysisSession) -> None:
    app = new_app(session=session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert explorer(app).active_pane_id == "overview"
        await pilot.press("tab", "tab")
        await settle(app, pilot)
        assert explorer(app).active_pane_id == "elements"
        await pilot.press("shift+tab", "shift+tab", "shift+tab")
        await settle(app, pilot)
        assert explorer(app).active_pane_id == PANE_IDS[-1]  # wraps to the last pane
        await pilot.press("question_mark")
        await settle(app, pilot)
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        assert "type a reduction, e.g. dim:5" in text and "highest mean alpha" in text
        app.screen.query_one("#help-box").scroll_end(animate=False)
        await settle(app, pilot)
        assert "quantile:0.9" in screen_text(app)
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, ExplorerScreen)


async def test_palette_commands_drive_the_same_state(session: AnalysisSession) -> None:
    fusion = session.fusion_modules[0]
    app = new_app(session=session)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await settle(app, pilot)
        commands = {name: callback for name, callback, _ in explorer(app).palette_commands()}
        commands["reduction: pc1"]()
        await settle(app, pilot)
        assert stats_value(app, "mean") == fmt(session.stats(fusion, "pc1").mean)
        commands["pane: Layers"]()
        await settle(app, pilot)
        assert explorer(app).active_pane_id == "layers"


# ------------------------------------------------------------------ loading


async def test_loader_user_error_shows_error_screen() -> None:
    message = "checkpoint not found: /nope/best.pt; pass the path of a .pt file"

    def loader(progress, cancel):
        progress(0, 3, "checkpoint")
        raise UserError(message)

    app = new_app(loader=loader)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, ErrorScreen)
        shown = static_text(app, "#error-message")
        assert shown == message
        assert "Traceback" not in screen_text(app)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 2


async def test_loader_progress_is_shown_then_explorer(session: AnalysisSession) -> None:
    proceed = threading.Event()

    def loader(progress, cancel):
        progress(0, 10, "graphs")
        progress(5, 10, "graphs")
        proceed.wait(10)
        progress(10, 10, "graphs")
        progress(3, 12, "capture")
        return session

    app = new_app(loader=loader)
    async with app.run_test(size=SIZE) as pilot:
        try:
            assert isinstance(app.screen, LoadingScreen)
            panel = app.screen.query_one(ProgressPanel)
            assert await wait_until(pilot, lambda: "graphs: 5/10" in panel.line)
            assert "ETA" in panel.line and "/s" in panel.line
            assert "graphs: 5/10" in screen_text(app)
        finally:
            proceed.set()
        assert await wait_until(pilot, lambda: isinstance(app.screen, ExplorerScreen))
        await settle(app, pilot)
        assert "checkpoint" in screen_text(app)


async def test_quit_while_loading_cancels_the_loader() -> None:
    saw_cancel = threading.Event()
    started = threading.Event()

    def loader(progress, cancel):
        started.set()
        deadline = time.monotonic() + 30
        i = 0
        while time.monotonic() < deadline:
            if cancel.wait(0.01):
                saw_cancel.set()
                raise KeyboardInterrupt  # any exception after cancel is fine
            i += 1
            progress(i, 10**6, "graphs")
        raise AssertionError("loader was never cancelled")

    app = new_app(loader=loader)
    async with app.run_test(size=SIZE) as pilot:
        assert await wait_until(pilot, started.is_set)
        await pilot.pause()
        assert isinstance(app.screen, LoadingScreen)
        await pilot.press("q")
        await pilot.pause()
    assert saw_cancel.wait(10)
    assert app.return_code in (None, 0)


def test_tui_imports_no_torch() -> None:
    code = (
        "import sys\n"
        "import alpha_tui.tui.app, alpha_tui.tui.screenshots, alpha_tui.tui.snapshot\n"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('torch.')]\n"
        "assert not bad, bad\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_bad_initial_fusion_is_a_user_error(session: AnalysisSession) -> None:
    with pytest.raises(UserError, match="unknown fusion module 'layer_9'"):
        AlphaTuiApp(session=session, initial_fusion="layer_9")
    app = new_app(session=session, initial_fusion="layer_2", initial_reduction="Q:0.5")
    assert app._initial_state is not None
    assert app._initial_state.fusion == session.fusion_modules[0]
    assert app._initial_state.reduction == "quantile:0.5"


async def test_leaving_the_app_always_stops_the_loader() -> None:
    stopped = threading.Event()

    def loader(progress, cancel):
        if cancel.wait(30):
            stopped.set()
        raise UserError("stopped")

    app = new_app(loader=loader)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert not app.cancel_event.is_set()
    # no key pressed: the teardown alone must release the loader
    assert stopped.wait(10)
