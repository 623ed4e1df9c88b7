"""Dims figures and scale balance against direct numpy on small known inputs."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import make_cache

from alpha_tui.analysis.dims import (
    OPEN,
    SHUT,
    VARYING,
    dim_elements,
    dim_stats,
    heat_map,
    rank_atoms,
)
from alpha_tui.analysis.gate_moments import gate_moments
from alpha_tui.analysis.scale_balance import distribution, scale_balance
from alpha_tui.analysis.session import AnalysisSession

pytestmark = pytest.mark.both_lanes

FUSION = "middle_fusion_modules.layer_2"


def _gate_with_known_kinds(n: int = 1000) -> np.ndarray:
    rng = np.random.default_rng(4)
    g = rng.uniform(0.2, 0.8, (n, 6))
    g[:, 0] = 0.99  # always open
    g[:, 1] = 0.01  # always shut
    g[:, 2] = 0.99
    g[:5, 2] = 0.5  # open for exactly 99.5 % of atoms: still "always open"
    g[:, 3] = 0.99
    g[:20, 3] = 0.5  # open for 98 %: varying
    return g.astype(np.float32)


def test_dim_kinds_and_shares() -> None:
    g = _gate_with_known_kinds()
    d = dim_stats(g, gate_moments(g))
    assert d.kind == (OPEN, SHUT, OPEN, VARYING, VARYING, VARYING)
    assert d.counts == {OPEN: 2, SHUT: 1, VARYING: 3}
    np.testing.assert_allclose(d.open_share, (g > 0.95).mean(axis=0))
    np.testing.assert_allclose(d.shut_share, (g < 0.05).mean(axis=0))
    g64 = g.astype(np.float64)
    np.testing.assert_allclose(d.mean, g64.mean(axis=0))
    np.testing.assert_allclose(d.std, g64.std(axis=0), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(d.order, np.argsort(g64.mean(axis=0), kind="stable"))
    lam = np.sort(np.linalg.eigvalsh(np.cov(g64, rowvar=False, bias=True)))[::-1]
    np.testing.assert_allclose(d.eigenvalues, np.clip(lam, 0, None), atol=1e-12)
    assert d.participation_ratio == pytest.approx(lam.sum() ** 2 / (lam**2).sum(), rel=1e-9)
    assert d.top_share == pytest.approx(lam[0] / lam.sum(), rel=1e-9)
    per_dim = d.to_dict()["per_dim"]
    assert [r["dim"] for r in per_dim] == d.order.tolist()
    assert per_dim[0]["kind"] == SHUT and per_dim[-1]["kind"] == OPEN


def test_heat_map_samples_along_pc1_and_averages_sorted_dims() -> None:
    rng = np.random.default_rng(5)
    g = rng.uniform(0, 1, (50, 8))
    pc1 = rng.normal(size=50)
    order = np.argsort(g.mean(axis=0))
    hm = heat_map(g, rank_atoms(pc1), order, rows=5, cols=3)
    ranked = np.argsort(pc1)
    np.testing.assert_array_equal(hm.atoms, ranked[[0, 12, 24, 37, 49]])
    assert np.all(np.diff(pc1[hm.atoms]) > 0)
    groups = [order[:3], order[3:6], order[6:]]
    for j, grp in enumerate(groups):
        np.testing.assert_array_equal(hm.dim_groups[j], grp)
        np.testing.assert_allclose(hm.values[:, j], g[hm.atoms][:, grp].mean(axis=1))


def test_dim_elements_rank_elements_by_mean_gate() -> None:
    values = np.array([0.99, 0.97, 0.2, 0.6, 0.96, 0.1])
    z = np.array([8, 8, 26, 26, 1, 1])
    rows = dim_elements(values, z)
    assert [r.symbol for r in rows] == ["O", "H", "Fe"]
    assert rows[0].mean == pytest.approx(0.98) and rows[0].open_share == 1.0
    assert rows[1].mean == pytest.approx(0.53) and rows[1].open_share == 0.5
    assert rows[2].count == 2 and rows[2].open_share == 0.0


def test_scale_balance_per_atom_norms() -> None:
    rng = np.random.default_rng(6)
    crystal = np.array([0, 0, 1, 1, 1, 2])
    text = rng.normal(size=(3, 4))
    g = rng.uniform(0, 1, (6, 4)).astype(np.float32)
    x = rng.uniform(2, 5, 6)
    ln = rng.uniform(0, 1, 6)
    sb = scale_balance(g, text, crystal, x, ln_change=ln, text_scale=2.5)
    t = np.array([np.linalg.norm(text[c]) for c in crystal])
    inj = np.array([np.linalg.norm(g[i].astype(np.float64) * text[crystal[i]]) for i in range(6)])
    np.testing.assert_allclose(sb.values["t_norm"], t)
    np.testing.assert_allclose(sb.values["injected_norm"], inj)
    np.testing.assert_allclose(sb.values["norm_ratio"], x / t)
    np.testing.assert_allclose(sb.values["injection_ratio"], inj / x)
    np.testing.assert_allclose(sb.values["ln_change"], ln)
    assert sb.equalising_scale == pytest.approx(2.5 * np.median(x / t))
    assert sb.text_scale == 2.5
    d = sb.distribution("norm_ratio")
    assert d.median == pytest.approx(np.median(x / t))
    assert d.p95 == pytest.approx(np.percentile(x / t, 95))
    report = sb.to_dict()
    assert report["equalising_text_scale"] == pytest.approx(sb.equalising_scale)
    assert report["ln_change"]["mean"] == pytest.approx(ln.mean())


def test_scale_balance_without_scale_or_ln_and_zero_text() -> None:
    text = np.array([[0.0, 0.0], [3.0, 4.0]])
    sb = scale_balance(np.full((2, 2), 0.5), text, np.array([0, 1]), np.array([10.0, 10.0]))
    assert sb.text_scale is None and "ln_change" not in sb.values
    assert np.isnan(sb.values["norm_ratio"][0])  # zero text: no ratio, left out
    assert sb.equalising_scale == pytest.approx(2.0)
    assert sb.to_dict()["ln_change"] is None
    assert distribution(np.array([np.nan])).count == 0


def test_session_dims_use_the_cache() -> None:
    cache = make_cache()
    s = AnalysisSession(cache)
    d = s.dims(FUSION)
    g = cache.gates[FUSION].astype(np.float64)
    np.testing.assert_allclose(d.mean, g.mean(axis=0))
    sb = s.scale_balance(FUSION)
    want = np.linalg.norm(g * cache.text_transform[FUSION][cache.atom_crystal], axis=1)
    np.testing.assert_allclose(sb.values["injected_norm"], want, rtol=1e-10)
    hm = s.dims_heat_map(FUSION, 4, 5)
    assert np.all(np.diff(s.alpha(FUSION, "pc1")[hm.atoms]) >= 0)


def test_non_finite_gates_give_a_nan_spectrum_not_a_lapack_error():
    """NaN weights make NaN gates; the spectrum is unknowable, and says so with NaN."""
    from alpha_tui.analysis.gate_moments import covariance_spectrum

    gates = np.random.default_rng(3).random((20, 6)).astype(np.float32)
    gates[4, 2] = np.nan
    spectrum = covariance_spectrum(gate_moments(gates))
    assert spectrum.shape == (6,) and np.isnan(spectrum).all()
    finite = covariance_spectrum(gate_moments(gates[5:]))
    expected = np.sort(np.linalg.eigvalsh(np.cov(gates[5:].astype(np.float64).T, ddof=0)))[::-1]
    np.testing.assert_allclose(finite, np.clip(expected, 0, None), atol=1e-12)
