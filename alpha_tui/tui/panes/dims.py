"""Pane 8: what the H gate dimensions do, and how big the text is next to the graph.

Scale balance comes first because it bounds everything else: a gate that is wide
open on a text vector a tenth the size of the node features still adds little.
Then the dims themselves: which are always open or shut (no atom information),
how many directions the rest span (covariance spectrum), an atoms x dims heat map,
and for the highlighted dim (up/down in the table) its histogram and the elements
that open it.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from rich.table import Table as RichTable
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from alpha_tui.analysis.dims import DimDetail, DimStats
from alpha_tui.analysis.scale_balance import QUANTITIES, ScaleBalance
from alpha_tui.tui.formatting import fmt, fmt_count, fmt_share, short_fusion
from alpha_tui.tui.panes.base import Pane, Table
from alpha_tui.tui.state import ViewState
from alpha_tui.tui.widgets.bar_chart import Bar, HBarChart
from alpha_tui.tui.widgets.gate_heat_map import GateHeatMap
from alpha_tui.tui.widgets.spark_histogram import SparkHistogram

SPECTRUM_BARS = 6
HIST_BINS = 32  # fixed, so the picture never depends on when layout happened; fits 80x24


@dataclass(frozen=True)
class DimsView:
    fusion: str
    dims: DimStats
    balance: ScaleBalance


def dims_title(view: DimsView) -> str:
    d, counts = view.dims, view.dims.counts
    return (
        f"{short_fusion(view.fusion)} · H={d.hidden}: {counts['open']} always open, "
        f"{counts['shut']} always shut, {counts['varying']} varying · "
        f"PR {fmt(d.participation_ratio, 1)}"
    )


def equalise_text(balance: ScaleBalance) -> str:
    current = (
        f"{balance.text_scale:.4g}" if balance.text_scale is not None else "none in checkpoint = 1"
    )
    return (
        f"text scale that would equalise norms {fmt_sig(balance.equalising_scale)} (now: {current})"
    )


def fmt_sig(value: float | None) -> str:
    """Three significant digits: norms range from 0.01 to 100 in one table."""
    text = fmt(value)
    return text if text == fmt(None) else f"{float(value):.3g}"  # type: ignore[arg-type]


def balance_renderable(balance: ScaleBalance) -> RichTable:
    table = RichTable(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column("per atom", no_wrap=True)
    for name in ("median", "p5", "p95"):
        table.add_column(name, justify="right", no_wrap=True)
    for key, label in QUANTITIES:
        dist = balance.distribution(key)
        if dist is None:
            table.add_row(label, "not captured", "", "")
        else:
            table.add_row(label, fmt_sig(dist.median), fmt_sig(dist.p5), fmt_sig(dist.p95))
    return table


def spectrum_bars(dims: DimStats) -> list[Bar]:
    total = float(dims.eigenvalues.sum())
    bars = []
    for i, lam in enumerate(dims.eigenvalues[:SPECTRUM_BARS].tolist()):
        share = fmt_share(lam / total) if total > 0 else "—"
        bars.append(Bar(f"λ{i + 1}", lam, share))
    return bars


def detail_lines(detail: DimDetail, hidden: int, top: int = 4) -> list[str]:
    opens = ", ".join(
        f"{e.symbol} {fmt(e.mean, 2)} (n={fmt_count(e.count)})" for e in detail.elements[:top]
    )
    return [
        f"dim {detail.dim} · rank {detail.rank + 1}/{hidden} by mean · {detail.kind}",
        f"μ {fmt(detail.mean, 3)} σ {fmt(detail.std, 3)} "
        f">.95 {fmt_share(detail.open_share)} <.05 {fmt_share(detail.shut_share)}",
        f"opened most by {opens}",
    ]


class DimsPane(Pane):
    pane_id = "dims"
    title = "Dims"
    key = "8"

    def __init__(self, session: Any) -> None:
        super().__init__(session)
        self.detail: DimDetail | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="dims-title", classes="pane-title")
        yield Static("", id="dims-equalise", classes="pane-subtitle")
        with Horizontal(id="dims-top"):
            yield Static("", id="dims-balance")
            yield HBarChart(id="dims-spectrum")
        with Horizontal(id="dims-main"):
            table: DataTable[Any] = DataTable(id="dims-table", cursor_type="row")
            yield table
            with Vertical(id="dims-right"):
                yield GateHeatMap(id="dims-heat")
                yield Static("", id="dims-detail")
                yield SparkHistogram(id="dims-hist")

    def on_mount(self) -> None:
        table = self.query_one("#dims-table", DataTable)
        for key, label in (
            ("dim", "dim"),
            ("mean", "mean"),
            ("std", "std"),
            ("open", ">0.95"),
            ("kind", "kind"),
        ):
            table.add_column(label, key=key)

    def depends(self, state: ViewState) -> Hashable:
        return (state.fusion,)

    def main_widget(self) -> DataTable[Any]:
        return self.query_one("#dims-table", DataTable)

    def compute(self, state: ViewState) -> DimsView:
        s = self.session
        s.dims_heat_map(state.fusion, 1, 1)  # warm the pc1 ranking the heat map paints from
        return DimsView(state.fusion, s.dims(state.fusion), s.scale_balance(state.fusion))

    def apply(self, view: DimsView) -> None:
        self.query_one("#dims-title", Static).update(Text(dims_title(view), style="bold"))
        self.query_one("#dims-equalise", Static).update(Text(equalise_text(view.balance)))
        self.query_one("#dims-balance", Static).update(balance_renderable(view.balance))
        self.query_one("#dims-spectrum", HBarChart).show(
            spectrum_bars(view.dims),
            title="covariance spectrum (share)",
            baseline=0.0,
        )
        session, fusion = self.session, view.fusion
        self.query_one("#dims-heat", GateHeatMap).show(
            lambda rows, cols: session.dims_heat_map(fusion, rows, cols),
            session.cache.atomic_numbers,
        )
        table = self.query_one("#dims-table", DataTable)
        row = table.cursor_row if table.row_count else 0
        table.clear()
        d = view.dims
        for dim in d.order.tolist():
            table.add_row(
                Text(str(dim), justify="right"),
                Text(fmt(d.mean[dim], 3), justify="right"),
                Text(fmt(d.std[dim], 3), justify="right"),
                Text(fmt_share(d.open_share[dim]), justify="right"),
                d.kind[dim],
                key=str(dim),
            )
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1), animate=False)
            self.show_dim(int(d.order[table.cursor_row]))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "dims-table" or self.view is None:
            return
        key = event.row_key.value
        if key is not None:
            self.show_dim(int(key))

    def show_dim(self, dim: int) -> None:
        """Histogram and elements of one dim: cheap (one column), so done on the UI thread."""
        view: DimsView = self.view
        spark = self.query_one("#dims-hist", SparkHistogram)
        self.detail = self.session.dim_detail(view.fusion, dim, bins=HIST_BINS)
        lines = detail_lines(self.detail, view.dims.hidden)
        self.query_one("#dims-detail", Static).update(
            Text("\n".join(lines), no_wrap=True, overflow="ellipsis")
        )
        spark.show(self.detail.histogram)

    def export_table(self) -> Table:
        view: DimsView = self.view
        d = view.dims
        header = ["dim", "rank_by_mean", "mean", "std", "open_share", "shut_share", "kind"]
        rows = [
            [dim, rank, float(d.mean[dim]), float(d.std[dim]), float(d.open_share[dim]),
             float(d.shut_share[dim]), d.kind[dim]]
            for rank, dim in enumerate(d.order.tolist())
        ]  # fmt: skip
        return header, rows
