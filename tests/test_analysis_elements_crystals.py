"""Per-element and per-crystal views on small crafted sets."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from synthetic import tiny_cache

from alpha_tui.analysis.crystals import crystal_atoms, crystal_means, crystal_summaries
from alpha_tui.analysis.elements import atomic_number, element_stats, element_symbol
from alpha_tui.errors import UserError

pytestmark = pytest.mark.both_lanes  # also run by make test-dgl (torch 2.2, numpy<2)


def test_symbol_table_matches_jarvis_for_all_103_elements() -> None:
    specie = pytest.importorskip("jarvis.core.specie")
    for z in range(1, 104):
        sym = element_symbol(z)
        assert specie.Specie(sym).Z == z
        assert atomic_number(sym) == z
    assert element_symbol(0) == "Z0" and element_symbol(104) == "Z104"
    with pytest.raises(ValueError):
        atomic_number("Xx")


def test_element_stats_grouping_sorting_and_min_count() -> None:
    values = np.array([0.1, 0.2, 0.3, 0.5, 0.7, 0.9, np.nan, 0.05])
    z = np.array([8, 8, 8, 14, 14, 31, 31, 38])
    stats = element_stats(values, z)
    assert [s.symbol for s in stats] == ["Sr", "O", "Si", "Ga"]  # ascending mean
    o = stats[1]
    assert (o.z, o.count) == (8, 3)
    assert o.mean == pytest.approx(0.2)
    assert o.std == pytest.approx(statistics.pstdev([0.1, 0.2, 0.3]))
    si = stats[2]
    assert (si.count, si.mean, si.std) == (2, pytest.approx(0.6), pytest.approx(0.1))
    ga = stats[3]
    assert ga.count == 1 and ga.std == 0.0  # the NaN atom of Ga is not counted
    kept = element_stats(values, z, min_count=2)
    assert [s.symbol for s in kept] == ["O", "Si"]
    assert element_stats(values, z, min_count=50) == []


def _cache():
    # crystals of 2, 3 and 1 atoms, H = 4
    gates = np.array(
        [
            [0.5, 0.5, 0.5, 0.5],
            [1.0, 0.0, 0.0, 0.0],
            [0.25, 0.25, 0.25, 0.25],
            [0.0, 1.0, 0.0, 1.0],
            [0.5, 0.0, 0.5, 0.0],
            [1.0, 1.0, 1.0, 1.0],
        ]
    )
    text = np.array([[2.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 3.0, 4.0]])
    return tiny_cache(
        atom_counts=[2, 3, 1],
        atomic_numbers=[31, 33, 11, 17, 17, 14],
        gates=gates,
        text_transform=text,
        fusion_input_norm=np.array([1.0, 2.0, 0.5, 1.0, 0.0, 10.0]),
        targets=[1.5, np.nan, 3.0],
    )


def test_crystal_summaries_and_means() -> None:
    cache = _cache()
    values = np.array([0.2, 0.4, 0.1, 0.2, 0.6, np.nan])
    rows = crystal_summaries(cache, values)
    assert [r.index for r in rows] == [0, 1, 2]
    assert [r.id for r in rows] == cache.crystal_ids
    assert [r.n_atoms for r in rows] == [2, 3, 1]
    assert rows[0].mean_alpha == pytest.approx(0.3)
    assert rows[1].mean_alpha == pytest.approx(0.3)
    assert math.isnan(rows[2].mean_alpha)  # its only atom is NaN
    assert rows[0].target == 1.5 and math.isnan(rows[1].target)
    assert rows[0].prediction is None  # the cache has no predictions
    np.testing.assert_allclose(crystal_means(values, cache.atom_crystal, 3)[:2], [0.3, 0.3])


def test_crystal_atoms_rows_with_injection() -> None:
    cache = _cache()
    fusion = cache.fusion_modules[0]
    values = np.array([0.2, 0.4, 0.1, 0.2, 0.6, 0.9])
    rows = crystal_atoms(cache, fusion, values, 1)
    assert [r.index for r in rows] == [0, 1, 2]
    assert [r.global_index for r in rows] == [2, 3, 4]
    assert [r.symbol for r in rows] == ["Na", "Cl", "Cl"]
    assert [r.alpha for r in rows] == pytest.approx([0.1, 0.2, 0.6])
    # text of crystal 1 is all ones: ||alpha * t|| = ||alpha||
    assert rows[0].injection == pytest.approx(math.sqrt(4 * 0.25**2) / 0.5)
    assert rows[1].injection == pytest.approx(math.sqrt(2.0) / 1.0)
    assert math.isnan(rows[2].injection)  # ||x|| == 0
    last = crystal_atoms(cache, fusion, values, 2)
    assert last[0].injection == pytest.approx(5.0 / 10.0)  # alpha = 1, |t| = 5
    with pytest.raises(UserError, match="out of range"):
        crystal_atoms(cache, fusion, values, 3)
    with pytest.raises(UserError, match="unknown fusion module"):
        crystal_atoms(cache, "nope", values, 0)
