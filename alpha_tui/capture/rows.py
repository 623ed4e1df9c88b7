"""Per-atom results written into their final arrays batch by batch.

Keeping one small array per batch and concatenating at the end holds every result
twice at the end of the pass (the pieces and the whole), which at 10^5 crystals is
hundreds of megabytes on top of the batch. Here each array is allocated once, at its
final size, when the first batch shows its width, and every batch writes its rows in
place: the pass holds the results once plus one batch. A row range no batch wrote is
an error, never uninitialised memory handed to the analysis.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class RowTable:
    """Arrays of ``n_rows`` rows keyed by name; ``put`` writes at the current offset."""

    n_rows: int
    offset: int = 0  # first row of the current batch
    arrays: dict[Hashable, np.ndarray] = field(default_factory=dict)
    filled: dict[Hashable, int] = field(default_factory=dict)

    def put(self, key: Hashable, block: np.ndarray) -> None:
        out = self.arrays.get(key)
        if out is None:
            out = np.empty((self.n_rows, *block.shape[1:]), dtype=np.float32)
            self.arrays[key] = out
            self.filled[key] = 0
        stop = self.offset + block.shape[0]
        if stop > self.n_rows or block.shape[1:] != out.shape[1:]:
            raise ValueError(
                f"{key}: batch block {block.shape} at row {self.offset} does not fit {out.shape}"
            )
        out[self.offset : stop] = block
        self.filled[key] += block.shape[0]

    def __contains__(self, key: Hashable) -> bool:
        return key in self.arrays

    def get(self, key: Hashable) -> np.ndarray:
        """The finished array; every row must have been written exactly once."""
        if self.filled[key] != self.n_rows:
            raise RuntimeError(f"{key}: {self.filled[key]} of {self.n_rows} rows were captured")
        return self.arrays[key]
