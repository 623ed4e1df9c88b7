"""Pane 3: alpha per element, with a minimum-count filter and a periodic-table map.

Selected elements (space) are drawn against all atoms as shares per bin, so a rare
element's distribution is comparable with the whole dataset's.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import CellDoesNotExist

from alpha_tui.analysis.elements import ElementStat, atomic_number, element_symbol
from alpha_tui.analysis.statistics import Histogram, histogram
from alpha_tui.tui.formatting import fmt, fmt_count
from alpha_tui.tui.panes.base import SortablePane, Table
from alpha_tui.tui.state import ViewState
from alpha_tui.tui.widgets.histogram import Series, histogram_painter
from alpha_tui.tui.widgets.periodic_table import ElementCell, PeriodicTable
from alpha_tui.tui.widgets.plot import ThemedPlot

#: sort key -> (column label, ElementStat attribute)
SORTS: dict[str, tuple[str, str]] = {
    "z": ("element", "z"),
    "count": ("count", "count"),
    "mean": ("mean", "mean"),
    "std": ("std", "std"),
}
ALL_SYMBOLS = {z: element_symbol(z) for z in range(1, 119)}


@dataclass(frozen=True)
class ElementsView:
    elements: list[ElementStat]
    total_elements: int
    selected: frozenset[str]
    all_hist: Histogram
    selected_hist: Histogram | None
    selected_atoms: int
    reduction: str
    min_count: int


class MinCountChanged(Message):
    """The user typed a new minimum count; the screen owns the state."""

    def __init__(self, value: int) -> None:
        super().__init__()
        self.value = value


def symbol_z(symbol: str) -> int:
    """Z of a shown symbol, including element_symbol's "Z<n>" form for unknown Z, so an
    odd atomic number in a cache can still be selected."""
    if symbol.startswith("Z") and symbol[1:].isdigit():
        return int(symbol[1:])
    return atomic_number(symbol)


def sort_elements(elements: list[ElementStat], column: str, reverse: bool) -> list[ElementStat]:
    attr = SORTS[column][1]
    return sorted(elements, key=lambda e: (getattr(e, attr), e.z), reverse=reverse)


class ElementsPane(SortablePane):
    pane_id = "elements"
    title = "Elements"
    key = "3"
    SORTS = SORTS
    default_sort = "mean"
    sort_table = "elements-table"

    def compose(self) -> ComposeResult:
        with Horizontal(id="elements-controls"):
            yield Static("min count (+/-): ", id="min-count-label")
            yield Input(value="1", id="min-count", type="integer", compact=True)
            yield Static("", id="elements-summary")
        with Horizontal(id="elements-main"):
            table: DataTable[Any] = DataTable(id="elements-table", cursor_type="row")
            yield table
            yield ThemedPlot(id="elements-hist")
        yield PeriodicTable(id="elements-periodic")

    def on_mount(self) -> None:
        table = self.query_one("#elements-table", DataTable)
        table.add_column("sel", key="sel", width=3)
        table.add_column("element", key="z")
        table.add_column("count", key="count")
        table.add_column("mean", key="mean")
        table.add_column("std", key="std")

    def depends(self, state: ViewState) -> Hashable:
        return (state.fusion, state.reduction, state.min_count, state.selected_elements)

    def main_widget(self) -> DataTable[Any]:
        return self.query_one("#elements-table", DataTable)

    def compute(self, state: ViewState) -> ElementsView:
        s = self.session
        every = s.elements(state.fusion, state.reduction, 1)
        elements = [e for e in every if e.count >= max(int(state.min_count), 1)]
        all_hist = s.histogram(state.fusion, state.reduction)
        selected_hist = None
        n_selected = 0
        if state.selected_elements:
            values = np.asarray(s.alpha(state.fusion, state.reduction))
            zs = [symbol_z(sym) for sym in state.selected_elements]
            mask = np.isin(np.asarray(s.cache.atomic_numbers), zs)
            n_selected = int(mask.sum())
            edges = all_hist.edges
            selected_hist = histogram(
                values[mask], bins=len(all_hist.counts), range=(float(edges[0]), float(edges[-1]))
            )
        return ElementsView(
            elements=elements,
            total_elements=len(every),
            selected=state.selected_elements,
            all_hist=all_hist,
            selected_hist=selected_hist,
            selected_atoms=n_selected,
            reduction=state.reduction,
            min_count=state.min_count,
        )

    def apply(self, view: ElementsView) -> None:
        self._fill_table(view)
        min_input = self.query_one("#min-count", Input)
        if not min_input.has_focus and min_input.value != str(view.min_count):
            min_input.value = str(view.min_count)
        summary = (
            f"  {len(view.elements)} of {view.total_elements} elements shown · "
            f"{len(view.selected)} selected (space) · sort: n/c/a/d"
        )
        self.query_one("#elements-summary", Static).update(summary)
        plot = self.query_one("#elements-hist", ThemedPlot)
        main = Series("all atoms", view.all_hist.edges, view.all_hist.counts)
        if view.selected_hist is not None:
            label = f"{'+'.join(sorted(view.selected))} ({view.selected_atoms} atoms)"
            overlay = Series(label, view.selected_hist.edges, view.selected_hist.counts)
            plot.paint(
                histogram_painter(main, overlay=overlay, density=True, xlabel=view.reduction)
            )
        else:
            plot.paint(histogram_painter(main, xlabel=view.reduction))
        cells = [ElementCell(e.symbol, e.z, e.mean, e.count) for e in view.elements]
        self.query_one("#elements-periodic", PeriodicTable).show(
            cells, symbols=ALL_SYMBOLS, selected=view.selected
        )

    def _fill_table(self, view: ElementsView) -> None:
        table = self.query_one("#elements-table", DataTable)
        current = self.cursor_symbol()
        table.clear()
        for e in sort_elements(view.elements, self.sort_column, self.sort_reverse):
            table.add_row(
                "✓" if e.symbol in view.selected else "",
                e.symbol,
                Text(fmt_count(e.count), justify="right"),
                Text(fmt(e.mean), justify="right"),
                Text(fmt(e.std), justify="right"),
                key=e.symbol,
            )
        self.label_sort_column(table)
        if current is not None and current in table.rows:
            table.move_cursor(row=table.get_row_index(current), animate=False)

    def cursor_symbol(self) -> str | None:
        table = self.query_one("#elements-table", DataTable)
        if table.row_count == 0:
            return None
        try:
            row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return None if row_key.value is None else str(row_key.value)

    @on(Input.Submitted, "#min-count")
    def _min_count_submitted(self, event: Input.Submitted) -> None:
        try:
            value = max(1, int(event.value))
        except ValueError:
            self.app.notify("min count must be a whole number ≥ 1", severity="warning")
            return
        self.post_message(MinCountChanged(value))
        self.main_widget().focus()

    def export_table(self) -> Table:
        view: ElementsView = self.view
        rows = [
            [e.symbol, e.z, e.count, e.mean, e.std, e.symbol in view.selected]
            for e in sort_elements(view.elements, self.sort_column, self.sort_reverse)
        ]
        header = ["element", "z", "count", f"mean_{view.reduction}", "std", "selected"]
        return header, rows
