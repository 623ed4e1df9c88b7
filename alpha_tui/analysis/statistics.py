"""Summary numbers and histograms of one alpha vector.

The shares use the users' figure convention: alpha < 0.3 is labelled "text-heavy" and
alpha > 0.7 "graph-heavy" (they read alpha as the graph's share, e.g. 0.4 = "40 % graph,
60 % text"). Note that in the fusion module ``out = LN(x + alpha * t)`` a *larger* alpha
injects *more* text, so the labels are kept for comparability with their plots, not
because the formula supports them.

Non-finite values (e.g. injection where ||x|| == 0) are dropped and counted in
``dropped`` so nothing disappears silently.

Speed (10^6 atoms, a reduction switch): one sort serves every order statistic, the
shares and the histogram (a binary search per bin edge), instead of a partition per
percentile pair and a binning pass; the sorted values are computed once per vector
(``sorted_values``) when both the statistics and the histogram are shown. Percentiles
follow numpy's ``method="linear"`` formula step by step, so they equal
``np.percentile`` bit for bit, and the counts equal ``np.histogram``'s (tests check both).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

TEXT_HEAVY_BELOW = 0.3
GRAPH_HEAVY_ABOVE = 0.7
PERCENTILES = (5, 25, 50, 75, 95)


@dataclass(frozen=True)
class AlphaStats:
    count: int
    mean: float
    std: float
    min: float
    max: float
    p5: float
    p25: float
    p50: float
    p75: float
    p95: float
    text_heavy_share: float
    graph_heavy_share: float
    dropped: int = 0  # non-finite values left out of every number above

    def to_dict(self) -> dict:
        return asdict(self)


def finite(values: np.ndarray) -> tuple[np.ndarray, int]:
    """The finite values as float64 and how many were dropped (no copy when none is)."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    mask = np.isfinite(v)
    kept = int(np.count_nonzero(mask))
    return (v if kept == v.size else v[mask]), int(v.size - kept)


@dataclass(frozen=True)
class SortedValues:
    """The finite values of one vector, as given and sorted, and how many were dropped."""

    values: np.ndarray  # finite, original order: the mean and std sum in this order
    ordered: np.ndarray  # the same, ascending
    dropped: int


def sorted_values(values: np.ndarray | SortedValues) -> SortedValues:
    if isinstance(values, SortedValues):
        return values
    v, dropped = finite(values)
    return SortedValues(values=v, ordered=np.sort(v), dropped=dropped)


def linear_percentiles(ordered: np.ndarray, percents: tuple[float, ...]) -> np.ndarray:
    """np.percentile(..., method="linear") of sorted, non-empty values, step for step."""
    n = ordered.size
    virtual = (n - 1) * np.true_divide(np.asarray(percents, dtype=np.float64), 100)
    previous = np.floor(virtual)
    following = previous + 1
    last = virtual >= n - 1
    previous[last] = -1
    following[last] = -1
    below = previous.astype(np.intp)
    above = following.astype(np.intp)
    gamma = np.asarray(virtual - previous, dtype=virtual.dtype)
    a, b = ordered[below], ordered[above]
    diff = b - a
    out = a + diff * gamma
    np.subtract(b, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return out


def alpha_stats(values: np.ndarray | SortedValues) -> AlphaStats:
    """Population statistics (std ddof=0, percentiles with linear interpolation)."""
    sv = sorted_values(values)
    v, ordered, dropped = sv.values, sv.ordered, sv.dropped
    if v.size == 0:
        nan = math.nan
        return AlphaStats(0, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, dropped)
    p5, p25, p50, p75, p95 = (float(x) for x in linear_percentiles(ordered, PERCENTILES))
    n = ordered.size
    below = int(np.searchsorted(ordered, TEXT_HEAVY_BELOW, side="left"))
    above = n - int(np.searchsorted(ordered, GRAPH_HEAVY_ABOVE, side="right"))
    return AlphaStats(
        count=int(n),
        mean=float(v.mean()),
        std=float(v.std()),
        min=float(ordered[0]),
        max=float(ordered[-1]),
        p5=p5,
        p25=p25,
        p50=p50,
        p75=p75,
        p95=p95,
        text_heavy_share=below / n,
        graph_heavy_share=above / n,
        dropped=dropped,
    )


@dataclass(frozen=True)
class Histogram:
    edges: np.ndarray  # [bins + 1]
    counts: np.ndarray  # [bins] int64
    dropped: int = 0  # non-finite values not binned

    def to_dict(self) -> dict:
        return {
            "edges": [float(x) for x in self.edges],
            "counts": [int(x) for x in self.counts],
            "dropped": self.dropped,
        }


def histogram(
    values: np.ndarray | SortedValues, bins: int = 40, range: tuple[float, float] | None = None
) -> Histogram:
    """np.histogram of the finite values; an empty input gets the (0, 1) range.

    Bin i holds edges[i] <= x < edges[i+1] (the last one includes its right edge), as
    np.histogram assigns them; counted by binary search in the sorted values.
    """
    sv = sorted_values(values)
    ordered = sv.ordered
    if range is None and ordered.size == 0:
        range = (0.0, 1.0)
    if range is None:
        range = (float(ordered[0]), float(ordered[-1]))
    edges = np.histogram_bin_edges(ordered[:0], bins=bins, range=range)
    left = np.searchsorted(ordered, edges, side="left")
    left[-1] = np.searchsorted(ordered, edges[-1], side="right")
    counts = np.diff(left).astype(np.int64)
    return Histogram(edges=edges, counts=counts, dropped=sv.dropped)
