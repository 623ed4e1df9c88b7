"""Giving freed batch memory back to the operating system.

Each batch allocates tens of megabytes of line-graph tensors of a different size. On
glibc those frees stay in the process heap as fragments, so resident memory climbed
from 0.3 to 1.5 GB over the 455-crystal sample although nothing was kept. Trimming
the heap bounds that, but trimming after every batch made the pass ~30 % slower (the
next batch faults its pages back in), and a 256 MiB slack still cost ~30 % on the
sample; with 768 MiB the pass is as fast as without hooks and the capture stage grows
resident memory by 0.15 GB instead of 1.1 GB (tests/benchmarks/run.py).
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

STATM = Path("/proc/self/statm")


@cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
        return None


def resident_mib() -> float | None:
    try:
        return int(STATM.read_text().split()[1]) * 4096 / 2**20
    except (OSError, ValueError, IndexError):
        return None


@dataclass
class HeapTrimmer:
    """Call after each batch; trims only when memory grew by ``slack_mib``."""

    slack_mib: float = 768.0
    baseline: float | None = None
    trims: int = 0

    def __post_init__(self) -> None:
        if self.baseline is None:
            self.baseline = resident_mib()

    def __call__(self) -> None:
        trim = _malloc_trim()
        now = resident_mib()
        if trim is None or now is None or self.baseline is None:
            return
        if now - self.baseline > self.slack_mib:
            trim(0)
            self.trims += 1
            self.baseline = resident_mib()
