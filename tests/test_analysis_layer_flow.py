"""Layer-flow rows: every (layer, source) pair, SKIPPED for width mismatches."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic import make_cache, tiny_cache

from alpha_tui.analysis.layer_flow import MATCH, SKIPPED, layer_flow_rows
from alpha_tui.capture.cache import LayerFlow, LayerInfo
from alpha_tui.errors import UserError

pytestmark = pytest.mark.both_lanes  # also run by make test-dgl (torch 2.2, numpy<2)

H = 16
COUNTS = [2, 4, 2]  # 8 atoms
COS = {"alignn_layers.0": 0.1, "middle_fusion_modules.layer_2": 0.5, "gcn_layers.0": 0.3}
SPREAD = 0.05
NULL = -0.02
LAYER_NORM = {"alignn_layers.0": 3.0, "middle_fusion_modules.layer_2": 5.0, "gcn_layers.0": 7.0}
TEXT_NORMS = [1.0, 2.0, 4.0]  # per crystal, text_transform output


def _cache():
    n = sum(COUNTS)
    text = np.zeros((3, H))
    text[:, 0] = TEXT_NORMS
    cache = tiny_cache(
        atom_counts=COUNTS,
        atomic_numbers=[8] * n,
        gates=np.full((n, H), 0.5),
        text_transform=text,
        fusion_input_norm=np.ones(n),
    )
    fusion = cache.fusion_modules[0]
    cache.text_projection = np.full((3, 8), 0.5, dtype=np.float32)  # |t| = sqrt(2)
    cache.layers = [
        LayerInfo("alignn_layers.0", "Layer 1 (ALIGNN)", H),
        LayerInfo(fusion, "Fusion after Layer 3", H, True),
        LayerInfo("gcn_layers.0", "Layer 5 (GCN)", H),
    ]
    pattern = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)  # mean 0, population std 1
    cache.layer_norms = {k: np.full(n, v, np.float32) for k, v in LAYER_NORM.items()}
    for layer in cache.layers:
        for src in cache.text_sources:
            flow = LayerFlow(layer.name, src.name, H, src.width)
            if flow.matched:
                flow.cos = (COS[layer.name] + SPREAD * pattern).astype(np.float32)
                flow.null_cos = (NULL + 0.01 * pattern).astype(np.float32)
            cache.flows[(layer.name, src.name)] = flow
    return cache


def test_rows_for_every_pair_in_forward_order() -> None:
    cache = _cache()
    rows = layer_flow_rows(cache)
    assert len(rows) == 3 * 2
    assert [(r.layer, r.text_source) for r in rows] == [
        (layer.name, src.name) for layer in cache.layers for src in cache.text_sources
    ]


def test_text_projection_pairs_skipped_with_widths_and_no_numbers() -> None:
    rows = layer_flow_rows(_cache(), "text_projection")
    assert len(rows) == 3
    for r in rows:
        assert r.status == SKIPPED and r.status_text == "SKIPPED(16≠8)"
        assert (r.layer_width, r.text_width) == (16, 8)
        numbers = (r.cos_mean, r.cos_std, r.null_mean, r.null_std)
        assert numbers == (None,) * 4
        assert (r.layer_norm_mean, r.text_norm_mean) == (None, None)


def test_text_transform_pairs_match_with_known_numbers() -> None:
    cache = _cache()
    source = f"{cache.fusion_modules[0]}.text_transform"
    rows = layer_flow_rows(cache, source)
    assert [r.label for r in rows] == ["Layer 1 (ALIGNN)", "Fusion after Layer 3", "Layer 5 (GCN)"]
    assert [r.is_fusion for r in rows] == [False, True, False]
    # atoms see their crystal's text: (2*1 + 4*2 + 2*4) / 8
    text_norm = sum(c * t for c, t in zip(COUNTS, TEXT_NORMS, strict=True)) / sum(COUNTS)
    for r in rows:
        assert r.status == MATCH and r.status_text == "MATCH"
        assert r.cos_mean == pytest.approx(COS[r.layer], abs=1e-6)
        assert r.cos_std == pytest.approx(SPREAD, abs=1e-6)
        assert r.null_mean == pytest.approx(NULL, abs=1e-6)
        assert r.null_std == pytest.approx(0.01, abs=1e-6)
        assert r.layer_norm_mean == pytest.approx(LAYER_NORM[r.layer])
        assert r.text_norm_mean == pytest.approx(text_norm)
    assert list(rows[0].to_dict()) == [
        "layer", "label", "is_fusion", "text_source", "layer_width", "text_width", "status",
        "cos_mean", "cos_std", "null_mean", "null_std", "layer_norm_mean", "text_norm_mean",
    ]  # fmt: skip


def test_missing_flow_entry_is_still_reported() -> None:
    cache = _cache()
    del cache.flows[("gcn_layers.0", "text_projection")]
    rows = layer_flow_rows(cache, "text_projection")
    assert [r.layer for r in rows][-1] == "gcn_layers.0"
    assert rows[-1].status_text == "SKIPPED(16≠8)"


def test_unknown_source_is_user_error() -> None:
    with pytest.raises(UserError, match="unknown text source 'nope'"):
        layer_flow_rows(_cache(), "nope")


def test_synthetic_cache_rows() -> None:
    cache = make_cache()
    rows = layer_flow_rows(cache)
    assert len(rows) == 9 * 2
    skipped = [r for r in rows if r.text_source == "text_projection"]
    assert all(r.status_text == "SKIPPED(16≠8)" for r in skipped)
    matched = [r for r in rows if r.text_source != "text_projection"]
    assert all(r.status == MATCH and r.cos_mean is not None for r in matched)
    peak = max(matched, key=lambda r: r.cos_mean)
    assert peak.is_fusion and peak.null_mean is not None and abs(peak.null_mean) < 0.05
