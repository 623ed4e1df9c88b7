"""A .pt embeddings file is bounded by its size before torch allocates its storages.

torch's legacy format allocates each storage at the size its record declares before
reading it (``weights_only`` does not change that), so the record is forged here to
declare 2 GB over a file of under a kilobyte: the load must refuse it with one line
and never reach the ``weights_only`` ``torch.load``.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from alpha_tui.data import text_embeddings as te
from alpha_tui.errors import UserError

IDS = ("a", "b", "c")
WIDTH = 32


def _legacy_pt(vectors: dict[str, torch.Tensor]) -> bytes:
    buf = io.BytesIO()
    torch.save(vectors, buf, _use_new_zipfile_serialization=False)
    return buf.getvalue()


def _declaring(data: bytes, numel: int) -> bytes:
    """The first storage record's element count (the int after 'cpu') set to ``numel``."""
    at = data.index(b"cpu") + len(b"cpu")
    while data[at : at + 1] not in (b"K", b"M", b"J"):
        at += 1
    width = {b"K": 2, b"M": 3, b"J": 5}[data[at : at + 1]]
    old = int.from_bytes(data[at + 1 : at + width], "little")
    assert old == WIDTH  # the record of one vector of WIDTH floats
    return data[:at] + b"J" + struct.pack("<i", numel) + data[at + width :]


def test_valid_legacy_pt_still_loads(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    expected = rng.normal(size=(3, WIDTH)).astype(np.float32)
    path = tmp_path / "emb.pt"
    path.write_bytes(_legacy_pt({i: torch.from_numpy(expected[n]) for n, i in enumerate(IDS)}))
    out = te.load_embeddings_file(path, ["c", "a"], WIDTH)
    np.testing.assert_array_equal(out, expected[[2, 0]])


def test_tiny_pt_declaring_a_huge_storage_is_refused_before_torch_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _declaring(_legacy_pt({i: torch.zeros(WIDTH) for i in IDS}), 500_000_000)
    path = tmp_path / "emb.pt"
    path.write_bytes(data)
    assert path.stat().st_size < 2000  # declares 2,000,000,000 bytes

    real_load = torch.load

    def guarded(*args, **kwargs):  # the bounded dry run passes; the real load must not
        if kwargs.get("weights_only"):
            raise AssertionError("torch.load reached with a forged storage size")
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", guarded)
    with pytest.raises(UserError) as info:
        te.load_embeddings_file(path, list(IDS), WIDTH)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("text embeddings emb.pt declare more tensor data than")
    assert "2,000,000,000" in message and "truncated or forged" in message


def test_prescan_passes_a_valid_zip_pt_through(tmp_path: Path) -> None:
    path = tmp_path / "emb.pt"
    torch.save({i: torch.full((WIDTH,), float(n)) for n, i in enumerate(IDS)}, path)
    te.prescan_pt(path)  # no error
    out = te.load_embeddings_file(path, ["b"], WIDTH)
    np.testing.assert_array_equal(out, np.ones((1, WIDTH), np.float32))


def test_complex_pt_vectors_are_refused_not_cast(tmp_path: Path) -> None:
    """Casting complex to float drops the imaginary part (torch only warns)."""
    path = tmp_path / "emb.pt"
    torch.save({i: torch.ones(WIDTH, dtype=torch.complex64) * 1j for i in IDS}, path)
    with pytest.raises(UserError, match="'a' holds complex numbers; save real vectors"):
        te.load_embeddings_file(path, list(IDS), WIDTH)
