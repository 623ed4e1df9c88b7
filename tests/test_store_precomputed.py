"""Reductions precomputed into a store equal what a session computes from the gates.

Every one is checked bit for bit against ``reduce_gates`` on the in-memory gates and,
for the simple ones, against numpy by hand; a store whose precomputed values do not
apply (older schema, other definitions, a narrow gate) is served from the gates.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from synthetic import make_cache

from alpha_tui.analysis import reductions
from alpha_tui.analysis.reductions import DEFAULT_CYCLE, PRECOMPUTED, reduce_gates
from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.store.layout import MANIFEST
from alpha_tui.store.reader import open_store
from alpha_tui.store.writer import write_store

FUSION = "middle_fusion_modules.layer_2"
pytestmark = pytest.mark.both_lanes


@pytest.fixture
def cache():
    return make_cache(n_crystals=30, hidden=32, fusion_layers=(1, 2), seed=3)


def _by_hand(name: str, g: np.ndarray) -> np.ndarray | None:
    x = g.astype(np.float64)
    hand = {
        "mean": x.sum(axis=1) / x.shape[1],
        "max": x.max(axis=1),
        "min": x.min(axis=1),
        "median": np.sort(x, axis=1)[:, [15, 16]].mean(axis=1),  # H = 32: middle pair
        "std": np.sqrt(((x - x.mean(axis=1, keepdims=True)) ** 2).mean(axis=1)),
        "open-fraction": (x > 0.5).sum(axis=1) / x.shape[1],
        "dim:0": x[:, 0],
        "topk-mean:16": np.sort(x, axis=1)[:, -16:].mean(axis=1),
    }
    s = np.sort(x, axis=1)
    pos = 0.9 * 31
    lo = int(np.floor(pos))
    hand["quantile:0.9"] = s[:, lo] + (pos - lo) * (s[:, lo + 1] - s[:, lo])
    return hand.get(name)


def test_every_precomputed_reduction_equals_the_computed_one(cache, tmp_path):
    back = open_store(write_store(cache, tmp_path / "s"))
    assert back.precomputed is not None and set(back.precomputed.values) == set(
        cache.fusion_modules
    )
    live, stored = AnalysisSession(cache), AnalysisSession(back)
    for fusion in cache.fusion_modules:
        values = back.precomputed.values[fusion]
        assert list(values) == list(PRECOMPUTED) == list(DEFAULT_CYCLE)
        for name, pre in values.items():
            computed = reduce_gates(
                name,
                cache.gates[fusion],
                node_norm=cache.fusion_input_norm[fusion],
                text_per_crystal=cache.text_transform[fusion],
                atom_crystal=cache.atom_crystal,
            )
            assert pre.dtype == np.float64 and pre.shape == (cache.n_atoms,)
            np.testing.assert_array_equal(pre, computed, err_msg=name)  # bit for bit
            hand = _by_hand(name, cache.gates[fusion])
            if hand is not None:
                np.testing.assert_allclose(pre, hand, rtol=1e-12, atol=1e-15, err_msg=name)
            served = stored.alpha(fusion, name)
            assert np.shares_memory(served, pre), name  # read from the file, not recomputed
            np.testing.assert_array_equal(served, live.alpha(fusion, name))
            assert stored.stats(fusion, name) == live.stats(fusion, name)


def test_injection_and_pc1_by_hand(cache, tmp_path):
    back = open_store(write_store(cache, tmp_path / "s"))
    g = cache.gates[FUSION].astype(np.float64)
    t = cache.text_transform[FUSION].astype(np.float64)[cache.atom_crystal]
    norm = cache.fusion_input_norm[FUSION].astype(np.float64)
    injection = np.linalg.norm(g * t, axis=1) / norm
    np.testing.assert_allclose(back.precomputed.values[FUSION]["injection"], injection, rtol=1e-12)
    c = g - g.mean(axis=0)
    _, vectors = np.linalg.eigh(c.T @ c / len(g))
    v = vectors[:, -1] * np.sign(vectors[:, -1].sum())
    np.testing.assert_allclose(back.precomputed.values[FUSION]["pc1"], c @ v, atol=1e-10)


def test_narrow_gate_skips_what_it_cannot_take(tmp_path):
    narrow = make_cache(n_crystals=6, hidden=8, fusion_layers=(2,), seed=1)
    back = open_store(write_store(narrow, tmp_path / "s"))
    names = list(back.precomputed.values[FUSION])
    assert names == [n for n in DEFAULT_CYCLE if n != "topk-mean:16"]


def _edit_manifest(path, edit):
    manifest = json.loads((path / MANIFEST).read_text())
    edit(manifest)
    (path / MANIFEST).write_text(json.dumps(manifest))


def test_other_definitions_are_not_served(cache, tmp_path):
    path = write_store(cache, tmp_path / "s")

    def older(manifest):
        manifest["fields"]["precomputed"]["definitions"] = reductions.DEFINITIONS - 1

    _edit_manifest(path, older)
    back = open_store(path)
    session = AnalysisSession(back)
    assert session.precomputed(FUSION, "max") is None
    served = session.alpha(FUSION, "max")
    assert not np.shares_memory(served, back.precomputed.values[FUSION]["max"])
    np.testing.assert_array_equal(served, AnalysisSession(cache).alpha(FUSION, "max"))


def test_schema_1_store_still_opens_and_computes(cache, tmp_path):
    path = write_store(cache, tmp_path / "s")

    def version_1(manifest):
        manifest["schema_version"] = 1
        del manifest["fields"]["precomputed"]
        for name in [n for n in manifest["files"] if "precomputed" in n]:
            del manifest["files"][name]
            (path / name).unlink()

    _edit_manifest(path, version_1)
    back = open_store(path)
    assert back.precomputed is None
    live, stored = AnalysisSession(cache), AnalysisSession(back)
    for name in DEFAULT_CYCLE:
        np.testing.assert_array_equal(stored.alpha(FUSION, name), live.alpha(FUSION, name))


def test_merged_shards_recompute_global_pc1(cache, tmp_path):
    """pc1 centres on the whole dataset: concatenated per-shard scores would be wrong."""
    from test_store import _shard_parts

    from alpha_tui.store.shards import merge_shards

    shards = _shard_parts(cache)
    parts = [open_store(write_store(p, tmp_path / f"p{i}")) for i, p in enumerate(shards)]
    merged = merge_shards(parts)
    assert merged.precomputed is None and merged.checks is None
    back = open_store(write_store(merged, tmp_path / "merged"))
    np.testing.assert_array_equal(
        back.precomputed.values[FUSION]["pc1"], AnalysisSession(cache).alpha(FUSION, "pc1")
    )


@pytest.mark.parametrize("name", [*DEFAULT_CYCLE, "quantile:0.25", "topk-mean:3", "dim:5"])
def test_threads_and_chunks_change_no_bit(cache, monkeypatch, name):
    kwargs = {
        "node_norm": cache.fusion_input_norm[FUSION],
        "text_per_crystal": cache.text_transform[FUSION],
        "atom_crystal": cache.atom_crystal,
    }
    gates = cache.gates[FUSION]
    monkeypatch.setattr(reductions, "WORKERS", 1)
    monkeypatch.setattr(reductions, "CHUNK_ROWS", 10**9)
    one_pass = reduce_gates(name, gates, **kwargs)
    monkeypatch.setattr(reductions, "WORKERS", 2)
    monkeypatch.setattr(reductions, "CHUNK_ROWS", 7)  # many seams, out-of-order finishes
    threaded = reduce_gates(name, gates, **kwargs)
    if name == "pc1":  # partial sums per chunk: added in order, but not one sequential sum
        np.testing.assert_allclose(threaded, one_pass, rtol=1e-10, atol=1e-12)
    else:
        np.testing.assert_array_equal(threaded, one_pass)


@pytest.mark.parametrize("h", [1, 2, 7, 32, 256])
def test_row_sort_median_and_quantile_equal_numpy(h):
    rng = np.random.default_rng(h)
    g = rng.random((300, h), dtype=np.float32)
    g[:40] = np.round(g[:40] * 4) / 4  # ties
    g[5, 0] = np.nan  # a NaN row is NaN, as numpy gives
    x = g.astype(np.float64)
    np.testing.assert_array_equal(reduce_gates("median", g), np.median(x, axis=1))
    for q in (0.0, 0.1, 0.25, 0.5, 0.9, 0.97, 1.0):
        expected = np.quantile(x, q, axis=1, method="linear")
        np.testing.assert_array_equal(reduce_gates(f"quantile:{q}", g), expected, err_msg=str(q))
