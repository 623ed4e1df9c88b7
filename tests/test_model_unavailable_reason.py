"""A fine-grained checkpoint run on CLS vectors alone: the report says why there are no
predictions, while gates and cosines are still reported (end to end through the CLI)."""

from __future__ import annotations

import csv
import json

import crystal_factory as cf
import numpy as np
import pytest
import torch
from model_factory import random_state_dict, small_config

from alpha_tui.cli import main
from alpha_tui.model.network import TOKENS_REASON

pytestmark = pytest.mark.both_lanes


def test_report_names_the_missing_token_states(tmp_path, capsys) -> None:
    config = small_config(
        use_fine_grained_attention=True, fine_grained_hidden_dim=16, fine_grained_num_heads=4
    )
    ckpt = tmp_path / "model.pt"
    stored = {**config.to_dict(), **config.extra}
    torch.save({"config": stored, "model": random_state_dict(config, seed=60)}, ckpt)
    data = tmp_path / "data"
    rows = [["id", "formula", "target", "text", "source"]]
    for name, builder in (("NaCl", cf.rocksalt), ("Cu", cf.fcc_primitive)):
        cf.write_cif(builder(), data / "cif" / f"{name}.cif")
        rows.append([name, name, "1.0", f"{name} is a crystal.", "test"])
    with open(data / "description.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    emb = tmp_path / "emb.npz"
    vectors = np.random.default_rng(0).normal(size=(2, config.text_input_features))
    np.savez(emb, ids=np.array(["NaCl", "Cu"]), embeddings=vectors)
    args = ["report", str(ckpt), "--data", str(data), "--text-embeddings", str(emb)]
    args += ["--backend", "native", "--json"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["prediction_available"] is False
    reasons = [p for p in report["problems"] if p["kind"] == "prediction-unavailable"]
    assert len(reasons) == 1 and TOKENS_REASON in json.dumps(reasons[0])
    assert report["n_atoms"] == 3  # rocksalt primitive (2) + fcc primitive (1)
    assert report["fusion_modules"] == ["middle_fusion_modules.layer_2"]
