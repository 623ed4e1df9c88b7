"""Does a crystal's alpha track its target, and does it depend on crystal size?

Size matters because the mean over a crystal's atoms is itself an average: small
crystals scatter more, which can masquerade as a target trend.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SIZE_GROUPS: tuple[str, ...] = ("<10", "10-20", "20-50", "50-100", ">100")
#: Lower edges (inclusive) of the size groups; a crystal with n atoms belongs to the
#: last group whose edge is <= n, so 10 is "10-20" and 100 is ">100".
SIZE_EDGES: tuple[int, ...] = (0, 10, 20, 50, 100)
MIN_PAIRS = 3


@dataclass(frozen=True)
class SizeGroup:
    label: str
    count: int  # crystals in the group with a finite alpha
    mean: float | None
    std: float | None  # population std (ddof=0)

    def to_dict(self) -> dict:
        return {"label": self.label, "count": self.count, "mean": self.mean, "std": self.std}


@dataclass(frozen=True)
class AlphaTargetCorrelation:
    pearson_r: float | None  # None when < 3 finite pairs or a side has zero variance
    n: int  # finite (alpha, target) pairs used for r
    crystal_alpha: np.ndarray  # [C], may hold NaN
    targets: np.ndarray  # [C], may hold NaN
    size_groups: list[SizeGroup]

    @property
    def mask(self) -> np.ndarray:
        """Crystals with both a finite alpha and a finite target (the plotted points)."""
        return np.isfinite(self.crystal_alpha) & np.isfinite(self.targets)

    def to_dict(self) -> dict:
        return {
            "pearson_r": self.pearson_r,
            "n": self.n,
            "size_groups": [g.to_dict() for g in self.size_groups],
        }


def size_group_index(n_atoms: int) -> int:
    for i in range(len(SIZE_EDGES) - 1, -1, -1):
        if n_atoms >= SIZE_EDGES[i]:
            return i
    return 0


def pearson_r(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson r over finite pairs; None when undefined (too few pairs, zero variance)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    m = np.isfinite(x) & np.isfinite(y)
    if m.sum() < MIN_PAIRS:
        return None
    if np.ptp(x[m]) == 0 or np.ptp(y[m]) == 0:
        return None
    dx = x[m] - x[m].mean()
    dy = y[m] - y[m].mean()
    sxx, syy = float(dx @ dx), float(dy @ dy)
    r = float(dx @ dy) / math.sqrt(sxx * syy)
    return max(-1.0, min(1.0, r))


def size_groups(crystal_alpha: np.ndarray, atom_counts: np.ndarray) -> list[SizeGroup]:
    a = np.asarray(crystal_alpha, dtype=np.float64).reshape(-1)
    n = np.asarray(atom_counts).reshape(-1).astype(np.int64)
    groups = np.array([size_group_index(int(k)) for k in n], dtype=np.int64)
    out = []
    for gi, label in enumerate(SIZE_GROUPS):
        sel = a[(groups == gi) & np.isfinite(a)]
        if sel.size == 0:
            out.append(SizeGroup(label, 0, None, None))
        else:
            out.append(SizeGroup(label, int(sel.size), float(sel.mean()), float(sel.std())))
    return out


def alpha_target_correlation(
    crystal_alpha: np.ndarray, targets: np.ndarray, atom_counts: np.ndarray
) -> AlphaTargetCorrelation:
    a = np.asarray(crystal_alpha, dtype=np.float64).reshape(-1)
    t = np.asarray(targets, dtype=np.float64).reshape(-1)
    if a.shape != t.shape or a.shape[0] != np.asarray(atom_counts).reshape(-1).shape[0]:
        raise ValueError(
            "crystal_alpha, targets and atom_counts must all have one entry per crystal"
        )
    n = int((np.isfinite(a) & np.isfinite(t)).sum())
    return AlphaTargetCorrelation(
        pearson_r=pearson_r(a, t),
        n=n,
        crystal_alpha=a,
        targets=t,
        size_groups=size_groups(a, atom_counts),
    )
