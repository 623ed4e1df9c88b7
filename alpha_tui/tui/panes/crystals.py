"""Pane 5: one row per crystal, and the atoms of the highlighted one.

`l` / `m` / `h` jump to the crystals with the lowest, median and highest mean alpha:
the extremes are where a claim like "oxides lean on the text" is won or lost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from alpha_tui.analysis.crystals import AtomRow, CrystalSummary
from alpha_tui.checkpoint.assumptions import prediction_assumptions
from alpha_tui.tui.formatting import fmt
from alpha_tui.tui.panes.base import SortablePane, Table
from alpha_tui.tui.row_window import needs_recentre, rows_label, window_start, window_stop
from alpha_tui.tui.state import ViewState

#: most rows the table holds at once; longer sessions show a window of the sorted order
WINDOW = 500
#: a highlight this many rows from a window edge (with more rows behind it) re-centres
MARGIN = 10

#: sort key -> (column label, attribute)
SORTS: dict[str, tuple[str, str]] = {
    "index": ("#", "index"),
    "atoms": ("atoms", "n_atoms"),
    "target": ("target", "target"),
    "prediction": ("prediction", "prediction"),
    "alpha": ("mean α", "mean_alpha"),
}


@dataclass(frozen=True)
class CrystalsView:
    crystals: list[CrystalSummary]
    fusion: str
    reduction: str
    #: ``crystals`` already sorted in the worker, and the (column, reverse) it is sorted by
    ordered: list[CrystalSummary] | None = None
    ordered_by: tuple[str, bool] | None = None


def _sort_value(value: Any) -> tuple[int, float]:
    """Missing / NaN values sort last in either direction."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (1, 0.0)
    return (0, float(value))


def sort_crystals(
    crystals: list[CrystalSummary], column: str, reverse: bool
) -> list[CrystalSummary]:
    attr = SORTS[column][1]
    present = [c for c in crystals if _sort_value(getattr(c, attr))[0] == 0]
    missing = [c for c in crystals if _sort_value(getattr(c, attr))[0] == 1]
    present.sort(key=lambda c: (float(getattr(c, attr)), c.index), reverse=reverse)
    return present + missing


def crystal_cells(c: CrystalSummary) -> tuple[Any, ...]:
    """One table row, in the column order ``on_mount`` declares."""
    return (
        Text(str(c.index), justify="right"),
        c.id,
        Text(fmt(c.mean_alpha), justify="right"),
        Text(fmt(c.target), justify="right"),
        Text(fmt(c.prediction), justify="right"),
        Text(str(c.n_atoms), justify="right"),
        c.formula,
    )


