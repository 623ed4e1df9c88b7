"""One .npy header reader for every array file (embeddings, caches, weights files).

A header whose declared length runs past the file, or past any real header, is
refused before it is read, through both entry points; everything else about a valid
header is numpy's own parse.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest

from alpha_tui.analysis.weights import load_weights
from alpha_tui.array_files import (
    MAX_HEADER_BYTES,
    NpyHeaderError,
    check_npy,
    declared_bytes,
    read_header,
)
from alpha_tui.errors import UserError


def _forged_length(version: int, length: int) -> bytes:
    size = struct.pack("<H" if version == 1 else "<I", length)
    return b"\x93NUMPY" + bytes([version, 0]) + size + b"{'descr': '<f8'" + b" " * 40


@pytest.mark.parametrize("version,length", [(1, 60000), (2, 2**32 - 1), (3, 2**31)])
def test_a_forged_header_length_is_refused_unread(
    tmp_path: Path, version: int, length: int
) -> None:
    data = _forged_length(version, length)

    class Counting(io.BytesIO):
        asked = 0

        def read(self, n=-1):
            Counting.asked = max(Counting.asked, n)
            return super().read(n)

    with pytest.raises(NpyHeaderError, match=f"declares {length:,} bytes"):
        read_header(Counting(data), len(data))
    assert Counting.asked <= 8  # magic and length only, never the declared header
    path = tmp_path / "w.npy"
    path.write_bytes(data)
    with pytest.raises(UserError, match=f"not a readable .npy array .*declares {length:,}"):
        check_npy(path)
    with pytest.raises(UserError, match=f"not a readable .npy file .*declares {length:,}"):
        load_weights(path)


@pytest.mark.parametrize(
    "array",
    [np.arange(5.0), np.ones((3, 4), np.float32), np.zeros((2, 0, 3), np.int16), np.int8(7)],
)
def test_valid_headers_match_numpy(array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, array)
    data = buf.getvalue()
    handle = io.BytesIO(data)
    shape, fortran, dtype = read_header(handle, len(data))
    assert (shape, fortran, dtype) == (array.shape, False, array.dtype)
    assert declared_bytes(shape, dtype) == array.nbytes == len(data) - handle.tell()


def test_header_cap_is_above_what_numpy_writes() -> None:
    buf = io.BytesIO()
    np.save(buf, np.zeros((1,) * 30))  # a long shape tuple: still a short header
    assert struct.unpack("<H", buf.getvalue()[8:10])[0] < MAX_HEADER_BYTES


def test_an_empty_array_with_huge_other_dims_is_refused(tmp_path: Path) -> None:
    """(2**40, 3, 0) holds no bytes, but listing it would build 2**40 lists."""
    path = tmp_path / "ids.npy"
    np.save(path, np.zeros((4, 3, 0)))
    path.write_bytes(path.read_bytes().replace(b"(4, 3, 0)", b"(1099511627776, 3, 0)"))
    with pytest.raises(UserError, match=r"empty, yet 3,298,534,883,328 rows of nothing"):
        check_npy(path)
    np.save(path, np.zeros((0, 768)))  # a real empty table: fine
    assert check_npy(path) == (0, 768)
