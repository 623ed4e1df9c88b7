"""Histogram painters for ThemedPlot: alpha distributions with the 0.3 / 0.7 guides.

Counts come from the analysis engine (``Histogram``); this module only draws them.
Guides are labelled in the plot (not only coloured) because they carry meaning:
below 0.3 an atom leans on the text, above 0.7 on the graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from textual_plotext.plot import Plot

from alpha_tui.tui.widgets.plot import Painter, Palette

GUIDES: tuple[float, ...] = (0.3, 0.7)


@dataclass(frozen=True)
class Series:
    label: str
    edges: np.ndarray
    counts: np.ndarray


def axis_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    """Readable tick positions/labels (plotext's own print float noise like
    0.28750000000000003)."""
    if hi <= lo:
        return [lo], [f"{lo:.3g}"]
    if lo == 0.0 and hi == 1.0:
        values = [i / 10 for i in range(11)]
        return values, [f"{v:g}" for v in values]
    span = hi - lo
    digits = max(0, 2 - int(np.floor(np.log10(span))))
    values = np.linspace(lo, hi, 5).tolist()
    return values, [f"{v:.{digits}f}" for v in values]


def _centers(edges: np.ndarray) -> list[float]:
    edges = np.asarray(edges, dtype=float)
    return list(((edges[:-1] + edges[1:]) / 2.0).tolist())


def histogram_painter(
    main: Series,
    *,
    overlay: Series | None = None,
    guides: Sequence[float] = GUIDES,
    xlabel: str = "alpha",
    density: bool = False,
) -> Painter:
    """Bars for ``main``; ``overlay`` as a marked line (distinct marker, not just hue).

    With ``density`` both series are shown as the share of their atoms per bin, so a
    handful of selected atoms can be compared with all atoms.
    """

    def scale(series: Series) -> list[float]:
        counts = np.asarray(series.counts, dtype=float)
        if density and counts.sum() > 0:
            counts = counts / counts.sum()
        return counts.tolist()

    def paint(plt: Plot, palette: Palette) -> None:
        lo, hi = float(main.edges[0]), float(main.edges[-1])
        # Every bin is passed, empty ones too: plotext sizes bars by the spacing of the
        # x values it is given, so dropping empty bins made a lone bar span half the axis.
        values = scale(main)
        plt.bar(
            _centers(main.edges),
            values,
            color=palette.primary,
            width=1.0,
            label=main.label,
            marker="█",
        )
        if overlay is not None:
            points = [
                (c, v)
                for c, v in zip(_centers(overlay.edges), scale(overlay), strict=True)
                if v > 0
            ]
            plt.plot(
                [c for c, _ in points],
                [v for _, v in points],
                color=palette.accent,
                marker="●",
                label=overlay.label,
            )
        shown = [g for g in guides if lo < g < hi]
        for guide in shown:
            plt.vline(guide, color=palette.warning)
        plt.xlim(lo, hi)
        plt.ylim(0, max(max(values, default=0.0), 1e-12) * 1.05)
        plt.xticks(*axis_ticks(lo, hi))
        label = xlabel
        if shown:
            marks = " and ".join(f"{g:g}" for g in shown)
            label = f"{xlabel} · │ guides at {marks}"
        plt.xlabel(label)
        plt.ylabel("share of atoms" if density else "atoms")

    return paint
