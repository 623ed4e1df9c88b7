"""Summary statistics and histograms against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alpha_tui.analysis.statistics import alpha_stats, histogram

pytestmark = pytest.mark.both_lanes  # also run by make test-dgl (torch 2.2, numpy<2)

VALUES = np.arange(1, 101) / 100.0  # 0.01 .. 1.00


def _linear_percentile(sorted_xs: list[float], p: float) -> float:
    pos = p / 100 * (len(sorted_xs) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_xs) - 1)
    return sorted_xs[lo] + (pos - lo) * (sorted_xs[hi] - sorted_xs[lo])


def test_alpha_stats_closed_forms() -> None:
    st = alpha_stats(VALUES)
    n = 100
    assert st.count == n and st.dropped == 0
    assert st.mean == pytest.approx((n + 1) / 2 / 100)
    # population std of 1..n is sqrt((n^2 - 1) / 12)
    assert st.std == pytest.approx(math.sqrt((n * n - 1) / 12) / 100)
    assert (st.min, st.max) == (0.01, 1.0)
    xs = sorted(VALUES.tolist())
    for p in (5, 25, 50, 75, 95):
        assert getattr(st, f"p{p}") == pytest.approx(_linear_percentile(xs, p))
    assert st.p5 == pytest.approx(0.05 + 0.95 * 0.01)
    assert st.text_heavy_share == pytest.approx(29 / 100)  # 0.01..0.29; 0.30 is not < 0.3
    assert st.graph_heavy_share == pytest.approx(30 / 100)  # 0.71..1.00
    d = st.to_dict()
    assert d["count"] == 100 and set(d) >= {"p5", "p95", "text_heavy_share", "graph_heavy_share"}


def test_non_finite_values_are_dropped_and_counted() -> None:
    st = alpha_stats(np.concatenate([VALUES, [np.nan, np.inf, -np.inf]]))
    ref = alpha_stats(VALUES)
    assert st.dropped == 3
    assert st.count == ref.count and st.mean == ref.mean and st.p95 == ref.p95


def test_empty_input_gives_nan_not_crash() -> None:
    st = alpha_stats(np.array([np.nan]))
    assert st.count == 0 and st.dropped == 1
    assert math.isnan(st.mean) and math.isnan(st.text_heavy_share)


def test_histogram_fixed_range_counts() -> None:
    h = histogram(np.array([0.05, 0.15, 0.15, 0.95, np.nan]), bins=10, range=(0.0, 1.0))
    assert h.counts.tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 0, 1]
    np.testing.assert_allclose(h.edges, np.linspace(0, 1, 11))
    assert h.dropped == 1
    assert h.to_dict()["counts"][1] == 2


def test_histogram_data_range_and_empty() -> None:
    h = histogram(np.array([-2.0, 0.0, 2.0]), bins=4)
    assert (h.edges[0], h.edges[-1]) == (-2.0, 2.0)
    assert h.counts.tolist() == [1, 0, 1, 1]  # the last bin is closed
    empty = histogram(np.array([]), bins=5)
    assert empty.counts.sum() == 0 and (empty.edges[0], empty.edges[-1]) == (0.0, 1.0)
