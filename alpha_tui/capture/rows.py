"""Per-atom results written into their final arrays batch by batch.

Keeping one small array per batch and concatenating at the end holds every result
twice at the end of the pass (the pieces and the whole), which at 10^5 crystals is
hundreds of megabytes on top of the batch. Here each array is allocated once, at its
final size, when the first batch shows its width, and every batch writes its rows in
place: the pass holds the results once plus one batch. A row range no batch wrote is
an error, never uninitialised memory handed to the analysis.

With ``spill`` each array is a shared mapping of an unnamed temporary file, and
``release`` drops the rows already written from the process after each batch (they
stay in the file and the page cache, and read back as written). The results, 1.4 kB
per atom, were what grew with the dataset under the capture's batch peak (65 MiB at
10,000 sample crystals; about 1 GB for 76,000 crystals of 10 atoms). The file's space
is reserved when it is made, so a full disk is an OSError then, and the rows stay in
memory with a note, never a crash later (a sparse mapping would raise SIGBUS).
"""

from __future__ import annotations

import mmap
import os
import tempfile
from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np

from alpha_tui.data.row_file import held_note

PAGE = mmap.PAGESIZE


def spilled_empty(shape: tuple[int, ...], dtype: np.dtype) -> tuple[np.ndarray, mmap.mmap]:
    """An uninitialised array backed by an unnamed temporary file; OSError when the
    file or its space cannot be had. The array keeps the mapping (and so the file)."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    with tempfile.TemporaryFile(prefix="alpha-tui-rows-") as handle:
        os.posix_fallocate(handle.fileno(), 0, max(nbytes, 1))
        mapping = mmap.mmap(handle.fileno(), max(nbytes, 1))  # holds its own descriptor
    array = np.frombuffer(mapping, dtype=dtype, count=int(np.prod(shape))).reshape(shape)
    return array, mapping


@dataclass
class RowTable:
    """Arrays of ``n_rows`` rows keyed by name; ``put`` writes at the current offset."""

    n_rows: int
    offset: int = 0  # first row of the current batch
    spill: bool = False
    arrays: dict[Hashable, np.ndarray] = field(default_factory=dict)
    filled: dict[Hashable, int] = field(default_factory=dict)
    #: why the arrays are in memory although ``spill`` asked for files (None: they are not)
    held_error: OSError | None = None
    _maps: dict[Hashable, tuple[mmap.mmap, int]] = field(default_factory=dict)  # map, released

    def _allocate(self, key: Hashable, shape: tuple[int, ...]) -> np.ndarray:
        if self.spill and self.held_error is None:
            try:
                array, mapping = spilled_empty(shape, np.dtype(np.float32))
            except OSError as exc:
                self.held_error = exc
            else:
                self._maps[key] = (mapping, 0)
                return array
        return np.empty(shape, dtype=np.float32)

    def put(self, key: Hashable, block: np.ndarray) -> None:
        out = self.arrays.get(key)
        if out is None:
            out = self._allocate(key, (self.n_rows, *block.shape[1:]))
            self.arrays[key] = out
            self.filled[key] = 0
        stop = self.offset + block.shape[0]
        if stop > self.n_rows or block.shape[1:] != out.shape[1:]:
            raise ValueError(
                f"{key}: batch block {block.shape} at row {self.offset} does not fit {out.shape}"
            )
        out[self.offset : stop] = block
        self.filled[key] += block.shape[0]

    def release(self) -> None:
        """Drop the whole pages of rows before ``offset`` from this process (spilled
        arrays only); a page with rows still to come stays until a later call."""
        for key, (mapping, released) in self._maps.items():
            row_bytes = self.arrays[key].strides[0]
            done = self.offset * row_bytes // PAGE * PAGE
            if done > released:
                mapping.madvise(mmap.MADV_DONTNEED, released, done - released)
                self._maps[key] = (mapping, done)

    def held_note(self) -> str | None:
        """One line for the notes when ``spill`` fell back to memory, else None."""
        if self.held_error is None:
            return None
        nbytes = sum(a.nbytes for a in self.arrays.values())
        return held_note("the per-atom results are", nbytes, self.held_error)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.arrays

    def get(self, key: Hashable) -> np.ndarray:
        """The finished array; every row must have been written exactly once."""
        if self.filled[key] != self.n_rows:
            raise RuntimeError(f"{key}: {self.filled[key]} of {self.n_rows} rows were captured")
        return self.arrays[key]
