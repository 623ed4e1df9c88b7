"""Pane 6: does a crystal's mean alpha follow its target, and its size?

Size groups are shown next to the scatter because a crystal mean over few atoms is
noisier: a trend carried by the smallest crystals is a size effect, not chemistry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static
from textual_plotext.plot import Plot

from alpha_tui.analysis.correlations import (
    SIZE_GROUPS,
    AlphaTargetCorrelation,
    size_group_index,
)
from alpha_tui.tui.formatting import fmt, fmt_count
from alpha_tui.tui.panes.base import Pane, Table
from alpha_tui.tui.state import ViewState
from alpha_tui.tui.widgets.bar_chart import Bar, HBarChart
from alpha_tui.tui.widgets.plot import Painter, Palette, ThemedPlot


@dataclass(frozen=True)
class CorrelationsView:
    corr: AlphaTargetCorrelation
    reduction: str
    atom_counts: np.ndarray


def r_text(corr: AlphaTargetCorrelation) -> str:
    if corr.pearson_r is None:
        return f"Pearson r = n/a (n={corr.n}: needs ≥ 3 finite pairs with spread)"
    return f"Pearson r = {corr.pearson_r:+.3f} (n={corr.n})"


def size_label(n_atoms: int) -> str:
    return SIZE_GROUPS[size_group_index(n_atoms)]


def scatter_painter(view: CorrelationsView) -> Painter:
    corr = view.corr

    def paint(plt: Plot, palette: Palette) -> None:
        mask = corr.mask
        x = np.asarray(corr.crystal_alpha)[mask].tolist()
        y = np.asarray(corr.targets)[mask].tolist()
        plt.scatter(x, y, marker="●", color=palette.primary, label="crystal")
        plt.xlabel(f"mean alpha ({view.reduction})")
        plt.ylabel("target")
        plt.title(r_text(corr))

    return paint


def bar_baseline(groups: list[Any]) -> float:
    """Where the bars start: just under the lowest mean - std, so group differences of
    a few thousandths stay visible (the title states the baseline)."""
    lows = [float(g.mean) - float(g.std or 0.0) for g in groups if g.mean is not None]
    if not lows:
        return 0.0
    low = min(lows)
    highs = [float(g.mean) for g in groups if g.mean is not None]
    pad = 0.1 * max(max(highs) - low, 1e-3)
    return float(max(0.0, low - pad)) if low >= 0 else low - pad


class CorrelationsPane(Pane):
    pane_id = "correlations"
    title = "Correlations"
    key = "6"

    def compose(self) -> ComposeResult:
        yield Static("", id="corr-title", classes="pane-title")
        with Horizontal(id="corr-main"):
            yield ThemedPlot(id="corr-scatter")
            with Vertical(id="corr-side"):
                yield HBarChart(id="corr-groups")
                table: DataTable[Any] = DataTable(id="corr-table", cursor_type="none")
                yield table

    def on_mount(self) -> None:
        table = self.query_one("#corr-table", DataTable)
        table.can_focus = False
        for key, label in (
            ("group", "atoms"),
            ("count", "crystals"),
            ("mean", "mean α"),
            ("std", "std"),
        ):
            table.add_column(label, key=key)

    def compute(self, state: ViewState) -> CorrelationsView:
        return CorrelationsView(
            corr=self.session.correlation(state.fusion, state.reduction),
            reduction=state.reduction,
            atom_counts=np.asarray(self.session.cache.atom_counts),
        )

    def apply(self, view: CorrelationsView) -> None:
        title = f"alpha vs target · {r_text(view.corr)} · reduction {view.reduction}"
        self.query_one("#corr-title", Static).update(Text(title, style="bold"))
        scatter = self.query_one("#corr-scatter", ThemedPlot)
        if int(view.corr.mask.sum()) == 0:
            scatter.show_message("no crystal has both a finite mean alpha and a known target")
        else:
            scatter.paint(scatter_painter(view))
        groups = view.corr.size_groups
        bars = [Bar(g.label, g.mean, f"({g.count})") for g in groups]
        self.query_one("#corr-groups", HBarChart).show(
            bars,
            title="mean alpha by atoms per crystal (crystals)",
            baseline=bar_baseline(groups),
        )
        table = self.query_one("#corr-table", DataTable)
        table.clear()
        for g in view.corr.size_groups:
            table.add_row(
                g.label,
                Text(fmt_count(g.count), justify="right"),
                Text(fmt(g.mean), justify="right"),
                Text(fmt(g.std), justify="right"),
                key=g.label,
            )

    def export_table(self) -> Table:
        view: CorrelationsView = self.view
        cache = self.session.cache
        header = ["index", "id", "n_atoms", "size_group", f"mean_alpha_{view.reduction}", "target"]
        alpha = np.asarray(view.corr.crystal_alpha).tolist()
        targets = np.asarray(view.corr.targets).tolist()
        rows = []
        for i, (a, t) in enumerate(zip(alpha, targets, strict=True)):
            n = int(view.atom_counts[i])
            rows.append([i, cache.crystal_ids[i], n, size_label(n), a, t])
        return header, rows
