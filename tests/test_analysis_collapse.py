"""The collapse statistic (issue 8 §5) against direct numpy and closed forms."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from alpha_tui.analysis.collapse import (
    ARTEFACT,
    ARTEFACT_MIN_EFFECTIVE_DIMS,
    NO_VARIATION,
    NO_VARIATION_STD,
    REAL,
    UNDETERMINED,
    collapse_diagnostic,
)
from alpha_tui.analysis.gate_moments import covariance_spectrum, gate_moments

pytestmark = pytest.mark.both_lanes  # also run by make test-dgl (torch 2.2, numpy<2)


def _numpy_figures(g: np.ndarray) -> dict[str, float]:
    """The definitions of issue 8 §5, written out directly on the full float64 matrix."""
    g = g.astype(np.float64)
    v = g.var(axis=0)
    abar = g.mean(axis=1)
    lam = np.linalg.eigvalsh(np.cov(g, rowvar=False, bias=True))
    return {
        "atom_var_mean": v.mean(),
        "mean_reduced_std": abar.std(),
        "expected_std": math.sqrt(v.mean() / g.shape[1]),
        "effective_dims": v.mean() / abar.var(),
        "participation_ratio": lam.sum() ** 2 / (lam**2).sum(),
        "between_dim_share": g.mean(axis=0).var() / g.var(),
        "gate_std": g.std(),
        "per_dim_atom_std": np.sqrt(v).mean(),
    }


def _assert_matches_numpy(g: np.ndarray, rel: float = 1e-9) -> None:
    d = collapse_diagnostic(g).to_dict()
    for key, want in _numpy_figures(g).items():
        assert d[key] == pytest.approx(want, rel=rel), key


def test_atom_constant_gate_has_no_per_atom_variation() -> None:
    # every atom has the same gate vector; the dims differ from each other a lot
    row = np.linspace(0.05, 0.95, 32, dtype=np.float32)
    g = np.tile(row, (300, 1))
    d = collapse_diagnostic(g)
    assert d.verdict_kind == NO_VARIATION and not d.is_artefact
    assert "no per-atom variation" in d.verdict and "\n" not in d.verdict
    assert d.atom_var_mean == 0.0 and d.max_dim_std == 0.0
    # the pooled std of report/1 is large here: it is all between-dimension spread
    assert d.gate_std == pytest.approx(row.astype(np.float64).std(), rel=1e-9)
    assert d.between_dim_share == pytest.approx(1.0)


def test_float32_rounding_noise_still_counts_as_no_variation() -> None:
    rng = np.random.default_rng(0)
    row = rng.uniform(0.1, 0.9, 16)
    g = (row + rng.normal(0, 1e-7, (200, 16))).astype(np.float32)
    d = collapse_diagnostic(g)
    assert 0 < d.max_dim_std <= NO_VARIATION_STD
    assert d.verdict_kind == NO_VARIATION


def test_independent_dims_give_n_eff_near_h() -> None:
    rng = np.random.default_rng(1)
    g = rng.uniform(0, 1, (4000, 16)).astype(np.float32)
    _assert_matches_numpy(g)
    d = collapse_diagnostic(g)
    assert d.effective_dims == pytest.approx(16, rel=0.1)
    assert d.participation_ratio == pytest.approx(16, rel=0.1)
    assert d.mean_reduced_std == pytest.approx(d.expected_std, rel=0.05)
    assert d.verdict_kind == ARTEFACT and d.is_artefact
    assert "averaging artefact" in d.verdict and "N_eff" in d.verdict


def test_all_dims_moving_together_are_real() -> None:
    rng = np.random.default_rng(2)
    u = rng.uniform(0, 1, (500, 1))
    g = np.repeat(u, 16, axis=1).astype(np.float32)
    d = collapse_diagnostic(g)
    assert d.effective_dims == pytest.approx(1.0, rel=1e-6)
    assert d.participation_ratio == pytest.approx(1.0, rel=1e-6)
    assert d.verdict_kind == REAL and "the narrow values are real" in d.verdict


def _orthogonal_blocks(
    sizes: tuple[int, ...], amps: tuple[float, ...], offsets: tuple[float, ...]
) -> np.ndarray:
    """Atoms = every sign pattern of one latent per block, so the latents' sample
    covariance is exactly diagonal and the figures have closed forms."""
    z = np.array(list(itertools.product((-1.0, 1.0), repeat=len(sizes))))  # [2^B, B]
    cols = [np.repeat((c + a * z[:, [b]]), k, axis=1)
            for b, (k, a, c) in enumerate(zip(sizes, amps, offsets, strict=True))]  # fmt: skip
    return np.concatenate(cols, axis=1)


def test_correlated_blocks_have_closed_form_n_eff_and_pr() -> None:
    sizes, amps, offsets = (4, 8, 20), (0.25, 0.125, 0.0625), (0.2, 0.5, 0.75)
    g = _orthogonal_blocks(sizes, amps, offsets)
    k, s2, c = np.array(sizes), np.array(amps) ** 2, np.array(offsets)
    h = k.sum()
    d = collapse_diagnostic(g)
    # v_d = s_b^2 on block b; C = blockdiag(s_b^2 11^T); eigenvalues k_b s_b^2
    assert d.atom_var_mean == pytest.approx((k * s2).sum() / h, rel=1e-12)
    assert d.mean_reduced_std == pytest.approx(math.sqrt((k**2 * s2).sum()) / h, rel=1e-12)
    assert d.effective_dims == pytest.approx(h * (k * s2).sum() / (k**2 * s2).sum(), rel=1e-12)
    lam = k * s2
    assert d.participation_ratio == pytest.approx(lam.sum() ** 2 / (lam**2).sum(), rel=1e-12)
    np.testing.assert_allclose(covariance_spectrum(gate_moments(g))[:3], np.sort(lam)[::-1])
    col_means = np.repeat(c, k)
    between = col_means.var()
    assert d.between_dim_share == pytest.approx(between / (between + d.atom_var_mean), rel=1e-12)
    _assert_matches_numpy(g.astype(np.float32), rel=1e-6)


@pytest.mark.parametrize(("blocks", "kind"), [(2, REAL), (8, ARTEFACT)])
def test_equal_blocks_count_as_independent_dims(blocks: int, kind: str) -> None:
    g = _orthogonal_blocks((16 // blocks,) * blocks, (0.2,) * blocks, (0.5,) * blocks)
    d = collapse_diagnostic(g)
    assert d.effective_dims == pytest.approx(blocks, rel=1e-12)
    assert d.participation_ratio == pytest.approx(blocks, rel=1e-12)
    assert d.verdict_kind == kind
    assert (d.effective_dims > ARTEFACT_MIN_EFFECTIVE_DIMS) is (kind == ARTEFACT)


def test_chunked_moments_equal_one_pass() -> None:
    rng = np.random.default_rng(3)
    g = rng.beta(0.5, 0.5, (103, 12)).astype(np.float32)
    whole, chunked = gate_moments(g), gate_moments(g, chunk=7)
    g64 = g.astype(np.float64)
    np.testing.assert_allclose(chunked.cov, np.cov(g64, rowvar=False, bias=True), atol=1e-15)
    np.testing.assert_allclose(chunked.cov, whole.cov, atol=1e-15)
    np.testing.assert_allclose(chunked.row_mean, g64.mean(axis=1))
    np.testing.assert_allclose(chunked.col_var, g64.var(axis=0), rtol=1e-12)


def test_constant_mean_is_infinite_shrink() -> None:
    # every atom holds the same values in a different order: the mean is constant
    g = np.array([[0.1, 0.9], [0.9, 0.1], [0.1, 0.9]], dtype=np.float32)
    d = collapse_diagnostic(g)
    assert d.mean_reduced_std == 0.0 and math.isinf(d.effective_dims) and d.is_artefact


def test_degenerate_inputs() -> None:
    one = collapse_diagnostic(np.array([[0.2, 0.8]], dtype=np.float32))
    assert one.verdict_kind == UNDETERMINED and "too few" in one.verdict
    empty = collapse_diagnostic(np.zeros((0, 4), dtype=np.float32))
    assert empty.n_atoms == 0 and not empty.is_artefact and empty.verdict_kind == UNDETERMINED
