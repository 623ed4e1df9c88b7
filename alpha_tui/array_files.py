"""Checking what an ``.npy``/``.npz`` declares before numpy allocates it.

numpy allocates the array its header declares and only then reads the data, so a few
KiB that claim a terabyte cost a MemoryError (or the machine). Embeddings files and
``weighted:FILE`` come from other people; their headers are read here and checked
against the bytes actually present and the width the caller expects.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
from numpy.lib import format as npy_format

from alpha_tui.errors import UserError

__all__ = ["check_npy", "check_npz", "declared_array"]

_ZIP_ERRORS = (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError)


def declared_array(handle, available: int, label: str) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) from an open .npy stream; UserError when the data cannot be there."""
    try:
        version = npy_format.read_magic(handle)
        reader = (
            npy_format.read_array_header_1_0
            if version == (1, 0)
            else npy_format.read_array_header_2_0
        )
        shape, _fortran, dtype = reader(handle)
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{label} is not a readable .npy array ({reason})") from None
    if dtype.hasobject:
        raise UserError(f"{label} holds Python objects; save plain numbers")
    count = 1
    for dim in shape:
        count *= int(dim)
    need = count * dtype.itemsize
    left = available - handle.tell()
    if need > left:
        raise UserError(
            f"{label} declares shape {list(shape)} ({need:,} bytes) but holds only "
            f"{max(left, 0):,} bytes of data; the file is truncated or forged"
        )
    return tuple(int(d) for d in shape), dtype


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
