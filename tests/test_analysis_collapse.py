"""The variance-collapse diagnostic on gates with a known number of independent dims."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alpha_tui.analysis.collapse import ARTEFACT_MIN_EFFECTIVE_DIMS, collapse_diagnostic

pytestmark = pytest.mark.both_lanes  # also run by make test-dgl (torch 2.2, numpy<2)


def _block_gates(n_atoms: int, hidden: int, blocks: int, seed: int) -> np.ndarray:
    """Gates made of `blocks` independent uniform values, each repeated hidden/blocks times."""
    rng = np.random.default_rng(seed)
    u = rng.uniform(0, 1, (n_atoms, blocks))
    return np.repeat(u, hidden // blocks, axis=1).astype(np.float32)


def test_iid_uniform_gates_are_an_averaging_artefact() -> None:
    g = _block_gates(4000, 16, 16, seed=1)
    d = collapse_diagnostic(g)
    g64 = g.astype(np.float64)
    assert d.hidden == 16 and d.n_atoms == 4000
    assert d.gate_std == pytest.approx(np.std(g64), rel=1e-9)
    assert d.gate_std == pytest.approx(1 / math.sqrt(12), rel=0.02)  # uniform(0, 1)
    assert d.mean_reduced_std == pytest.approx(np.std(g64.mean(axis=1)), rel=1e-9)
    assert d.expected_std == pytest.approx(d.gate_std / 4)
    assert d.effective_dims == pytest.approx(16, rel=0.1)
    assert d.is_artefact
    assert "averaging artefact" in d.verdict and "mean over 16 dims" in d.verdict
    assert f"{d.gate_std / d.mean_reduced_std:.1f}x" in d.verdict
    assert "\n" not in d.verdict
    assert d.per_dim_atom_std == pytest.approx(np.std(g64, axis=0).mean())


def test_all_dims_equal_per_atom_is_real() -> None:
    g = _block_gates(500, 16, 1, seed=2)
    d = collapse_diagnostic(g)
    assert d.mean_reduced_std == pytest.approx(d.gate_std, rel=1e-6)
    assert d.effective_dims == pytest.approx(1.0, rel=1e-6)
    assert not d.is_artefact
    assert "narrow values are real" in d.verdict


@pytest.mark.parametrize(("blocks", "artefact"), [(2, False), (8, True)])
def test_effective_dims_counts_independent_blocks(blocks: int, artefact: bool) -> None:
    d = collapse_diagnostic(_block_gates(4000, 16, blocks, seed=3))
    assert d.effective_dims == pytest.approx(blocks, rel=0.1)
    assert d.is_artefact is artefact
    assert (d.effective_dims > ARTEFACT_MIN_EFFECTIVE_DIMS) is artefact


def test_mean_constant_across_atoms_is_infinite_shrink() -> None:
    # every atom holds the same values in a different order: the mean is constant
    g = np.array([[0.1, 0.9], [0.9, 0.1], [0.1, 0.9]], dtype=np.float32)
    d = collapse_diagnostic(g)
    assert d.mean_reduced_std == 0.0 and math.isinf(d.effective_dims) and d.is_artefact


def test_degenerate_inputs() -> None:
    one = collapse_diagnostic(np.array([[0.2, 0.8]], dtype=np.float32))
    assert not one.is_artefact and "too few" in one.verdict
    flat = collapse_diagnostic(np.full((5, 4), 0.4, dtype=np.float32))
    assert flat.gate_std == 0.0 and not flat.is_artefact and "identical" in flat.verdict
    assert math.isnan(flat.effective_dims)
    empty = collapse_diagnostic(np.zeros((0, 4), dtype=np.float32))
    assert empty.n_atoms == 0 and not empty.is_artefact
    assert set(one.to_dict()) >= {
        "hidden",
        "gate_std",
        "mean_reduced_std",
        "expected_std",
        "effective_dims",
        "is_artefact",
        "verdict",
    }
