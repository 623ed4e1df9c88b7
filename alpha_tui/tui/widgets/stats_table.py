"""The alpha statistics table (AlphaStats), one keyed row per statistic.

Rows are keyed by statistic name so tests and exports can read exactly the cell the
user sees.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import DataTable

from alpha_tui.tui.formatting import fmt, fmt_count, fmt_share

#: (row key, label, AlphaStats attribute, formatter)
ROWS: tuple[tuple[str, str, str, str], ...] = (
    ("count", "atoms", "count", "count"),
    ("mean", "mean", "mean", "num"),
    ("std", "std", "std", "num"),
    ("min", "min", "min", "num"),
    ("p5", "p5", "p5", "num"),
    ("p25", "p25", "p25", "num"),
    ("p50", "median", "p50", "num"),
    ("p75", "p75", "p75", "num"),
    ("p95", "p95", "p95", "num"),
    ("max", "max", "max", "num"),
    ("text_heavy_share", "< 0.3 text-heavy", "text_heavy_share", "share"),
    ("graph_heavy_share", "> 0.7 graph-heavy", "graph_heavy_share", "share"),
)


def stats_cells(stats: Any) -> list[tuple[str, str, str]]:
    """(key, label, formatted value) for every row; also used by the CSV export."""
    out = []
    for key, label, attr, kind in ROWS:
        value = getattr(stats, attr)
        if kind == "count":
            text = fmt_count(value)
        elif kind == "share":
            text = fmt_share(value)
        else:
            text = fmt(value)
        out.append((key, label, text))
    return out


class StatsTable(DataTable):
    DEFAULT_CSS = """
    StatsTable {
        width: 32;
        height: auto;
        max-height: 100%;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True, show_cursor=False)
        self.can_focus = False

    def on_mount(self) -> None:
        self.add_column("statistic", key="label")
        self.add_column("value", key="value")

    def show_stats(self, stats: Any) -> None:
        self.clear()
        for key, label, text in stats_cells(stats):
            self.add_row(label, text, key=key)

    def value(self, key: str) -> str:
        """The text shown in the value column of row ``key``."""
        return str(self.get_cell(key, "value"))
