"""Pane 2: the alpha distribution under the chosen reduction, and the collapse check.

The variance-collapse panel sits under the histogram on purpose: a narrow
mean-reduced histogram next to "effective dims ≈ H" is the seed report's first bug
made visible, and one `r` press to `max` shows what the mean was hiding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.table import Table as RichTable
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from alpha_tui.analysis.elements import element_symbol
from alpha_tui.analysis.reductions import describe
from alpha_tui.analysis.statistics import AlphaStats, Histogram
from alpha_tui.tui.formatting import fmt, fmt_share, reduction_label
from alpha_tui.tui.panes.base import Pane, Table
from alpha_tui.tui.widgets.histogram import Series, histogram_painter
from alpha_tui.tui.widgets.plot import ThemedPlot
from alpha_tui.tui.widgets.stats_table import StatsTable


@dataclass(frozen=True)
class AlphaView:
    fusion: str
    reduction: str
    hidden: int
    title: str
    description: str
    stats: AlphaStats
    histogram: Histogram
    collapse: Any  # CollapseDiagnostic
    values: np.ndarray


def alpha_title(reduction: str, hidden: int, fusion: str) -> str:
    return f"alpha — {reduction_label(reduction, hidden)} · {fusion}"


VERDICT_MARKS = {
    "artefact": "⚠ ARTEFACT",
    "real": "✓ REAL",
    "no-variation": "∅ NO VARIATION",
    "undetermined": "? TOO FEW",
}


def collapse_renderable(diag: Any) -> RichTable:
    table = RichTable.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row("variance collapse", "", f"does the mean over {diag.hidden} dims hide it?")
    mark = VERDICT_MARKS.get(diag.verdict_kind, diag.verdict_kind)
    table.add_row("verdict", mark, diag.verdict)  # first: visible without scrolling at 80x24
    table.add_row("std across atoms", fmt(diag.atom_std), "√(mean over dims of v_d)")
    table.add_row("mean-reduced std", fmt(diag.mean_reduced_std), "what the users plotted")
    table.add_row("independent expect.", fmt(diag.expected_std), "√(mean v_d / H)")
    table.add_row(
        "effective dims",
        f"{fmt(diag.effective_dims, 1)} of {diag.hidden}",
        "mean v_d / Var(ᾱ): H if independent, 1 if together",
    )
    table.add_row("participation ratio", fmt(diag.participation_ratio, 1), "(Σλ)²/Σλ² over atoms")
    table.add_row(
        "between-dim share", fmt_share(diag.between_dim_share), "of pooled variance: not atoms"
    )
    return table


class AlphaPane(Pane):
    pane_id = "alpha"
    title = "Alpha"
    key = "2"

    #: the CollapseDiagnostic the panel shows (the session memoises one per fusion)
    _collapse_shown: Any = None

    def compose(self) -> ComposeResult:
        yield Static("", id="alpha-title", classes="pane-title")
        yield Static("", id="alpha-describe", classes="pane-subtitle")
        with Horizontal(id="alpha-main"):
            yield ThemedPlot(id="alpha-hist")
            yield StatsTable(id="alpha-stats")
        yield Static("", id="alpha-collapse", classes="panel")

    def compute(self, state: Any) -> AlphaView:
        s = self.session
        hidden = s.cache.hidden_size(state.fusion)
        return AlphaView(
            fusion=state.fusion,
            reduction=state.reduction,
            hidden=hidden,
            title=alpha_title(state.reduction, hidden, state.fusion),
            description=describe(state.reduction),
            stats=s.stats(state.fusion, state.reduction),
            histogram=s.histogram(state.fusion, state.reduction),
            collapse=s.collapse(state.fusion),
            values=s.alpha(state.fusion, state.reduction),
        )

    def apply(self, view: AlphaView) -> None:
        self.query_one("#alpha-title", Static).update(Text(view.title, style="bold"))
        self.query_one("#alpha-describe", Static).update(Text(view.description))
        hist = view.histogram
        label = f"{view.reduction} (n={view.stats.count})"
        plot = self.query_one("#alpha-hist", ThemedPlot)
        if view.stats.count == 0:
            plot.show_message("no finite alpha values for this reduction")
        else:
            plot.paint(
                histogram_painter(Series(label, hist.edges, hist.counts), xlabel=view.reduction)
            )
        self.query_one("#alpha-stats", StatsTable).show_stats(view.stats)
        if view.collapse is not self._collapse_shown:
            # the collapse check depends on the fusion module only: a reduction switch
            # keeps the panel, and its table is not laid out and drawn again
            self.query_one("#alpha-collapse", Static).update(collapse_renderable(view.collapse))
            self._collapse_shown = view.collapse

    def export_table(self) -> Table:
        view: AlphaView = self.view
        cache = self.session.cache
        rows: list[list[Any]] = []
        crystal = np.asarray(cache.atom_crystal)
        z = np.asarray(cache.atomic_numbers)
        for i, value in enumerate(np.asarray(view.values, dtype=float).tolist()):
            c = int(crystal[i])
            rows.append([i, c, cache.crystal_ids[c], int(z[i]), element_symbol(int(z[i])), value])
        header = ["atom", "crystal_index", "crystal_id", "z", "element", f"alpha_{view.reduction}"]
        return header, rows
