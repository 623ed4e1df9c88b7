"""Checking what an ``.npy``/``.npz`` declares before numpy allocates it.

numpy allocates the array its header declares and only then reads the data, so a few
KiB that claim a terabyte cost a MemoryError (or the machine). Embeddings files and
``weighted:FILE`` come from other people; their headers are read here and checked
against the bytes actually present and the width the caller expects.
"""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path
from typing import IO

import numpy as np
from numpy.lib import format as npy_format

from alpha_tui.errors import UserError

__all__ = [
    "NpyHeaderError",
    "check_npy",
    "check_npz",
    "declared_array",
    "declared_bytes",
    "read_header",
]

_ZIP_ERRORS = (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError)

#: numpy's own headers are under 10 KiB; a length past this is a lie, refused unread
MAX_HEADER_BYTES = 1 << 16
#: an empty array's other dims (0 x 768 embeddings) stay far below this
MAX_EMPTY_SLOTS = 1 << 16


class NpyHeaderError(ValueError):
    """The header itself cannot be read; the message is the reason, one line."""


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_header(handle: IO[bytes], available: int) -> tuple[tuple[int, ...], bool, np.dtype]:
    """(shape, fortran_order, dtype) of an open .npy stream, positioned at its data.

    The one header reader of alpha-tui (embeddings, caches, weights files). numpy
    reads a header of whatever length the file declares; the length is checked here
    against ``available`` (the stream's total bytes) first, so a forged length costs
    nothing. Raises NpyHeaderError; the callers word the error for their file.
    """
    try:
        version = npy_format.read_magic(handle)
    except (ValueError, OSError, EOFError) as exc:
        raise NpyHeaderError(_reason(exc)) from None
    width = 2 if version == (1, 0) else 4
    size_bytes = handle.read(width)
    if len(size_bytes) != width:
        raise NpyHeaderError("the file ends inside the header length")
    length = int.from_bytes(size_bytes, "little")
    left = available - handle.tell()
    if length > min(left, MAX_HEADER_BYTES):
        raise NpyHeaderError(f"the header declares {length:,} bytes; at most {left:,} follow")
    header = handle.read(length)
    reader = (
        npy_format.read_array_header_1_0 if width == 2 else npy_format.read_array_header_2_0
    )
    try:
        shape, fortran, dtype = reader(io.BytesIO(size_bytes + header))
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        raise NpyHeaderError(_reason(exc)) from None
    return tuple(int(d) for d in shape), bool(fortran), dtype


def declared_bytes(shape: tuple[int, ...], dtype: np.dtype) -> int:
    """Bytes of data the header promises (Python ints: no overflow at any size)."""
    return math.prod(int(d) for d in shape) * dtype.itemsize


def declared_array(handle, available: int, label: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from an open .npy stream; UserError when the data cannot be there."""
    try:
        shape, _fortran, dtype = read_header(handle, available)
    except NpyHeaderError as exc:
        raise UserError(f"{label} is not a readable .npy array ({exc})") from None
    if dtype.hasobject:
        raise UserError(f"{label} holds Python objects; save plain numbers")
    need = declared_bytes(shape, dtype)
    left = available - handle.tell()
    if need > left:
        raise UserError(
            f"{label} declares shape {list(shape)} ({need:,} bytes) but holds only "
            f"{max(left, 0):,} bytes of data; the file is truncated or forged"
        )
    # A zero in the shape makes any other dims free in bytes, not in work: (2**40, 3, 0)
    # is empty, yet .tolist() builds 2**40 lists. Real empty arrays have small dims.
    slots = math.prod(d for d in shape if d)
    if need == 0 and slots > max(left, MAX_EMPTY_SLOTS):
        raise UserError(
            f"{label} declares shape {list(shape)}: empty, yet {slots:,} rows of nothing; "
            "the file is forged"
        )
    return shape, dtype


def check_npy(path: Path, *, width: int | None = None) -> tuple[int, ...]:
    """Shape of an .npy file, after its declared size was checked against the file."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        shape, _ = declared_array(handle, size, path.name)
    _check_width(path.name, shape, width)
    return shape


def check_npz(path: Path, *, width: int | None = None) -> dict[str, tuple[int, ...]]:
    """Shapes of an .npz's members (by name without .npy), each checked like an .npy."""
    try:
        with zipfile.ZipFile(path) as archive:
            shapes: dict[str, tuple[int, ...]] = {}
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                label = f"{path.name}:{info.filename}"
                if info.file_size > 1100 * max(info.compress_size, 1):
                    raise UserError(f"{label} declares an impossible uncompressed size")
                with archive.open(info) as handle:
                    shape, _ = declared_array(handle, info.file_size, label)
                shapes[info.filename[: -len(".npy")]] = shape
    except _ZIP_ERRORS as exc:
        raise UserError(f"cannot read {path.name}: not a readable .npz archive ({exc})") from None
    if width is not None and "embeddings" in shapes:
        _check_width(f"{path.name}:embeddings", shapes["embeddings"], width)
    return shapes


def _check_width(label: str, shape: tuple[int, ...], width: int | None) -> None:
    if width is not None and shape and shape[-1] != width:
        raise UserError(f"{label} has width {shape[-1]} (shape {list(shape)}); expected {width}")