def jump_target(crystals: list[CrystalSummary], which: str) -> int | None:
    """Index of the crystal with the lowest / median / highest mean alpha."""
    ranked = sorted(
        (c for c in crystals if math.isfinite(c.mean_alpha)), key=lambda c: (c.mean_alpha, c.index)
    )
    if not ranked:
        return None
    position = {"lowest": 0, "median": (len(ranked) - 1) // 2, "highest": len(ranked) - 1}[which]
    return ranked[position].index


class CrystalsPane(SortablePane):
    pane_id = "crystals"
    title = "Crystals"
    key = "5"
    SORTS = SORTS
    default_sort = "index"
    sort_table = "crystals-table"

    def __init__(self, session: Any) -> None:
        super().__init__(session)
        self.selected_index: int | None = None
        self.atoms: list[AtomRow] = []
        #: the whole sorted order (the table holds only a window of it) and where each
        #: crystal index sits in it
        self.ordered: list[CrystalSummary] = []
        self._position: dict[int, int] = {}
        self._by_index: dict[int, CrystalSummary] = {}
        self.window_start = 0
        self._title_base: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="crystals-title", classes="pane-title")
        assumed = prediction_assumptions(self.session.cache.meta)
        if assumed:
            # Only when something was assumed: the prediction column means nothing without it.
            yield Static(Text("; ".join(assumed), style="bold yellow"), id="crystals-assumed")
        with Horizontal(id="crystals-main"):
            crystals: DataTable[Any] = DataTable(id="crystals-table", cursor_type="row")
            yield crystals
            atoms: DataTable[Any] = DataTable(id="atoms-table", cursor_type="none")
            yield atoms

    def on_mount(self) -> None:
        table = self.query_one("#crystals-table", DataTable)
        # mean alpha right after the id: it is what the pane sorts and jumps by, and
        # must stay visible when a narrow terminal cuts the table
        table.add_column("#", key="index")
        table.add_column("id", key="id")
        table.add_column("mean α", key="alpha")
        table.add_column("target", key="target")
        table.add_column("prediction", key="prediction")
        table.add_column("atoms", key="atoms")
        table.add_column("formula", key="formula")
        atoms = self.query_one("#atoms-table", DataTable)
        atoms.can_focus = False
        for key, label in (
            ("site", "site"),
            ("element", "el"),
            ("alpha", "alpha"),
            ("injection", "injection"),
        ):
            atoms.add_column(label, key=key)

    def main_widget(self) -> DataTable[Any]:
        return self.query_one("#crystals-table", DataTable)

    def compute(self, state: ViewState) -> CrystalsView:
        crystals = self.session.crystals(state.fusion, state.reduction)
        # sorting 100,000 crystals is felt: do it here, off the UI thread, by the sort
        # in force now (a sort chosen while this runs is redone in _fill_table)
        by = (self.sort_column, self.sort_reverse)
        return CrystalsView(
            crystals=crystals,
            fusion=state.fusion,
            reduction=state.reduction,
            ordered=sort_crystals(crystals, *by),
            ordered_by=by,
        )

    def apply(self, view: CrystalsView) -> None:
        self._by_index = {c.index: c for c in view.crystals}
        if self.selected_index is None and view.crystals:
            # the row the table's cursor starts on, so its highlight asks for nothing
            # new (a second request would cancel the first one's worker)
            self.selected_index = self._sorted(view)[0].index
        self._fill_table(view)
        self._load_atoms()
        self._take_focus_if_dropped()

    def _take_focus_if_dropped(self) -> None:
        """A long session is still computing when its tab opens; the explorer cannot
        focus a pane under its loading cover then, and the arrow keys went nowhere."""
        if self.app.focused is None and getattr(self.screen, "active_pane", None) is self:
            self.main_widget().focus()

    def _sorted(self, view: CrystalsView) -> list[CrystalSummary]:
        by = (self.sort_column, self.sort_reverse)
        if view.ordered is not None and view.ordered_by == by:
            return view.ordered
        return sort_crystals(view.crystals, *by)

    def _fill_table(self, view: CrystalsView) -> None:
        """Sort (or take the worker's sort), then show the window around the selection."""
        self.ordered = self._sorted(view)
        self._position = {c.index: i for i, c in enumerate(self.ordered)}
        self._show_window(self._centre_start(self.selected_index))
        self.label_sort_column(self.query_one("#crystals-table", DataTable))

    def _centre_start(self, index: int | None) -> int:
        position = self._position.get(index, 0) if index is not None else 0
        if not self.ordered:
            return 0
        return window_start(position, len(self.ordered), WINDOW)

    def _show_window(self, start: int) -> None:
        """Put sorted positions start.. into the table, cursor on the selected crystal."""
        table = self.query_one("#crystals-table", DataTable)
        keep = self.selected_index
        self.window_start = start
        table.clear()
        for c in self.ordered[start : window_stop(start, len(self.ordered), WINDOW)]:
            table.add_row(*crystal_cells(c), key=str(c.index))
        if keep is not None and str(keep) in table.rows:
            table.move_cursor(row=table.get_row_index(str(keep)), animate=False)
        self._update_title()

    def _ensure_shown(self, index: int) -> None:
        """Re-centre the window on ``index`` when it is outside it."""
        table = self.query_one("#crystals-table", DataTable)
        if str(index) not in table.rows and index in self._position:
            self._show_window(self._centre_start(index))

    def window_note(self) -> str:
        """'' when every crystal is in the table, else which rows are and in what order."""
        total = len(self.ordered)
        if total <= WINDOW:
            return ""
        stop = window_stop(self.window_start, total, WINDOW)
        label = SORTS[self.sort_column][0]
        order = " descending" if self.sort_reverse else ""
        return f"{rows_label(self.window_start, stop, total)}, sorted by {label}{order}"

    def _update_title(self) -> None:
        if self._title_base is None:
            return
        note = self.window_note()
        title = f"{self._title_base} · {note}" if note else self._title_base
        self.query_one("#crystals-title", Static).update(Text(title, style="bold"))

    # ------------------------------------------------------------- selection
    @on(DataTable.RowHighlighted, "#crystals-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        # the cursor as it is now, not as the event saw it: after a re-centre an event
        # queued before it names a row of the old window
        table = event.data_table
        if table.row_count == 0:
            return
        row = table.cursor_row
        key = table.coordinate_to_cell_key((row, 0)).row_key.value
        if key is None:
            return
        index = int(key)
        changed = index != self.selected_index
        self.selected_index = index
        if needs_recentre(row, self.window_start, table.row_count, len(self.ordered), MARGIN):
            self._show_window(self._centre_start(index))
        if changed:
            self._load_atoms()

    def jump(self, which: str) -> None:
        if self.view is None:
            return
        index = jump_target(self.view.crystals, which)
        if index is None:
            self.app.notify("no crystal has a finite mean alpha", severity="warning")
            return
        table = self.query_one("#crystals-table", DataTable)
        self.selected_index = index
        self._ensure_shown(index)
        table.move_cursor(row=table.get_row_index(str(index)), animate=False)
        self._load_atoms()

    def select_index(self, index: int) -> None:
        """Show crystal ``index`` (another pane asked), whether or not the table is filled."""
        self.selected_index = index
        table = self.query_one("#crystals-table", DataTable)
        self._ensure_shown(index)
        if str(index) in table.rows:
            table.move_cursor(row=table.get_row_index(str(index)), animate=False)
            self._load_atoms()

    def _load_atoms(self) -> None:
        if self.selected_index is None or self.state is None:
            return
        self._compute_atoms(self.state.fusion, self.state.reduction, self.selected_index)

    @work(thread=True, exclusive=True, group="atoms")
    def _compute_atoms(self, fusion: str, reduction: str, index: int) -> tuple[Any, ...]:
        return (fusion, reduction, index), self.session.crystal_atoms(fusion, reduction, index)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "atoms":
            # no super() call: Textual runs Pane's handler itself (one per class in
            # the MRO), and calling it here too painted every view twice
            return
        if event.state != WorkerState.SUCCESS:
            return
        event.stop()
        (fusion, reduction, index), atoms = event.worker.result
        state = self.state
        if state is None or (fusion, reduction, index) != (
            state.fusion,
            state.reduction,
            self.selected_index,
        ):
            return
        self.atoms = atoms
        self._show_atoms(index, atoms)

    def _show_atoms(self, index: int, atoms: list[AtomRow]) -> None:
        table = self.query_one("#atoms-table", DataTable)
        table.clear()
        for a in atoms:
            table.add_row(
                Text(str(a.index), justify="right"),
                a.symbol,
                Text(fmt(a.alpha), justify="right"),
                Text(fmt(a.injection), justify="right"),
            )
        c = self._by_index.get(index)
        if c is not None:
            pred = f" · prediction {fmt(c.prediction)}" if c.prediction is not None else ""
            self._title_base = (
                f"crystal {c.id} · {c.formula} · {c.n_atoms} atoms · target {fmt(c.target)}"
                f"{pred} · mean α {fmt(c.mean_alpha)} · sort a/y/P/n · jump l/m/h"
            )
            self._update_title()

    def export_table(self) -> Table:
        view: CrystalsView = self.view
        header = [
            "index",
            "id",
            "formula",
            "n_atoms",
            "target",
            "prediction",
            f"mean_alpha_{view.reduction}",
        ]
        rows = [
            [c.index, c.id, c.formula, c.n_atoms, c.target, c.prediction, c.mean_alpha]
            for c in sort_crystals(view.crystals, self.sort_column, self.sort_reverse)
        ]
        return header, rows
