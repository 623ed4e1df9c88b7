"""End to end through the CLI on a closed-form checkpoint: report --json and export.

The checkpoint is saved in the users' layout and read back from disk through the
safe loader, the dataset is CIF files plus description.csv, the text comes from an
npz file. Every number asserted is derived independently in closed_form.py.
"""

from __future__ import annotations

import csv
import json

import crystal_factory as cf
import numpy as np
import pytest
import torch
from closed_form import H, closed_form_checkpoint, cos

from alpha_tui.cli import main

pytestmark = pytest.mark.both_lanes  # also run by make test-dgl (torch 2.2, numpy<2)

FUSION = "middle_fusion_modules.layer_2"
CRYSTALS = {
    "NaCl": (cf.rocksalt, 0.0),
    "GaAs": (cf.zincblende, 1.42),
    "SrTiO3": (cf.perovskite, 3.25),
    "Cu": (cf.fcc_primitive, 0.0),
    "ZnO": (cf.wurtzite, 3.37),
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    form = closed_form_checkpoint()
    ckpt = root / "model.pt"
    torch.save({"config": form.config.to_dict(), "model": form.state_dict, "epoch": 3}, ckpt)
    data = root / "data"
    rows = [["id", "formula", "target", "text", "source"]]
    for name, (builder, gap) in CRYSTALS.items():
        cf.write_cif(builder(), data / "cif" / f"{name}.cif")
        rows.append([name, name, str(gap), f"{name} is a crystal.", "test"])
    rows.append(["Missing", "X", "1.0", "no CIF for this one", "test"])
    rows.append(["BadTarget", "NaCl", "n/a", "bad", "test"])
    cf.write_cif(cf.rocksalt(), data / "cif" / "BadTarget.cif")
    with open(data / "description.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    rng = np.random.default_rng(0)
    emb = root / "emb.npz"
    np.savez(
        emb,
        ids=np.array(list(CRYSTALS)),
        embeddings=rng.normal(size=(len(CRYSTALS), form.config.text_input_features)),
    )
    args = [str(ckpt), "--data", str(data), "--text-embeddings", str(emb)]
    args += ["--cache-dir", str(root / "cache"), "--backend", "native"]
    return form, root, args


def run_json(capsys, args):
    code = main(args)
    out = capsys.readouterr().out
    assert code == 0
    return json.loads(out)


def test_report_json_has_closed_form_numbers(setup, capsys):
    form, _, args = setup
    report = run_json(capsys, ["report", *args, "--json", "--reduction", "max"])
    assert report["schema"] == "alpha-tui.report/2"
    assert report["checkpoint"]["config_source"] == "checkpoint"
    assert len(report["checkpoint"]["sha256"]) == 64
    assert report["n_crystals"] == len(CRYSTALS)
    assert report["backend"] == "native" and report["device"] == "cpu"
    skipped = {(p["kind"], p["id"]) for p in report["problems"]}
    assert ("skipped-row", "Missing") in skipped and ("skipped-row", "BadTarget") in skipped
    assert report["fusion_modules"] == [FUSION]
    mean = report["alpha"][FUSION]["mean"]
    assert mean["mean"] == pytest.approx(form.alpha.mean(), abs=1e-6)
    assert mean["std"] == pytest.approx(0.0, abs=1e-6)
    top = report["alpha"][FUSION]["max"]
    assert top["mean"] == pytest.approx(form.alpha.max(), abs=1e-6)
    assert top["graph_heavy_share"] == 1.0  # max(sigmoid(b)) = sigmoid(3) > 0.7
    collapse = report["collapse"][FUSION]
    assert collapse["gate_std"] == pytest.approx(form.alpha.std(), rel=1e-4)
    # the same gate for every atom: all the pooled spread is between dimensions (issue 8 §5)
    assert collapse["expected_std"] == pytest.approx(0.0, abs=1e-6)
    assert collapse["between_dim_share"] == pytest.approx(1.0, abs=1e-6)
    assert collapse["verdict_kind"] == "no-variation"
    assert "no per-atom variation" in collapse["verdict"]
    dims = report["dims"][FUSION]
    # sigmoid(b), b = linspace(-3, 3): only sigmoid(3) > 0.95 and sigmoid(-3) < 0.05
    assert dims["counts"] == {"open": 1, "shut": 1, "varying": H - 2}
    assert [r["dim"] for r in dims["per_dim"]] == list(range(H))  # means rise with b
    assert dims["per_dim"][3]["mean"] == pytest.approx(form.alpha[3], abs=1e-6)
    assert dims["top_eigenvalues"][0] == pytest.approx(0.0, abs=1e-10)
    assert dims["participation_ratio"] is None  # no covariance at all
    sb = dims["scale_balance"]
    x_norm, t_norm = np.linalg.norm(form.x0), np.linalg.norm(form.v)
    assert sb["x_norm"]["median"] == pytest.approx(x_norm, rel=1e-5)
    assert sb["t_norm"]["median"] == pytest.approx(t_norm, rel=1e-5)
    assert sb["injected_norm"]["mean"] == pytest.approx(
        np.linalg.norm(form.alpha * form.v), rel=1e-5
    )
    assert sb["equalising_text_scale"] == pytest.approx(x_norm / t_norm, rel=1e-5)
    assert sb["text_scale"] is None
    # LayerNorm weight 0, bias w: LN(x) = w = out, so the text changed nothing after it
    assert sb["ln_change"]["p95"] == pytest.approx(0.0, abs=1e-5)
    layers = report["layers"]
    projection = [r for r in layers if r["text_source"] == "text_projection"]
    transform = [r for r in layers if r["text_source"] == f"{FUSION}.text_transform"]
    assert len(projection) == len(transform) == 9
    for row in projection:
        assert row["status"] == "SKIPPED"
        assert (row["layer_width"], row["text_width"]) == (H, 64)
        assert row["cos_mean"] is None and row["null_mean"] is None
    before = {"alignn_layers.0", "alignn_layers.1", "alignn_layers.2"}
    for row in transform:
        assert row["status"] == "MATCH" and row["layer_width"] == row["text_width"] == H
        x = form.x0 if row["layer"] in before else form.w
        assert row["cos_mean"] == pytest.approx(cos(x, form.v), abs=1e-5)
        assert row["cos_std"] == pytest.approx(0.0, abs=1e-5)
        assert row["layer_norm_mean"] == pytest.approx(np.linalg.norm(x), rel=1e-5)
        assert row["text_norm_mean"] == pytest.approx(np.linalg.norm(form.v), rel=1e-5)
    symbols = {e["symbol"] for e in report["elements"]}
    assert {"Na", "Cl", "Ga", "As", "Sr", "Ti", "O", "Cu", "Zn"} <= symbols
    for e in report["elements"]:
        assert e["mean"] == pytest.approx(form.alpha.max(), abs=1e-6)


def test_text_report_names_the_mismatch(setup, capsys):
    _, _, args = setup
    assert main(["report", *args]) == 0
    out = capsys.readouterr().out
    assert "SKIPPED(16≠64)" in out
    assert "collapse" in out and "Missing" in out
    assert "no per-atom variation" in out and f"N_eff n/a of {H}" in out
    assert "text scale that would equalise norms" in out and "current: none, i.e. 1" in out


def test_export_npz_round_trips(setup, tmp_path, capsys):
    form, _, args = setup
    out = tmp_path / "alpha_values.npz"
    assert main(["export", *args, "--out", str(out), "--reduction", "dim:5"]) == 0
    data = np.load(out, allow_pickle=True)
    assert list(data["jids"]) == list(CRYSTALS)
    assert str(data["reduction"]) == "dim:5"
    assert len(data["alphas"]) == len(CRYSTALS)
    for alphas, types in zip(data["alphas"], data["atom_types"], strict=True):
        assert len(alphas) == len(types)
        np.testing.assert_allclose(alphas, form.alpha[5], atol=1e-6)
    np.testing.assert_allclose(data["targets"], [g for _, g in CRYSTALS.values()])
    # never overwrites without --force
    assert main(["export", *args, "--out", str(out)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["export", *args, "--out", str(out), "--force"]) == 0


def test_export_csv_one_row_per_atom(setup, tmp_path):
    form, _, args = setup
    out = tmp_path / "alpha.csv"
    assert main(["export", *args, "--out", str(out)]) == 0
    with open(out) as fh:
        rows = list(csv.DictReader(fh))
    assert {r["crystal_id"] for r in rows} == set(CRYSTALS)
    for row in rows:
        assert float(row["alpha"]) == pytest.approx(form.alpha.mean(), abs=1e-6)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["report", "/nonexistent/model.pt", "--data", "."], "does not exist"),
        (["report", "{tmp}", "--data", "."], "directory"),
        (["report", "{empty}", "--data", "."], "empty"),
    ],
)
def test_bad_input_is_one_line_exit_2(argv, fragment, tmp_path, capsys):
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    argv = [a.format(tmp=tmp_path, empty=empty) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("alpha-tui: error:")
    assert fragment in err.lower()
    assert "Traceback" not in err


def test_no_terminal_hints_report(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert main(["/nonexistent.pt"]) == 2
    assert "alpha-tui report" in capsys.readouterr().err


def test_bare_state_dict_report_states_the_assumed_settings(setup, tmp_path, capsys):
    form, _, args = setup
    bare = tmp_path / "bare.pt"
    torch.save(form.state_dict, bare)
    report = run_json(capsys, ["report", str(bare), *args[1:], "--json"])
    assert report["checkpoint"]["config_source"] == "inferred"
    link = "predictions assume link=identity (no output transform): no config found"
    assert report["assumptions"][0] == link
    assert report["assumptions"][1].startswith("predictions assume classification=False")
    assert main(["report", str(bare), *args[1:]]) == 0
    assert f"ASSUMED     {link}" in capsys.readouterr().out.splitlines()


def test_report_with_a_full_config_assumes_nothing(setup, capsys):
    _, _, args = setup
    assert run_json(capsys, ["report", *args, "--json"])["assumptions"] == []


def test_graph_canonize_flag_reaches_the_graphs_and_the_report(setup, capsys):
    _, _, args = setup
    default = run_json(capsys, ["report", *args, "--json"])
    assert default["data"]["graph_canonize"] is True
    report = run_json(capsys, ["report", *args, "--json", "--graph-canonize", "false"])
    assert report["data"]["graph_canonize"] is False
    assert main(["report", *args, "--graph-canonize", "false"]) == 0
    out = capsys.readouterr().out
    assert "graphs      jarvis use_canonize=False (as the extraction scripts" in out


@pytest.mark.parametrize(
    "reduction, fragment",
    [
        (f"dim:{H}", f"dim:{H} is out of range: the gate has {H} dims"),
        (f"topk-mean:{H + 1}", f"use 1..{H}"),
        ("quantile:1.5", "quantile must be in [0, 1]"),
        ("weighted:{short}", f"but the gate has {H} dims"),
    ],
)
def test_impossible_reduction_is_one_line_exit_2(setup, reduction, fragment, tmp_path, capsys):
    """--reduction goes through the same rule as the picker (validate_reduction)."""
    _, _, args = setup
    short = tmp_path / "short.npy"
    np.save(short, np.ones(H - 1))
    assert main(["report", *args, "--reduction", reduction.format(short=short)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("alpha-tui: error:")
    assert fragment in err and "Traceback" not in err
