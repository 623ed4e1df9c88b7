"""Per-crystal input rows (the text vectors) kept on disk and read one batch at a time.

The capture reads each crystal's text vector once, with its batch. Held in memory they
were the largest input that grows with the dataset: 768 float32 per crystal, 29 MiB at
10,000 crystals and 223 MiB at a 76,000-crystal dataset, all of it resident under the
capture's batch peak (``tests/benchmarks/extract_phases.py``). An unnamed temporary
file holds them instead: nothing is left behind however the process ends, and the page
cache, not the process, keeps what was read. Where the temporary folder is a tmpfs the
file is in RAM all the same (only no longer counted as the process's); TMPDIR moves it.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from typing import IO

import numpy as np

MIB = 1024 * 1024


class RowFile:
    """A read-only [rows, width] array whose rows are read from a file by slice.

    Supports what the capture and the text-effect runs do with the text: ``len``,
    ``shape``, ``dtype`` and contiguous slices (``rows[a:b]``), each a new array.
    """

    def __init__(self, handle: IO[bytes], shape: tuple[int, int], dtype: np.dtype) -> None:
        self._handle = handle
        self.shape = shape
        self.dtype = np.dtype(dtype)
        self._row_bytes = shape[1] * self.dtype.itemsize
        # closed with the last reference (a capture's input may outlive the capture in a
        # text-effect handle), never left to the garbage collector's ResourceWarning
        self._close = weakref.finalize(self, handle.close)

    @classmethod
    def spill(cls, array: np.ndarray, directory: str | None = None) -> RowFile:
        """Write ``array`` to an unnamed temporary file; OSError when that fails."""
        if array.ndim != 2:
            raise ValueError(f"rows must be 2-D, not shape {array.shape}")
        handle = tempfile.TemporaryFile(prefix="alpha-tui-rows-", dir=directory)
        try:
            handle.write(memoryview(np.ascontiguousarray(array)).cast("B"))  # no copy
            handle.flush()
        except BaseException:
            handle.close()
            raise
        return cls(handle, (int(array.shape[0]), int(array.shape[1])), array.dtype)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        return self.shape[0] * self._row_bytes

    def __getitem__(self, index: slice) -> np.ndarray:
        if not isinstance(index, slice):
            raise TypeError(f"RowFile reads contiguous slices, not {type(index).__name__}")
        start, stop, step = index.indices(self.shape[0])
        if step != 1:
            raise TypeError("RowFile reads contiguous slices (step 1)")
        out = np.empty((max(0, stop - start), self.shape[1]), dtype=self.dtype)
        if out.size:
            got = os.preadv(self._handle.fileno(), [out], start * self._row_bytes)
            if got != out.nbytes:
                raise OSError(f"read {got} of {out.nbytes} bytes of rows {start}:{stop}")
        return out

    def __array__(self, dtype: np.dtype | None = None, copy: bool | None = None) -> np.ndarray:
        """Every row, read now (np.asarray of the rows, as of an array)."""
        rows = self[:]
        return rows if dtype is None else rows.astype(dtype, copy=False)

    def close(self) -> None:
        self._close()


def held_note(what: str, nbytes: int, exc: OSError) -> str:
    """The one line saying data stayed in memory because no temporary file could be had
    (the text vectors here, the capture's per-atom results in capture/rows.py)."""
    return (
        f"{what} held in memory ({nbytes / MIB:.1f} MiB): no temporary file in "
        f"{tempfile.gettempdir()} ({exc.strerror or exc})"
    )


def spill_rows(array: np.ndarray, what: str) -> tuple[RowFile | np.ndarray, str | None]:
    """``array`` moved to a RowFile, or kept (with a one-line note why) when the
    temporary file cannot be written: the numbers are the same either way."""
    try:
        return RowFile.spill(array), None
    except OSError as exc:
        return array, held_note(what, array.nbytes, exc)
