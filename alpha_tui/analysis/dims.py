"""What the H gate dimensions do across atoms (the Dims pane and report ``dims``).

A dim that is > 0.95 for 99 % of atoms is "always open" and one < 0.05 for 99 % is
"always shut": neither can tell atoms apart, however many of them there are. The
covariance spectrum says how many directions the varying ones actually span.
The heat map samples atoms evenly along their pc1 score and averages neighbouring
dims (ordered by mean) into columns, so any width shows the whole gate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alpha_tui.analysis.elements import element_symbol
from alpha_tui.analysis.gate_moments import GateMoments, covariance_spectrum, participation_ratio
from alpha_tui.analysis.reductions import iter_chunks
from alpha_tui.analysis.statistics import Histogram, histogram

OPEN_ABOVE = 0.95
SHUT_BELOW = 0.05
ALWAYS_SHARE = 0.99
OPEN, SHUT, VARYING = "open", "shut", "varying"
TOP_EIGENVALUES = 10


@dataclass(frozen=True)
class DimStats:
    hidden: int
    n_atoms: int
    mean: np.ndarray  # [H] over atoms
    std: np.ndarray  # [H] over atoms (ddof=0)
    open_share: np.ndarray  # [H] share of atoms with gate > OPEN_ABOVE
    shut_share: np.ndarray  # [H] share of atoms with gate < SHUT_BELOW
    kind: tuple[str, ...]  # [H] open | shut | varying
    order: np.ndarray  # [H] dims sorted by mean (ascending)
    eigenvalues: np.ndarray  # [H] covariance spectrum, largest first
    participation_ratio: float

    @property
    def counts(self) -> dict[str, int]:
        return {k: self.kind.count(k) for k in (OPEN, SHUT, VARYING)}

    @property
    def top_share(self) -> float:
        """Share of the total variance on the first principal direction."""
        total = float(self.eigenvalues.sum())
        return float(self.eigenvalues[0]) / total if total > 0 else float("nan")

    def to_dict(self) -> dict:
        return {
            "hidden": self.hidden,
            "n_atoms": self.n_atoms,
            "thresholds": {
                "open_above": OPEN_ABOVE,
                "shut_below": SHUT_BELOW,
                "atom_share": ALWAYS_SHARE,
            },  # fmt: skip
            "counts": self.counts,
            "participation_ratio": self.participation_ratio,
            "top_eigenvalues": self.eigenvalues[:TOP_EIGENVALUES].tolist(),
            "top_share": self.top_share,
            "per_dim": [
                {
                    "dim": int(d),
                    "mean": float(self.mean[d]),
                    "std": float(self.std[d]),
                    "open_share": float(self.open_share[d]),
                    "shut_share": float(self.shut_share[d]),
                    "kind": self.kind[d],
                }
                for d in self.order
            ],
        }


def dim_stats(gates: np.ndarray, moments: GateMoments) -> DimStats:
    g = np.asarray(gates)
    n, h = g.shape
    above = np.zeros(h, dtype=np.int64)
    below = np.zeros(h, dtype=np.int64)
    for sl in iter_chunks(n):
        x = np.asarray(g[sl])
        above += (x > OPEN_ABOVE).sum(axis=0)
        below += (x < SHUT_BELOW).sum(axis=0)
    denom = max(n, 1)
    open_share, shut_share = above / denom, below / denom
    kind = tuple(
        OPEN if o >= ALWAYS_SHARE else SHUT if s >= ALWAYS_SHARE else VARYING
        for o, s in zip(open_share.tolist(), shut_share.tolist(), strict=True)
    )
    return DimStats(
        hidden=h,
        n_atoms=n,
        mean=np.asarray(moments.col_mean),
        std=np.sqrt(moments.col_var),
        open_share=open_share,
        shut_share=shut_share,
        kind=kind,
        order=np.argsort(moments.col_mean, kind="stable"),
        eigenvalues=covariance_spectrum(moments),
        participation_ratio=participation_ratio(moments.cov),
    )


@dataclass(frozen=True)
class HeatMap:
    values: np.ndarray  # [rows, cols] mean gate of the column's dims for the row's atom
    atoms: np.ndarray  # [rows] atom index of each row, in increasing pc1
    dim_groups: list[np.ndarray]  # [cols] the dims averaged in each column, by mean


def rank_atoms(pc1: np.ndarray) -> np.ndarray:
    """Atoms by rising pc1 score (NaN as 0); sorted once, the heat map redraws often."""
    return np.argsort(np.nan_to_num(np.asarray(pc1), nan=0.0), kind="stable")


def heat_map(
    gates: np.ndarray, ranked: np.ndarray, order: np.ndarray, rows: int, cols: int
) -> HeatMap:
    """``ranked`` is ``rank_atoms(pc1)``; rows are atoms at evenly spaced pc1 ranks."""
    n, h = np.asarray(gates).shape
    rows, cols = max(1, min(rows, n)), max(1, min(cols, h))
    atoms = ranked[np.round(np.linspace(0, n - 1, rows)).astype(np.int64)] if n else ranked
    picked = np.asarray(gates)[atoms].astype(np.float64)
    groups = np.array_split(np.asarray(order), cols)
    values = np.stack([picked[:, grp].mean(axis=1) for grp in groups], axis=1)
    return HeatMap(values, atoms, groups)


@dataclass(frozen=True)
class DimElement:
    symbol: str
    z: int
    count: int
    mean: float  # mean gate at this dim over the element's atoms
    open_share: float  # share of the element's atoms with gate > OPEN_ABOVE


def dim_elements(values: np.ndarray, atomic_numbers: np.ndarray) -> list[DimElement]:
    """Elements by mean gate at one dim, highest (most open) first."""
    z = np.asarray(atomic_numbers, dtype=np.int64)
    v = np.asarray(values, dtype=np.float64)
    size = int(z.max()) + 1 if z.size else 1
    count = np.bincount(z, minlength=size)
    total = np.bincount(z, weights=v, minlength=size)
    opened = np.bincount(z, weights=(v > OPEN_ABOVE).astype(np.float64), minlength=size)
    out = [
        DimElement(element_symbol(k), k, int(count[k]), total[k] / count[k],
                   opened[k] / count[k])
        for k in np.nonzero(count)[0].tolist()
    ]  # fmt: skip
    return sorted(out, key=lambda e: (-e.mean, e.z))


@dataclass(frozen=True)
class DimDetail:
    dim: int
    rank: int  # position in the by-mean order, 0 = lowest mean
    kind: str
    mean: float
    std: float
    open_share: float
    shut_share: float
    histogram: Histogram  # over (0, 1)
    elements: list[DimElement]  # most open first


def dim_detail(
    gates: np.ndarray, stats: DimStats, atomic_numbers: np.ndarray, dim: int, bins: int = 40
) -> DimDetail:
    """One dimension across atoms: what the Dims pane shows when it is selected."""
    values = np.asarray(gates)[:, dim].astype(np.float64)
    rank = int(np.nonzero(stats.order == dim)[0][0])
    return DimDetail(
        dim=dim,
        rank=rank,
        kind=stats.kind[dim],
        mean=float(stats.mean[dim]),
        std=float(stats.std[dim]),
        open_share=float(stats.open_share[dim]),
        shut_share=float(stats.shut_share[dim]),
        histogram=histogram(values, bins=bins, range=(0.0, 1.0)),
        elements=dim_elements(values, atomic_numbers),
    )
