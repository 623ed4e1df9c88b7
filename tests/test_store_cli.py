"""Store round trip through the CLI on the closed-form checkpoint.

extract -> report/export STORE equals report/export on checkpoint + data, number for
number; the second open of the same inputs reads the automatic store and runs no
model; opening a store imports neither torch nor jarvis.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import crystal_factory as cf
import numpy as np
import pytest
import torch
from closed_form import closed_form_checkpoint

import alpha_tui.capture.pipeline as pipeline
from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.cli import main
from alpha_tui.store.reader import open_store

CRYSTALS = {
    "NaCl": cf.rocksalt, "GaAs": cf.zincblende, "SrTiO3": cf.perovskite, "Cu": cf.fcc_primitive
}  # fmt: skip


@pytest.fixture
def setup(tmp_path):
    form = closed_form_checkpoint()
    ckpt = tmp_path / "model.pt"
    torch.save({"config": form.config.to_dict(), "model": form.state_dict}, ckpt)
    data = tmp_path / "data"
    rows = [["id", "formula", "target", "text", "source"]]
    for i, (name, builder) in enumerate(CRYSTALS.items()):
        cf.write_cif(builder(), data / "cif" / f"{name}.cif")
        rows.append([name, name, str(0.5 * i), f"{name} is a crystal.", "test"])
    rows.append(["Missing", "X", "1.0", "no CIF for this one", "test"])
    with open(data / "description.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    emb = tmp_path / "emb.npz"
    rng = np.random.default_rng(1)
    width = form.config.text_input_features
    np.savez(emb, ids=np.array(list(CRYSTALS)), embeddings=rng.normal(size=(len(CRYSTALS), width)))
    args = [str(ckpt), "--data", str(data), "--text-embeddings", str(emb)]
    args += ["--cache-dir", str(tmp_path / "cache"), "--backend", "native"]
    return tmp_path, args


def run_json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_extract_then_report_equals_report_on_checkpoint(setup, capsys):
    root, args = setup
    store = root / "store"
    assert main(["extract", *args, "--out", str(store)]) == 0
    assert f"wrote {store}" in capsys.readouterr().out
    fresh = run_json(capsys, ["report", *args, "--json", "--recapture", "--reduction", "max"])
    from_store = run_json(capsys, ["report", str(store), "--json", "--reduction", "max"])
    assert fresh.pop("store") is None
    assert from_store.pop("store")["path"] == str(store)
    assert from_store == fresh  # every other key, every number
    assert from_store["n_crystals"] == len(CRYSTALS)
    assert ("skipped-row", "Missing") in {(p["kind"], p["id"]) for p in from_store["problems"]}
    # extract refuses to overwrite without --force
    assert main(["extract", *args, "--out", str(store)]) == 2
    assert "--force" in capsys.readouterr().err


def test_export_from_store_equals_export_from_checkpoint(setup, capsys):
    root, args = setup
    store = root / "store"
    assert main(["extract", *args, "--out", str(store)]) == 0
    a, b = root / "a.npz", root / "b.npz"
    assert main(["export", *args, "--out", str(a), "--reduction", "dim:3"]) == 0
    assert main(["export", str(store), "--out", str(b), "--reduction", "dim:3"]) == 0
    left, right = np.load(a, allow_pickle=True), np.load(b, allow_pickle=True)
    assert sorted(left.files) == sorted(right.files)
    for key in left.files:
        for x, y in zip(np.atleast_1d(left[key]), np.atleast_1d(right[key]), strict=True):
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_second_open_reuses_the_store_and_runs_no_model(setup, capsys, monkeypatch):
    root, args = setup
    first = run_json(capsys, ["report", *args, "--json"])
    (store,) = (root / "cache" / "stores").iterdir()

    def no_model(*_a, **_k):
        raise AssertionError("the model ran although a store of these inputs exists")

    monkeypatch.setattr(pipeline, "run_pipeline", no_model)
    second = run_json(capsys, ["report", *args, "--json"])
    assert first.pop("store") is None and second.pop("store")["path"] == str(store)
    assert second == first
    with pytest.raises(AssertionError, match="the model ran"):
        main(["report", *args, "--json", "--recapture"])
    # a different limit is a different key: it must not be served the old store
    with pytest.raises(AssertionError, match="the model ran"):
        main(["report", *args, "--json", "--limit", "2"])
    pytest.importorskip("textual")  # the Overview's rows; the DGL lane has no textual
    from alpha_tui.tui.panes.overview import overview_rows

    session = AnalysisSession(open_store(store))
    rows = {(section, key): value for section, key, value in overview_rows(session)}
    assert overview_rows(session)[0][:2] == ("store", "activations")
    source = rows[("store", "activations")]
    assert source.startswith(f"from store {store}, captured 20") and source.endswith(" on cpu")


def test_damaged_automatic_store_is_recaptured_with_a_note(setup, capsys):
    root, args = setup
    first = run_json(capsys, ["report", *args, "--json"])
    (store,) = (root / "cache" / "stores").iterdir()
    (store / "arrays" / "atomic_numbers.npy").unlink()
    second = run_json(capsys, ["report", *args, "--json"])
    assert any("recaptured" in n and "atomic_numbers.npy" in n for n in second["notes"])
    assert second["alpha"] == first["alpha"] and second["layers"] == first["layers"]
    assert open_store(store).n_crystals == len(CRYSTALS)  # rewritten whole


def test_damaged_explicit_store_is_one_line_exit_2(setup, capsys):
    root, args = setup
    store = root / "store"
    assert main(["extract", *args, "--out", str(store)]) == 0
    capsys.readouterr()
    target = store / "arrays" / "targets.npy"
    target.write_bytes(target.read_bytes()[:-4])
    assert main(["report", str(store)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(target) in err and "Traceback" not in err
    assert main(["report", str(root / "data")]) == 2  # a folder that is no store
    assert "not an alpha-tui store" in capsys.readouterr().err


def test_cache_list_and_clear(setup, capsys):
    root, args = setup
    cache_dir = root / "cache"
    assert main(["cache", "list", "--cache-dir", str(cache_dir)]) == 0
    assert "no stores" in capsys.readouterr().out
    run_json(capsys, ["report", *args, "--json"])
    assert main(["cache", "list", "--cache-dir", str(cache_dir)]) == 0
    out = capsys.readouterr().out
    assert "complete" in out and "model.pt" in out and "4 crystals" in out and "1 stores" in out
    assert main(["cache", "clear", "--cache-dir", str(cache_dir)]) == 0
    assert "removed 1 stores" in capsys.readouterr().out
    assert not any((cache_dir / "stores").iterdir())


def test_opening_a_store_imports_no_torch_and_no_jarvis(setup, capsys):
    root, args = setup
    store = root / "store"
    assert main(["extract", *args, "--out", str(store)]) == 0
    capsys.readouterr()
    run_json(capsys, ["report", *args, "--json"])  # fills the automatic store
    code = (
        "import sys, io, contextlib\n"
        "from alpha_tui.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    assert main(['report', {str(store)!r}, '--json']) == 0\n"
        f"    assert main(['export', {str(store)!r}, '--out', {str(root / 'x.csv')!r}]) == 0\n"
        f"    assert main(['report', *{args!r}]) == 0\n"  # an automatic-store hit
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'jarvis', 'dgl'))\n"
        "print(bad[:5])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert out.strip() == "[]"


def counting(real, calls):
    def run(options, *a, **k):
        calls.append(options.shard)
        return real(options, *a, **k)

    return run


def _arrays(store):
    manifest = json.loads((store / "manifest.json").read_text())
    return {n: np.load(store / n) for n in manifest["files"] if n.endswith(".npy")}


def test_sharded_extract_equals_one_pass_and_resumes(setup, capsys, monkeypatch):
    root, args = setup
    args = [*args, "--batch-size", "1"]  # 4 crystals: 4 batches, 3 shards of 1-2 batches
    plain, sharded = root / "plain", root / "sharded"
    assert main(["extract", *args, "--out", str(plain)]) == 0
    real = pipeline.run_pipeline
    calls = []

    def crash_on_second(options, *a, **k):
        calls.append(options.shard)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the job was killed while shard 1 was captured
        return real(options, *a, **k)

    monkeypatch.setattr(pipeline, "run_pipeline", crash_on_second)
    assert main(["extract", *args, "--out", str(sharded), "--shards", "3"]) == 130
    assert not sharded.exists()
    shard_dir = root / ".shards-sharded"
    assert sorted(p.name for p in shard_dir.iterdir() if not p.name.startswith(".")) == [
        "shard-00000-of-00003"
    ]
    # resume keeps shard 0 (checksums verified) and captures 1 and 2 only
    calls.clear()
    monkeypatch.setattr(pipeline, "run_pipeline", counting(real, calls))
    assert main(["extract", *args, "--out", str(sharded), "--shards", "3", "--resume"]) == 0
    assert calls == [(1, 3), (2, 3)]
    assert not shard_dir.exists()
    a, b = _arrays(plain), _arrays(sharded)
    assert list(a) == list(b)
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].tobytes() == b[name].tobytes(), name
    capsys.readouterr()
    fresh = run_json(capsys, ["report", str(plain), "--json"])
    merged = run_json(capsys, ["report", str(sharded), "--json"])
    assert merged["notes"][-1] == "extracted in 3 shards, merged in order"
    for doc in (fresh, merged):
        doc.pop("store")
        doc["notes"] = doc["notes"][: len(fresh["notes"])]
    assert merged == fresh


def test_resume_recaptures_a_damaged_shard(setup, monkeypatch):
    root, args = setup
    args = [*args, "--batch-size", "2"]
    out = root / "s"
    real = pipeline.run_pipeline
    calls = []

    def crash_on_second(options, *a, **k):
        calls.append(options.shard)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(options, *a, **k)

    monkeypatch.setattr(pipeline, "run_pipeline", crash_on_second)
    assert main(["extract", *args, "--out", str(out), "--shards", "2"]) == 130
    shard = root / ".shards-s" / "shard-00000-of-00002"
    gate = next((shard / "arrays").glob("gates.*.npy"))
    data = bytearray(gate.read_bytes())
    data[-1] ^= 0x01
    gate.write_bytes(bytes(data))  # same size: only the checksum can tell
    calls.clear()
    monkeypatch.setattr(pipeline, "run_pipeline", counting(real, calls))
    assert main(["extract", *args, "--out", str(out), "--shards", "2", "--resume"]) == 0
    assert calls == [(0, 2), (1, 2)]  # the damaged shard was captured again
    assert open_store(out).n_crystals == len(CRYSTALS)
