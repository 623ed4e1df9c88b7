"""Pane 7: does the text matter? Counterfactual re-runs at the selected fusion module.

The re-runs need the model, which lives behind the CLI's runner callable (this pane
never imports torch); `g` starts them in a worker with a progress bar, `x` stops
them. Until they ran, the pane says so instead of showing zeros.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState
from textual_plotext.plot import Plot

from alpha_tui.analysis.elements import element_symbol
from alpha_tui.analysis.statistics import histogram
from alpha_tui.analysis.text_effect import (
    ConditionEffect,
    ElementEffect,
    element_effects,
    headline,
)
from alpha_tui.tui.formatting import fmt, short_fusion
from alpha_tui.tui.panes.base import SortablePane, Table
from alpha_tui.tui.state import ViewState
from alpha_tui.tui.widgets.periodic_table import ElementCell, PeriodicTable
from alpha_tui.tui.widgets.plot import Painter, Palette, ThemedPlot
from alpha_tui.tui.widgets.progress_panel import ProgressPanel

ProgressCallback = Callable[[int, int, str], None]
#: (fusion, progress, cancel) -> None; stores the run on the session's cache
TextEffectRunner = Callable[[str, ProgressCallback, threading.Event], None]

SORTS: dict[str, tuple[str, str]] = {
    "delta": ("|Δ|", "delta"),
    "index": ("#", "index"),
}
ALL_SYMBOLS = {z: element_symbol(z) for z in range(1, 119)}


class JumpToCrystal(Message):
    """Enter on a crystal row: show it in the Crystals pane."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index


@dataclass(frozen=True)
class TextEffectView:
    fusion: str
    effects: list[ConditionEffect] | None  # None: not run yet
    classification: bool = False


def delta_painter(effect: ConditionEffect, classification: bool) -> Painter:
    hist = histogram(effect.delta, bins=20)

    def paint(plt: Plot, palette: Palette) -> None:
        centers = ((hist.edges[:-1] + hist.edges[1:]) / 2).tolist()
        plt.bar(centers, hist.counts.tolist(), color=palette.primary, width=1.0, marker="█")
        plt.xlabel("|Δ probability|" if classification else "|Δ prediction|")
        plt.ylabel("crystals")
        plt.title(f"{effect.label}: mean {fmt(effect.mean_abs_delta, 3)}")

    return paint


def metric_cells(effect: ConditionEffect, classification: bool) -> tuple[str, str, str]:
    """with, without, 95 % CI of the change; accuracy for classification."""
    if effect.error_with is None or effect.error_without is None:
        return "n/a", "n/a", "n/a (no targets)"
    with_, without = effect.error_with, effect.error_without
    ci = effect.change_ci
    sign = -1.0 if classification else 1.0  # accuracy change = -(error-rate change)
    if classification:
        with_, without = 1 - with_, 1 - without
    if ci is None:
        ci_text = "n/a"
    else:
        low, high = sorted((sign * ci.low, sign * ci.high))
        ci_text = f"{low:+.3f}..{high:+.3f}"
    return fmt(with_, 3), fmt(without, 3), ci_text


