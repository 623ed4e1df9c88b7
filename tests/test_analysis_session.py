"""AnalysisSession on the synthetic cache, import isolation, and synthetic determinism."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from synthetic import make_cache

from alpha_tui.analysis.reductions import reduce_gates
from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.analysis.statistics import alpha_stats
from alpha_tui.capture.cache import ActivationCache
from alpha_tui.errors import UserError

pytestmark = pytest.mark.both_lanes  # also run by make test-dgl (torch 2.2, numpy<2)

FUSION = "middle_fusion_modules.layer_2"


def test_session_import_pulls_in_neither_torch_nor_textual() -> None:
    code = (
        "import sys, alpha_tui.analysis.session; "
        "print(sorted(m for m in ('torch', 'textual') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_alpha_is_memoised_per_canonical_name_and_read_only() -> None:
    s = AnalysisSession(make_cache())
    a = s.alpha(FUSION, "quantile:0.90")
    assert s.alpha(FUSION, "quantile:.9") is a
    np.testing.assert_array_equal(a, reduce_gates("quantile:0.9", s.cache.gates[FUSION]))
    assert not a.flags.writeable
    with pytest.raises(UserError, match="unknown fusion module"):
        s.alpha("middle_fusion_modules.layer_9", "mean")
    with pytest.raises(UserError, match="unknown reduction"):
        s.alpha(FUSION, "mode")


def test_injection_uses_text_transform_and_fusion_input_norm() -> None:
    c = make_cache()
    s = AnalysisSession(c)
    g = c.gates[FUSION].astype(np.float64)
    t = c.text_transform[FUSION].astype(np.float64)[c.atom_crystal]
    want = np.linalg.norm(g * t, axis=1) / c.fusion_input_norm[FUSION].astype(np.float64)
    np.testing.assert_allclose(s.injection(FUSION), want, rtol=1e-12)


def test_stats_histogram_elements_crystals() -> None:
    c = make_cache()
    s = AnalysisSession(c)
    assert s.stats(FUSION, "max") == alpha_stats(s.alpha(FUSION, "max"))
    per_atom_max = np.asarray(c.gates[FUSION], dtype=np.float64).max(axis=1)
    st = s.stats(FUSION, "max")
    assert st.count == c.n_atoms
    assert st.mean == pytest.approx(per_atom_max.mean(), rel=1e-12)
    assert st.std == pytest.approx(per_atom_max.std(), rel=1e-12)
    assert st.p50 == pytest.approx(np.median(per_atom_max), rel=1e-12)
    assert st.max == per_atom_max.max()
    h = s.histogram(FUSION, "mean", bins=20)
    assert (h.edges[0], h.edges[-1]) == (0.0, 1.0) and h.counts.sum() == c.n_atoms
    pc = s.alpha(FUSION, "pc1")
    h = s.histogram(FUSION, "pc1")
    assert (h.edges[0], h.edges[-1]) == pytest.approx((pc.min(), pc.max()))
    elements = s.elements(FUSION, "mean", min_count=1)
    assert sum(e.count for e in elements) == c.n_atoms
    assert [e.mean for e in elements] == sorted(e.mean for e in elements)
    # crystal alpha: mean over each crystal's atoms, computed here with a loop
    mean = s.alpha(FUSION, "mean")
    want = [mean[c.atom_crystal == k].mean() for k in range(c.n_crystals)]
    np.testing.assert_allclose(s.crystal_alpha(FUSION, "mean"), want, rtol=1e-12)
    rows = s.crystals(FUSION, "mean")
    assert [r.mean_alpha for r in rows] == pytest.approx(want)
    assert rows[0].prediction == pytest.approx(c.predictions[0])
    atoms = s.crystal_atoms(FUSION, "mean", 1)
    assert len(atoms) == c.atom_counts[1]
    corr = s.correlation(FUSION, "mean")
    assert corr.pearson_r == pytest.approx(np.corrcoef(want, c.targets)[0, 1])
    assert sum(g.count for g in corr.size_groups) == c.n_crystals


def test_verdicts_for_synthetic_cache() -> None:
    s = AnalysisSession(make_cache())
    lines = s.verdicts()
    assert len(lines) == 3
    assert lines[0].startswith(FUSION + ": mean over 16 dims shrinks the spread across atoms")
    assert "averaging artefact" in lines[0]
    assert lines[1] == "text_projection (8) vs 16-wide layers: all 9 pairs SKIPPED"
    assert lines[2].startswith(f"{FUSION}.text_transform (16): all 9 layers MATCH; peak cos")
    assert "at Fusion after Layer 3" in lines[2]
    assert s.collapse(FUSION).is_artefact


def test_two_fusion_modules_and_mixed_widths() -> None:
    s = AnalysisSession(make_cache(fusion_layers=(2, 3), hidden=8))
    assert s.fusion_modules == ["middle_fusion_modules.layer_2", "middle_fusion_modules.layer_3"]
    assert len(s.text_sources) == 3
    lines = s.verdicts()
    assert len(lines) == 2 + 3
    # hidden == text_projection width: now those pairs MATCH and carry cosines
    assert lines[2].startswith("text_projection (8): all 10 layers MATCH")


def _arrays(cache: ActivationCache) -> dict[str, np.ndarray]:
    out = {"targets": cache.targets, "gates": cache.gates[FUSION]}
    out.update({f"cos:{k}": f.cos for k, f in cache.flows.items() if f.cos is not None})
    return out


def test_make_cache_is_deterministic_and_complete() -> None:
    a, b = make_cache(), make_cache()
    for key, value in _arrays(a).items():
        np.testing.assert_array_equal(value, _arrays(b)[key])
    assert a.formulas == b.formulas and a.meta == b.meta
    assert not np.array_equal(make_cache(seed=1).gates[FUSION], a.gates[FUSION])
    assert a.crystal_ids[:2] == ["C0000", "C0001"]
    assert a.n_atoms == int(a.atom_counts.sum()) == len(a.atomic_numbers)
    g = a.gates[FUSION]
    assert g.dtype == np.float32 and g.shape == (a.n_atoms, 16)
    assert ((g > 0) & (g < 1)).all()
    assert [x.label for x in a.layers][2:5] == [
        "Layer 3 (ALIGNN)", "Fusion after Layer 3", "Layer 4 (ALIGNN)"
    ]  # fmt: skip
    assert len(a.flows) == len(a.layers) * len(a.text_sources)
    for flow in a.flows.values():
        assert (flow.cos is None) == (not flow.matched)
        if flow.cos is not None:
            assert np.all(np.abs(flow.cos) <= 1) and flow.cos.shape == (a.n_atoms,)
    assert set(a.meta) >= {"checkpoint", "device", "backend", "problems", "notes", "data",
                           "prediction_available"}  # fmt: skip
    assert set(a.meta["checkpoint"]) == {"path", "sha256", "config", "config_source"}
    assert make_cache(with_predictions=False).predictions is None
    sizes = np.asarray(a.atom_counts)
    assert sizes.min() < 10 and sizes.max() > 100  # every size group is populated
