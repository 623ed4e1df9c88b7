"""``report --text-effect`` keeps its re-runs in the store: the reopen needs no model.

The first report captures (automatic store) and runs the counterfactuals; the second
report opens the store folder itself, which holds no model, and must give the same
text-effect section number for number without running anything.
"""

from __future__ import annotations

import csv
import json

import crystal_factory as cf
import numpy as np
import pytest
import torch
from closed_form import closed_form_checkpoint

import alpha_tui.capture.patching as patching
import alpha_tui.capture.pipeline as pipeline
from alpha_tui.cli import main
from alpha_tui.store.index import stores_dir


@pytest.fixture
def setup(tmp_path):
    form = closed_form_checkpoint()
    ckpt = tmp_path / "model.pt"
    torch.save({"config": form.config.to_dict(), "model": form.state_dict}, ckpt)
    data = tmp_path / "data"
    rows = [["id", "formula", "target", "text", "source"]]
    crystals = {"NaCl": cf.rocksalt, "GaAs": cf.zincblende, "Cu": cf.fcc_primitive}
    for i, (name, builder) in enumerate(crystals.items()):
        cf.write_cif(builder(), data / "cif" / f"{name}.cif")
        rows.append([name, name, str(0.5 * i), f"{name} is a crystal.", "test"])
    with open(data / "description.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    emb = tmp_path / "emb.npz"
    width = form.config.text_input_features
    vectors = np.random.default_rng(2).normal(size=(len(crystals), width))
    np.savez(emb, ids=np.array(list(crystals)), embeddings=vectors)
    args = [str(ckpt), "--data", str(data), "--text-embeddings", str(emb)]
    args += ["--cache-dir", str(tmp_path / "cache"), "--backend", "native"]
    return tmp_path, args


def report(capsys, argv):
    assert main(["report", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_text_effect_reopens_from_the_store_without_a_model(setup, capsys, monkeypatch):
    root, args = setup
    first = report(capsys, [*args, "--text-effect"])
    assert first["text_effect"]
    (store,) = stores_dir(root / "cache").iterdir()

    def no_model(*_a, **_k):
        raise AssertionError("the store holds the re-runs; nothing may run again")

    monkeypatch.setattr(pipeline, "run_pipeline", no_model)
    monkeypatch.setattr(patching, "run_text_effect", no_model)
    again = report(capsys, [str(store), "--text-effect"])
    assert json.dumps(again["text_effect"], sort_keys=True) == json.dumps(
        first["text_effect"], sort_keys=True
    )
    # and the automatic reopen of the checkpoint finds them too
    assert report(capsys, args)["text_effect"] == first["text_effect"]


def test_overview_names_the_checkpoint_path_the_capture_saw(setup, capsys, monkeypatch):
    pytest.importorskip("textual")  # the Overview's rows; the DGL lane has no textual
    from alpha_tui.analysis.session import AnalysisSession
    from alpha_tui.store.reader import open_store
    from alpha_tui.tui.panes.overview import overview_rows

    root, args = setup
    report(capsys, args)
    moved = root / "moved.pt"
    moved.write_bytes((root / "model.pt").read_bytes())
    monkeypatch.setattr(pipeline, "run_pipeline", lambda *_a, **_k: pytest.fail("no reuse"))
    again = report(capsys, [str(moved), *args[1:]])  # same bytes: the store is reused
    assert again["store"] is not None
    (store,) = stores_dir(root / "cache").iterdir()
    rows = {(s, k): v for s, k, v in overview_rows(AnalysisSession(open_store(store)))}
    shown = rows[("store", "checkpoint at capture")]
    assert shown.startswith(f"{(root / 'model.pt').resolve()} (the path when captured")
    assert rows[("checkpoint", "path")] == str((root / "model.pt").resolve())