class TextEffectPane(SortablePane):
    pane_id = "text_effect"
    title = "Text effect"
    key = "7"
    SORTS = SORTS
    default_sort = "delta"
    sort_table = "effect-crystals"

    def __init__(self, session: Any, runner: TextEffectRunner | None = None) -> None:
        super().__init__(session)
        self.runner = runner
        self.condition_index = 0
        self.sort_reverse = True  # most sensitive first
        self.running: str | None = None
        self._cancel = threading.Event()

    def compose(self) -> ComposeResult:
        yield Static("", id="effect-title", classes="pane-title")
        yield ProgressPanel(id="effect-progress")
        conditions: DataTable[Any] = DataTable(id="effect-conditions", cursor_type="row")
        yield conditions
        with Horizontal(id="effect-main"):
            yield ThemedPlot(id="effect-hist")
            crystals: DataTable[Any] = DataTable(id="effect-crystals", cursor_type="row")
            yield crystals
        yield PeriodicTable(id="effect-periodic")

    def on_mount(self) -> None:
        self.query_one("#effect-progress").display = False
        table = self.query_one("#effect-conditions", DataTable)
        for key, label in (
            ("condition", "condition"),
            ("mean", "mean |Δ|"),
            ("max", "max"),
            ("with", "with"),
            ("without", "without"),
            ("ci", "95% CI chg"),
        ):
            table.add_column(label, key=key)
        crystals = self.query_one("#effect-crystals", DataTable)
        crystals.add_column("#", key="index")
        crystals.add_column("|Δ|", key="delta")
        crystals.add_column("id", key="id")

    def main_widget(self) -> DataTable[Any]:
        return self.query_one("#effect-crystals", DataTable)

    def depends(self, state: ViewState) -> Hashable:
        run = self.session.cache.counterfactuals.get(state.fusion)
        return (state.fusion, id(run) if run is not None else None)

    def compute(self, state: ViewState) -> TextEffectView:
        effects = self.session.text_effect(state.fusion)
        run = self.session.cache.counterfactuals.get(state.fusion)
        return TextEffectView(state.fusion, effects, bool(run and run.classification))

    # ------------------------------------------------------------- painting
    @property
    def effect(self) -> ConditionEffect | None:
        view: TextEffectView | None = self.view
        if view is None or not view.effects:
            return None
        return view.effects[self.condition_index % len(view.effects)]

    def apply(self, view: TextEffectView) -> None:
        title = self.query_one("#effect-title", Static)
        table = self.query_one("#effect-conditions", DataTable)
        table.clear()
        if view.effects is None:
            module = short_fusion(view.fusion)
            if self.running == view.fusion:
                hint = f"re-running the model at {module}… (x stops)"
            elif self.runner is None:
                hint = (
                    "counterfactual re-runs need the model, which this session does not "
                    "hold (open a checkpoint with alpha-tui CKPT)"
                )
            else:
                hint = (
                    f"press g to re-run the model with the text changed at {module} "
                    "(5 conditions, about 2-3x the capture time)"
                )
            title.update(Text(hint, style="bold"))
            self.query_one("#effect-hist", ThemedPlot).show_message("not run yet")
            self.query_one("#effect-crystals", DataTable).clear()
            self.query_one("#effect-periodic", PeriodicTable).show(
                [], symbols=ALL_SYMBOLS, selected=frozenset()
            )
            return
        title.update(Text(headline(view.effects), style="bold"))
        for i, effect in enumerate(view.effects):
            with_, without, ci = metric_cells(effect, view.classification)
            table.add_row(
                effect.label,
                Text(fmt(effect.mean_abs_delta, 3), justify="right"),
                Text(fmt(effect.max_abs_delta, 3), justify="right"),
                Text(with_, justify="right"),
                Text(without, justify="right"),
                ci,
                key=str(i),
            )
        table.move_cursor(row=self.condition_index % len(view.effects), animate=False)
        self._paint_condition()

    def _paint_condition(self) -> None:
        effect = self.effect
        view: TextEffectView = self.view
        if effect is None:
            return
        self.query_one("#effect-hist", ThemedPlot).paint(
            delta_painter(effect, view.classification)
        )
        self._fill_table(view)
        cells = [
            ElementCell(e.symbol, e.z, e.mean_abs_delta, e.count)
            for e in self.element_rows(effect)
        ]
        self.query_one("#effect-periodic", PeriodicTable).show(
            cells, symbols=ALL_SYMBOLS, selected=frozenset()
        )

    def element_rows(self, effect: ConditionEffect) -> list[ElementEffect]:
        cache = self.session.cache
        return element_effects(effect.delta, cache.atom_crystal, cache.atomic_numbers)

    def _fill_table(self, view: Any) -> None:
        effect = self.effect
        table = self.query_one("#effect-crystals", DataTable)
        table.clear()
        if effect is None:
            return
        ids = self.session.cache.crystal_ids
        d = effect.delta
        keys = np.where(np.isfinite(d), d, -np.inf) if self.sort_column == "delta" else None
        order = sorted(
            range(len(d)),
            key=(lambda i: (keys[i], -i)) if keys is not None else (lambda i: i),
            reverse=self.sort_reverse,
        )
        for i in order:
            table.add_row(
                Text(str(i), justify="right"),
                Text(fmt(float(d[i]), 3), justify="right"),
                ids[i],
                key=str(i),
            )
        self.label_sort_column(table)

    # ------------------------------------------------------------- interaction
    def next_condition(self, step: int = 1) -> None:
        if self.view is None or not self.view.effects:
            return
        self.condition_index = (self.condition_index + step) % len(self.view.effects)
        self.query_one("#effect-conditions", DataTable).move_cursor(
            row=self.condition_index, animate=False
        )
        self._paint_condition()

    @on(DataTable.RowHighlighted, "#effect-conditions")
    def _condition_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is None:
            return
        index = int(event.row_key.value)
        if index != self.condition_index:
            self.condition_index = index
            self._paint_condition()

    @on(DataTable.RowSelected, "#effect-crystals")
    def _crystal_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.post_message(JumpToCrystal(int(event.row_key.value)))

    def start_run(self) -> None:
        if self.state is None:
            return
        fusion = self.state.fusion
        if self.runner is None:
            self.app.notify("this session has no model to re-run", severity="warning")
            return
        if self.running is not None:
            self.app.notify(f"already running at {short_fusion(self.running)}", timeout=2)
            return
        if fusion in self.session.cache.counterfactuals:
            self.app.notify("already computed for this fusion module", timeout=2)
            return
        self.running = fusion
        self._cancel = threading.Event()
        self.query_one("#effect-progress").display = True
        if self.view is not None:
            self.apply(self.view)
        self._run(fusion, self._cancel)

    def cancel_run(self) -> None:
        if self.running is not None:
            self._cancel.set()

    def on_unmount(self) -> None:
        self._cancel.set()

    @work(thread=True, exclusive=True, group="effect")
    def _run(self, fusion: str, cancel: threading.Event) -> tuple[str, str | None]:
        assert self.runner is not None

        def progress(done: int, total: int, stage: str) -> None:
            if not cancel.is_set():
                self.app.call_from_thread(self._report, done, total, stage)

        try:
            self.runner(fusion, progress, cancel)
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a crash
            if cancel.is_set():
                return fusion, "cancelled"
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            return fusion, message
        return fusion, None

    def _report(self, done: int, total: int, stage: str) -> None:
        self.query_one("#effect-progress", ProgressPanel).report(done, total, stage)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "effect":
            # no super() call: Textual runs Pane's handler itself (one per class in
            # the MRO), and calling it here too painted every view twice
            return
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR):
            return
        event.stop()
        self.running = None
        self.query_one("#effect-progress").display = False
        result = event.worker.result if event.state == WorkerState.SUCCESS else None
        problem = "failed" if result is None else result[1]
        if problem == "cancelled":
            self.app.notify("text-effect run stopped", timeout=2)
        elif problem is not None:
            self.app.notify(problem, title="text-effect run failed", severity="error")
        if self.state is not None:
            self.show_state(self.state, force=True)

    def export_table(self) -> Table:
        view: TextEffectView = self.view
        cache = self.session.cache
        if not view.effects:
            return ["index", "id"], []
        run = cache.counterfactuals[view.fusion]
        header = ["index", "id", "target", "baseline"]
        for effect in view.effects:
            header += [f"{effect.condition}_output", f"{effect.condition}_abs_delta"]
        rows = []
        first = 1 if run.classification else 0
        for i, crystal in enumerate(cache.crystal_ids):
            row: list[Any] = [i, crystal, float(cache.targets[i]), float(run.baseline[i, first])]
            for effect in view.effects:
                out = run.outputs[effect.condition]
                row += [float(out[i, first]), float(effect.delta[i])]
            rows.append(row)
        return header, rows
