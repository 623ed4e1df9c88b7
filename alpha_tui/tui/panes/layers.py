"""Pane 4: how much of the text each layer carries, and which comparisons are valid.

The dimension-diagnostics table lists every (layer, text source) pair with both
shapes, so the seed report's second bug (every layer compared with the 64-wide
text_projection and silently skipped) is a table full of SKIPPED(256≠64), and the
plot says in words that there is nothing to draw instead of showing empty axes.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable, Static
from textual_plotext.plot import Plot

from alpha_tui.analysis.layer_flow import MATCH, LayerFlowRow
from alpha_tui.tui.formatting import fmt_pm
from alpha_tui.tui.panes.base import Pane, Table
from alpha_tui.tui.state import ViewState
from alpha_tui.tui.widgets.plot import Painter, Palette, ThemedPlot


@dataclass(frozen=True)
class LayersView:
    source: str | None
    source_width: int | None
    rows: list[LayerFlowRow]  # rows of the chosen source, forward order
    all_rows: list[LayerFlowRow]  # every (layer, source) pair
    layer_norms: list[float | None]  # per layer, from any matching pair
    n_atoms: int
    n_crystals: int


def short_source(name: str) -> str:
    """ "middle_fusion_modules.layer_2.text_transform" -> "layer_2.text_transform"."""
    return name.removeprefix("middle_fusion_modules.")


def tick_labels(rows: list[LayerFlowRow]) -> list[str]:
    """L1..L8 for the users' layer numbers, F for a fusion module output."""
    labels, k = [], 0
    for row in rows:
        if row.is_fusion:
            labels.append("F")
        else:
            k += 1
            labels.append(f"L{k}")
    return labels


def no_match_message(view: LayersView) -> str:
    widths = sorted({r.layer_width for r in view.rows})
    layer_widths = "/".join(str(w) for w in widths) or "?"
    return (
        f"no layer has width {view.source_width}: nothing to compare — every pair SKIPPED\n"
        f"{view.source} is {view.source_width} wide, the layers are {layer_widths} wide "
        "(press t for a text_transform source)"
    )


def flow_painter(view: LayersView) -> Painter:
    def paint(plt: Plot, palette: Palette) -> None:
        x = list(range(1, len(view.rows) + 1))
        pts = [(i, r) for i, r in zip(x, view.rows, strict=True) if r.cos_mean is not None]
        xs = [i for i, _ in pts]
        mean = [float(r.cos_mean) for _, r in pts]  # type: ignore[arg-type]
        std = [float(r.cos_std or 0.0) for _, r in pts]
        plt.plot(xs, mean, marker="●", color=palette.primary, label="cos mean")
        plt.plot(
            xs,
            [m + s for m, s in zip(mean, std, strict=True)],
            marker="·",
            color=palette.secondary,
            label="± std",
        )
        plt.plot(
            xs, [m - s for m, s in zip(mean, std, strict=True)], marker="·", color=palette.secondary
        )
        nulls = [(i, float(r.null_mean)) for i, r in pts if r.null_mean is not None]
        if nulls:
            plt.plot(
                [i for i, _ in nulls],
                [v for _, v in nulls],
                marker="x",
                color=palette.warning,
                label="null (other crystal's text)",
            )
        for i, row in zip(x, view.rows, strict=True):
            if row.is_fusion:
                plt.vline(i, color=palette.accent)
        plt.xticks(x, tick_labels(view.rows))
        plt.xlim(0.5, len(x) + 0.5)
        plt.title(f"cosine(layer, {view.source}) · F = fusion")

    return paint


def norm_painter(view: LayersView) -> Painter:
    def paint(plt: Plot, palette: Palette) -> None:
        x = list(range(1, len(view.rows) + 1))
        pts = [(i, v) for i, v in zip(x, view.layer_norms, strict=True) if v is not None]
        plt.plot(
            [i for i, _ in pts],
            [float(v) for _, v in pts],
            marker="●",
            color=palette.primary,
            label="‖layer‖",
        )
        text_norms = [r.text_norm_mean for r in view.rows if r.text_norm_mean is not None]
        if text_norms:
            plt.plot(
                x, [float(text_norms[0])] * len(x), marker="x", color=palette.accent, label="‖text‖"
            )
        plt.xticks(x, tick_labels(view.rows))
        plt.xlim(0.5, len(x) + 0.5)
        plt.title("mean L2 norms")

    return paint


