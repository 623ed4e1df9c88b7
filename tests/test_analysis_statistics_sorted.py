"""The one-sort statistics equal numpy's own percentile and histogram, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from alpha_tui.analysis.statistics import (
    PERCENTILES,
    alpha_stats,
    histogram,
    linear_percentiles,
    sorted_values,
)

pytestmark = pytest.mark.both_lanes  # numpy 1.26 in the DGL lane: the same formula


def _samples():
    rng = np.random.default_rng(11)
    for n in (1, 2, 3, 4, 5, 7, 10, 19, 20, 21, 99, 100, 101, 1000, 4097):
        yield rng.random(n)
        yield rng.integers(0, 4, n).astype(np.float64) / 4  # ties and values on edges
        yield rng.normal(size=n) * 1e3


@pytest.mark.parametrize("percents", [PERCENTILES, (0, 100), (0.1, 33.3, 66.7, 99.9)])
def test_percentiles_equal_numpy_bit_for_bit(percents):
    for v in _samples():
        expected = np.percentile(v, percents, method="linear")
        np.testing.assert_array_equal(linear_percentiles(np.sort(v), percents), expected)


def test_stats_equal_the_unsorted_formulas():
    for v in _samples():
        st = alpha_stats(v)
        p = np.percentile(v, PERCENTILES, method="linear")
        assert (st.p5, st.p25, st.p50, st.p75, st.p95) == tuple(float(x) for x in p)
        assert (st.min, st.max, st.mean, st.std) == (v.min(), v.max(), v.mean(), v.std())
        assert st.text_heavy_share == (v < 0.3).mean()
        assert st.graph_heavy_share == (v > 0.7).mean()


@pytest.mark.parametrize("bins", [1, 4, 10, 40])
@pytest.mark.parametrize("rng_", [None, (0.0, 1.0), (0.25, 0.75), (-3.0, 3.0)])
def test_histogram_counts_equal_numpy(bins, rng_):
    for v in _samples():
        counts, edges = np.histogram(v, bins=bins, range=rng_)
        h = histogram(v, bins=bins, range=rng_)
        np.testing.assert_array_equal(h.edges, edges)
        np.testing.assert_array_equal(h.counts, counts)


def test_constant_and_non_finite_inputs():
    v = np.array([0.5, 0.5, np.nan, np.inf, 0.5])
    counts, edges = np.histogram([0.5, 0.5, 0.5], bins=5)  # widened to (0, 1)
    h = histogram(v, bins=5)
    np.testing.assert_array_equal(h.edges, edges)
    np.testing.assert_array_equal(h.counts, counts)
    assert h.dropped == 2 and alpha_stats(v).dropped == 2 and alpha_stats(v).p50 == 0.5


def test_sorted_values_are_shared_not_recomputed():
    v = np.random.default_rng(2).random(50)
    sv = sorted_values(v)
    assert sorted_values(sv) is sv
    assert alpha_stats(sv) == alpha_stats(v)
    assert histogram(sv, 8).counts.tolist() == histogram(v, 8).counts.tolist()
