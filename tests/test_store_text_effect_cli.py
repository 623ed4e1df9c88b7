"""``report --text-effect`` keeps its re-runs in the store: the reopen needs no model.

The first report captures (automatic store) and runs the counterfactuals; the second
report opens the store folder itself, which holds no model, and must give the same
text-effect section number for number without running anything.
"""

from __future__ import annotations

import json

import pytest
import test_store_cli

import alpha_tui.capture.patching as patching
import alpha_tui.capture.pipeline as pipeline
from alpha_tui.cli import main
from alpha_tui.store.index import stores_dir

setup = test_store_cli.setup  # the same closed-form checkpoint and data folder


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
