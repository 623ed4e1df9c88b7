"""Alpha vs target: Pearson r against numpy, size groups at their boundaries."""

from __future__ import annotations

import statistics

import numpy as np
import pytest

from alpha_tui.analysis.correlations import (
    SIZE_GROUPS,
    alpha_target_correlation,
    pearson_r,
)

pytestmark = pytest.mark.both_lanes  # also run by make test-dgl (torch 2.2, numpy<2)


def test_pearson_matches_corrcoef_and_ignores_nan_targets() -> None:
    rng = np.random.default_rng(11)
    a = rng.uniform(0.3, 0.5, 40)
    t = 3 * a + rng.normal(0, 0.05, 40)
    t[[3, 17]] = np.nan
    res = alpha_target_correlation(a, t, np.full(40, 8))
    keep = np.isfinite(t)
    assert res.n == 38
    assert res.pearson_r == pytest.approx(np.corrcoef(a[keep], t[keep])[0, 1], abs=1e-12)
    assert res.mask.tolist() == keep.tolist()
    assert res.crystal_alpha.shape == (40,) and np.isnan(res.targets[3])


def test_pearson_undefined_cases() -> None:
    assert pearson_r([0.1, 0.2], [1.0, 2.0]) is None  # < 3 pairs
    assert pearson_r([0.1, 0.2, np.nan, 0.4], [1.0, 2.0, 3.0, np.nan]) is None
    assert pearson_r([0.3, 0.3, 0.3], [1.0, 2.0, 3.0]) is None  # zero variance
    assert pearson_r([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]) == pytest.approx(-1.0)


def test_size_group_boundaries() -> None:
    sizes = np.array([9, 10, 19, 20, 49, 50, 99, 100, 101])
    alpha = np.array([0.1, 0.2, 0.4, 0.3, 0.5, 0.6, 0.8, 0.7, 0.9])
    res = alpha_target_correlation(alpha, np.arange(9.0), sizes)
    groups = {g.label: g for g in res.size_groups}
    assert [g.label for g in res.size_groups] == list(SIZE_GROUPS)
    expected = {
        "<10": [0.1],
        "10-20": [0.2, 0.4],
        "20-50": [0.3, 0.5],
        "50-100": [0.6, 0.8],
        ">100": [0.7, 0.9],  # 100 atoms belongs to [100, inf)
    }
    for label, vals in expected.items():
        g = groups[label]
        assert g.count == len(vals)
        assert g.mean == pytest.approx(statistics.fmean(vals))
        assert g.std == pytest.approx(statistics.pstdev(vals))


def test_empty_size_group_has_no_numbers() -> None:
    res = alpha_target_correlation(np.array([0.2, np.nan]), np.array([1.0, 2.0]), np.array([5, 30]))
    groups = {g.label: g for g in res.size_groups}
    assert groups["<10"].count == 1
    assert groups["20-50"].count == 0 and groups["20-50"].mean is None  # NaN alpha only
    assert groups[">100"].std is None
    assert res.pearson_r is None and res.n == 1
    assert res.to_dict()["size_groups"][0]["label"] == "<10"
