"""A histogram in one line of block characters, with its range and peak in words.

For small panels where a plot would not fit: the bar height is the character, so
it reads without colour, and the peak count is printed so the scale is known.
"""

from __future__ import annotations

import numpy as np
from rich.text import Text
from textual.widget import Widget

from alpha_tui.analysis.statistics import Histogram
from alpha_tui.tui.formatting import fmt_count

BLOCKS = " ▁▂▃▄▅▆▇█"


def spark_line(counts: np.ndarray) -> str:
    """One block per bin; any non-empty bin shows at least the lowest block."""
    c = np.asarray(counts, dtype=float)
    peak = c.max() if c.size else 0.0
    if peak <= 0:
        return " " * c.size
    levels = np.ceil(c / peak * (len(BLOCKS) - 1)).astype(int)
    return "".join(BLOCKS[k] for k in levels.tolist())


class SparkHistogram(Widget):
    DEFAULT_CSS = """
    SparkHistogram {
        height: 2;
        width: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._hist: Histogram | None = None

    def show(self, hist: Histogram) -> None:
        self._hist = hist
        self.refresh()

    def render(self) -> Text:
        if self._hist is None:
            return Text("")
        h = self._hist
        lo, hi = float(h.edges[0]), float(h.edges[-1])
        peak = int(np.max(h.counts)) if len(h.counts) else 0
        text = Text(no_wrap=True, overflow="crop")
        text.append(f"{lo:g} ")
        text.append(spark_line(h.counts), style="bold")
        text.append(f" {hi:g}\n")
        text.append(f"{len(h.counts)} bins, tallest {fmt_count(peak)} atoms", style="dim")
        return text
