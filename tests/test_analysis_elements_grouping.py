"""element_stats groups atoms by one stable sort, crystal_summaries converts columns
with one tolist each: every number must be the bits of the per-element computation
it replaced (numpy by hand below)."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import make_cache

from alpha_tui.analysis.crystals import crystal_means, crystal_summaries
from alpha_tui.analysis.elements import element_stats, element_symbol


def by_mask(values: np.ndarray, z: np.ndarray, min_count: int) -> list[tuple]:
    v = np.asarray(values, dtype=np.float64)
    zz = np.asarray(z).astype(np.int64)
    keep = np.isfinite(v)
    v, zz = v[keep], zz[keep]
    rows = []
    for zi in np.unique(zz):
        sel = v[zz == zi]
        if sel.size >= max(min_count, 1):
            rows.append((element_symbol(int(zi)), int(zi), sel.size, sel.mean(), sel.std()))
    return sorted(rows, key=lambda r: (r[3], r[1]))


@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.int64, np.int32])
@pytest.mark.parametrize("min_count", [1, 3, 50])
def test_same_bits_as_one_mask_per_element(dtype, min_count: int) -> None:
    rng = np.random.default_rng(7)
    n = 20_011
    z = rng.integers(1, 95, n).astype(dtype)
    values = rng.random(n) ** 3
    values[rng.integers(0, n, 300)] = np.nan
    values[rng.integers(0, n, 10)] = np.inf
    got = [(e.symbol, e.z, e.count, e.mean, e.std) for e in element_stats(values, z, min_count)]
    assert got == by_mask(values, z, min_count)  # exact equality: floats compared bit for bit


def test_no_finite_value_gives_no_element() -> None:
    assert element_stats(np.array([np.nan, np.inf]), np.array([1, 2], np.int16)) == []
    assert element_stats(np.array([]), np.array([], np.int16)) == []


def test_crystal_summaries_keep_the_numbers_of_one_conversion_per_crystal() -> None:
    cache = make_cache(seed=4)
    rng = np.random.default_rng(1)
    values = rng.random(cache.n_atoms)
    values[0] = np.nan
    means = crystal_means(values, cache.atom_crystal, cache.n_crystals)
    got = crystal_summaries(cache, values)
    assert len(got) == cache.n_crystals
    for c, row in enumerate(got):
        assert row.index == c and row.id == cache.crystal_ids[c]
        assert row.formula == cache.formulas[c]
        assert row.n_atoms == int(cache.atom_counts[c])
        assert type(row.n_atoms) is int and type(row.target) is float
        assert row.target == float(cache.targets[c]) or np.isnan(row.target)
        same = row.mean_alpha == float(means[c])
        assert same or (np.isnan(row.mean_alpha) and np.isnan(means[c]))
        pred = cache.predictions
        assert row.prediction == (None if pred is None else float(pred[c]))
