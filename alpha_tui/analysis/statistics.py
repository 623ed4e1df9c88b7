"""Summary numbers and histograms of one alpha vector.

The shares use the users' figure convention: alpha < 0.3 is labelled "text-heavy" and
alpha > 0.7 "graph-heavy" (they read alpha as the graph's share, e.g. 0.4 = "40 % graph,
60 % text"). Note that in the fusion module ``out = LN(x + alpha * t)`` a *larger* alpha
injects *more* text, so the labels are kept for comparability with their plots, not
because the formula supports them.

Non-finite values (e.g. injection where ||x|| == 0) are dropped and counted in
``dropped`` so nothing disappears silently.
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
    """The finite values as float64 and how many were dropped."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    mask = np.isfinite(v)
    return v[mask], int(v.size - mask.sum())


def alpha_stats(values: np.ndarray) -> AlphaStats:
    """Population statistics (std ddof=0, percentiles with linear interpolation)."""
    v, dropped = finite(values)
    if v.size == 0:
        nan = math.nan
        return AlphaStats(0, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan, dropped)
    p5, p25, p50, p75, p95 = (float(x) for x in np.percentile(v, PERCENTILES, method="linear"))
    return AlphaStats(
        count=int(v.size),
        mean=float(v.mean()),
        std=float(v.std()),
        min=float(v.min()),
        max=float(v.max()),
        p5=p5,
        p25=p25,
        p50=p50,
        p75=p75,
        p95=p95,
        text_heavy_share=float((v < TEXT_HEAVY_BELOW).mean()),
        graph_heavy_share=float((v > GRAPH_HEAVY_ABOVE).mean()),
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
    values: np.ndarray, bins: int = 40, range: tuple[float, float] | None = None
) -> Histogram:
    """np.histogram of the finite values; an empty input gets the (0, 1) range."""
    v, dropped = finite(values)
    if range is None and v.size == 0:
        range = (0.0, 1.0)
    counts, edges = np.histogram(v, bins=bins, range=range)
    return Histogram(edges=edges, counts=counts.astype(np.int64), dropped=dropped)
