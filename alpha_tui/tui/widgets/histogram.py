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
    if not np.isfinite(hi - lo):
        return [lo, hi], [f"{lo:.3g}", f"{hi:.3g}"]
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


def bin_position(value: float, lo: float, hi: float, n_bins: int) -> float:
    """Where ``value`` falls on an axis that counts bins (0 .. n_bins).

    The plot is drawn in bin units and only the tick labels carry the data's values:
    plotext maps data to cells with float arithmetic that hangs on a span of 1e-12
    (it draws a line of 10^12 points) and divides by zero on a single-value axis.
    """
    span = hi - lo
    if not (np.isfinite(span) and span > 0):
        return n_bins / 2.0
    return (value - lo) / span * n_bins


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
    handful of selected atoms can be compared with all atoms. The y range covers both
    series: plotext drops points above it, and a labelled series left with no point
    crashes its legend drawing (a rare selected element concentrates its atoms in a
    few bins, so its shares exceed every share of all atoms).
    """

    def scale(series: Series) -> list[float]:
        counts = np.asarray(series.counts, dtype=float)
        if density and counts.sum() > 0:
            counts = counts / counts.sum()
        return counts.tolist()

    def paint(plt: Plot, palette: Palette) -> None:
        lo, hi = float(main.edges[0]), float(main.edges[-1])
        n_bins = max(len(main.counts), 1)
        # Every bin is passed, empty ones too: plotext sizes bars by the spacing of the
        # x values it is given, so dropping empty bins made a lone bar span half the axis.
        values = scale(main)
        plt.bar(
            [i + 0.5 for i in range(len(values))],
            values,
            color=palette.primary,
            width=1.0,
            label=main.label,
            marker="█",
        )
        top = max(values, default=0.0)
        if overlay is not None:
            points = [
                (x, v)
                for c, v in zip(_centers(overlay.edges), scale(overlay), strict=True)
                if v > 0 and 0.0 <= (x := bin_position(c, lo, hi, n_bins)) <= n_bins
            ]
            # An overlay with no point (no finite value among the selected atoms) is left
            # out rather than drawn empty: plotext cannot draw the legend of an empty series.
            if points:
                plt.plot(
                    [x for x, _ in points],
                    [v for _, v in points],
                    color=palette.accent,
                    marker="●",
                    label=overlay.label,
                )
                top = max(top, max(v for _, v in points))
        shown = [g for g in guides if lo < g < hi]
        for guide in shown:
            plt.vline(bin_position(guide, lo, hi, n_bins), color=palette.warning)
        plt.xlim(0, n_bins)
        plt.ylim(0, max(top, 1e-12) * 1.05)
        ticks, tick_labels = axis_ticks(lo, hi)
        plt.xticks([bin_position(t, lo, hi, n_bins) for t in ticks], tick_labels)
        label = xlabel
        if shown:
            marks = " and ".join(f"{g:g}" for g in shown)
            label = f"{xlabel} · │ guides at {marks}"
        plt.xlabel(label)
        plt.ylabel("share of atoms" if density else "atoms")

    return paint
