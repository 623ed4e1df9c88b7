"""Reading the weight vector of ``weighted:FILE`` without trusting the file.

A weights file is shared between people like any data file. A ``.npy`` header can
declare any shape over a few bytes of data, and numpy allocates what the header
says before it notices the data is missing; a text file can be gigabytes. So the
size is bounded first, a ``.npy`` header is read and checked against the file's
length and the gate width before anything is allocated, and only then is the data
read.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from alpha_tui.array_files import NpyHeaderError, declared_bytes, read_header
from alpha_tui.errors import UserError, shown

#: No gate is wider than a few thousand dims; 16 MiB holds a million float64 or a
#: long text file of them, and bounds what a hostile file can make us read.
MAX_WEIGHTS_BYTES = 16 * 2**20

HINT = "give a .npy, .txt or .csv file holding one number per gate dim"


def _fail(path: str | Path, what: str) -> UserError:
    return UserError(f"weights file '{shown(str(path))}' {what}; {HINT}")


def _is_vector(shape: tuple[int, ...]) -> bool:
    return sum(d > 1 for d in shape) <= 1


def _length_check(path: str | Path, n: int, expected: int | None) -> None:
    if expected is not None and n != expected:
        raise UserError(
            f"weights file '{shown(str(path))}' has {n} values but the gate has {expected} dims; "
            f"give exactly {expected} weights"
        )


def _read_npy(path: Path, size: int, expected: int | None, shown: str | Path) -> np.ndarray:
    with open(path, "rb") as fh:
        try:
            shape, _fortran, dtype = read_header(fh, size)
        except NpyHeaderError as exc:
            raise _fail(shown, f"is not a readable .npy file ({exc})") from None
        if dtype.hasobject or dtype.kind not in "biuf":
            raise _fail(shown, f"holds {dtype} values, not plain numbers")
        if not _is_vector(shape):
            raise _fail(shown, f"holds a {shape} array, not a vector")
        n = math.prod(shape)
        declared = declared_bytes(shape, dtype)
        available = size - fh.tell()
        if declared != available:
            raise _fail(
                shown,
                f"declares {n} values ({declared} bytes) but holds {available} bytes of data",
            )
        _length_check(shown, n, expected)
        data = np.fromfile(fh, dtype=dtype, count=n)
    if data.size != n:
        raise _fail(shown, "ended before its data")
    return data.reshape(-1)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_weights(path: str | Path, expected: int | None = None) -> np.ndarray:
    """The float64 weight vector in ``path``; with ``expected`` its length must match.

    Every problem is a one-line UserError; nothing larger than the file is allocated.
    """
    p = Path(str(path)).expanduser()
    try:
        if not p.is_file():
            raise _fail(path, "not found (or not a regular file)")
        size = p.stat().st_size
    except OSError as exc:
        raise _fail(path, f"cannot be read ({exc.strerror or exc})") from None
    if size > MAX_WEIGHTS_BYTES:
        raise _fail(path, f"is {size:,} bytes, more than {MAX_WEIGHTS_BYTES:,} for a weight vector")
    try:
        if p.suffix.lower() == ".npy":
            w = _read_npy(p, size, expected, path)
        else:
            with open(p, "rb") as fh:
                raw = fh.read(MAX_WEIGHTS_BYTES + 1)
            if len(raw) > MAX_WEIGHTS_BYTES:
                raise _fail(path, f"holds more than {MAX_WEIGHTS_BYTES:,} bytes")
            text = io.StringIO(raw.decode("utf-8", errors="strict"))
            delimiter = "," if p.suffix.lower() == ".csv" else None
            w = np.loadtxt(text, delimiter=delimiter, dtype=np.float64, ndmin=1)
    except UserError:
        raise
    except (OSError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise UserError(
            f"cannot read weights file '{shown(str(path))}' ({_first_line(exc)}); {HINT}"
        ) from None
    w = np.asarray(w, dtype=np.float64)
    if w.ndim > 1 and not _is_vector(w.shape):
        raise _fail(path, f"holds a {w.shape} array, not a vector")
    w = w.reshape(-1)
    if w.size == 0:
        raise _fail(path, "holds no values")
    if not np.all(np.isfinite(w)):
        raise _fail(path, "contains NaN or inf")
    _length_check(path, int(w.size), expected)
    return w