class LayersPane(Pane):
    pane_id = "layers"
    title = "Layers"
    key = "4"

    def compose(self) -> ComposeResult:
        yield Static("", id="layers-title", classes="pane-title")
        with Horizontal(id="layers-plots"):
            yield ThemedPlot(id="layers-flow")
            yield ThemedPlot(id="layers-norms")
        table: DataTable[Any] = DataTable(id="layers-table", cursor_type="row")
        yield table

    def on_mount(self) -> None:
        table = self.query_one("#layers-table", DataTable)
        for key, label in (
            ("mark", " "),
            ("label", "layer"),
            ("source", "text source"),
            ("status", "status"),
            # numbers before shapes: at 80 columns the cosines must stay on screen
            ("cos", "cos mean ± std"),
            ("null", "null mean ± std"),
            ("layer_shape", "layer shape"),
            ("text_shape", "text shape"),
            ("layer", "module"),
        ):
            table.add_column(label, key=key)

    def depends(self, state: ViewState) -> Hashable:
        return (state.text_source,)

    def main_widget(self) -> DataTable[Any]:
        return self.query_one("#layers-table", DataTable)

    def compute(self, state: ViewState) -> LayersView:
        s = self.session
        all_rows = s.layer_flow(None)
        source = state.text_source
        rows = [r for r in all_rows if r.text_source == source]
        norms: dict[str, float] = {}
        for r in all_rows:
            if r.layer_norm_mean is not None:
                norms.setdefault(r.layer, r.layer_norm_mean)
        width = s.cache.text_source_width(source) if source is not None else None
        return LayersView(
            source=source,
            source_width=width,
            rows=rows,
            all_rows=all_rows,
            layer_norms=[norms.get(r.layer) for r in rows],
            n_atoms=s.cache.n_atoms,
            n_crystals=s.cache.n_crystals,
        )

    def apply(self, view: LayersView) -> None:
        n_match = sum(r.status == MATCH for r in view.rows)
        title = (
            f"text flow · source {view.source} (width {view.source_width}) · "
            f"{n_match} of {len(view.rows)} layers MATCH · t: next source"
        )
        self.query_one("#layers-title", Static).update(Text(title, style="bold"))
        flow = self.query_one("#layers-flow", ThemedPlot)
        norms = self.query_one("#layers-norms", ThemedPlot)
        if not view.rows:
            flow.show_message("no layers were captured")
        elif n_match == 0:
            flow.show_message(no_match_message(view))
        else:
            flow.paint(flow_painter(view))
        if any(v is not None for v in view.layer_norms):
            norms.paint(norm_painter(view))
        else:
            norms.show_message("no layer norms captured")
        self._fill_table(view)

    def ordered_rows(self, view: LayersView) -> list[LayerFlowRow]:
        chosen = [r for r in view.all_rows if r.text_source == view.source]
        others = [r for r in view.all_rows if r.text_source != view.source]
        return chosen + others

    def _fill_table(self, view: LayersView) -> None:
        table = self.query_one("#layers-table", DataTable)
        table.clear()
        a, c = view.n_atoms, view.n_crystals
        for i, r in enumerate(self.ordered_rows(view)):
            chosen = r.text_source == view.source
            status = Text(r.status_text, style="bold" if r.status == MATCH else "italic")
            table.add_row(
                "▶" if chosen else "",
                r.label,
                short_source(r.text_source),
                status,
                fmt_pm(r.cos_mean, r.cos_std),
                fmt_pm(r.null_mean, r.null_std),
                f"[{a},{r.layer_width}]",
                f"[{c},{r.text_width}]→[{a},{r.text_width}]",
                r.layer,
                key=f"{i}:{r.layer}|{r.text_source}",
            )

    def status_texts(self) -> list[tuple[str, str, str]]:
        """(layer, source, status) of the chosen source as shown; used by tests."""
        view: LayersView = self.view
        return [(r.layer, r.text_source, r.status_text) for r in view.rows]

    def export_table(self) -> Table:
        view: LayersView = self.view
        header = list(view.all_rows[0].to_dict()) if view.all_rows else ["layer"]
        rows = [list(r.to_dict().values()) for r in view.all_rows]
        return header, rows
