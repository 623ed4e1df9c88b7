"""Giving freed batch memory back to the operating system.

Each batch allocates tens of megabytes of line-graph tensors of a different size. On
glibc those frees stay in the process heap as fragments, so resident memory climbed
from 0.3 to 1.5 GB over the 455-crystal sample although nothing was kept. Trimming
the heap bounds that, but trimming after every batch made the pass ~30 % slower (the
next batch faults its pages back in), and a 256 MiB slack still cost ~30 % on the
sample; a 768 MiB slack was as fast as no trimming.

A constant slack is a bound independent of the dataset, but a small run may never
reach it while a 10x larger one does, so the peak still rose with the dataset. The
slack is now derived from the batches: twice the largest rise of resident memory across
one batch (at least 64 MiB), so the bound is about baseline + three batches, set by
``--batch-size`` and the largest crystals. Measured quietly (tests/benchmarks/
fig_memory.py, extract of 1,000 vs 10,000 crystals cycled from the sample in whole
batches): the peak went 459 -> 545 MiB (1.19), of which 59 MiB are the results held
until written; the stages around the capture give their freed heap back once each
(``give_back_heap``: the dataset's records before it, the precomputed reductions
after it); the per-batch policy trimmed once in each of those runs.
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


def give_back_heap() -> None:
    """Collect and trim once, between stages: what a stage freed stops counting as resident.

    Reading 10,000 crystals left 109 MiB resident of which this trim gave back 43-58, and
    the stored reductions' freed chunks 110 MiB (tests/benchmarks/extract_phases.py).
    """
    import gc

    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


FACTOR = 2.0  # slack in batches: the heap may hold this many of the largest batch's pages
FLOOR_MIB = 64.0  # below this a trim gives back less than the refaults cost


def describe_policy(factor: float = FACTOR, floor_mib: float = FLOOR_MIB) -> str:
    return (
        f"trim when RSS exceeds the post-trim baseline by max({floor_mib:g} MiB, "
        f"{factor:g} x the largest per-batch RSS rise)"
    )


@dataclass
class HeapTrimmer:
    """Call after each batch; trims once resident memory outgrew the baseline by the slack.

    ``slack_mib=None`` (the default) derives the slack from the batches themselves: the
    largest rise of resident memory across one batch (the first batch after a trim
    faults its whole transient in, so this is the batch's footprint) times ``factor``.
    The peak is then baseline + slack + one batch, set by the largest batch and the
    kept results, never by the number of crystals. A number fixes the slack.
    """

    slack_mib: float | None = None
    factor: float = FACTOR
    floor_mib: float = FLOOR_MIB
    baseline: float | None = None
    last: float | None = None
    largest_rise: float = 0.0
    trims: int = 0

    def __post_init__(self) -> None:
        if self.baseline is None:
            self.baseline = resident_mib()
        self.last = self.baseline

    def slack(self) -> float:
        if self.slack_mib is not None:
            return self.slack_mib
        return max(self.floor_mib, self.factor * self.largest_rise)

    def __call__(self) -> None:
        trim = _malloc_trim()
        now = resident_mib()
        if trim is None or now is None or self.baseline is None:
            return
        if self.last is not None:
            self.largest_rise = max(self.largest_rise, now - self.last)
        self.last = now
        if now - self.baseline > self.slack():
            trim(0)
            self.trims += 1
            self.baseline = self.last = resident_mib()
