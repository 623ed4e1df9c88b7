"""Per-crystal views: one row per crystal, and one row per atom of a chosen crystal."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from alpha_tui.analysis.elements import element_symbol
from alpha_tui.analysis.reductions import reduce_gates
from alpha_tui.capture.cache import ActivationCache
from alpha_tui.errors import UserError


@dataclass(frozen=True)
class CrystalSummary:
    index: int
    id: str
    formula: str
    target: float  # NaN when unknown
    prediction: float | None
    n_atoms: int
    mean_alpha: float  # mean of the finite atom values; NaN when there are none

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AtomRow:
    index: int  # site index inside the crystal (0-based, capture order)
    symbol: str
    z: int
    alpha: float
    injection: float  # ||alpha * t|| / ||x|| of this atom; NaN when ||x|| == 0
    global_index: int = -1  # row in the cache's per-atom arrays

    def to_dict(self) -> dict:
        return asdict(self)


def crystal_means(values: np.ndarray, atom_crystal: np.ndarray, n_crystals: int) -> np.ndarray:
    """Mean of the finite per-atom values of each crystal, NaN for crystals without any."""
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    idx = np.asarray(atom_crystal).reshape(-1).astype(np.int64)
    if v.shape != idx.shape:
        raise ValueError(f"{v.size} values for {idx.size} atoms")
    mask = np.isfinite(v)
    sums = np.bincount(idx[mask], weights=v[mask], minlength=n_crystals)
    counts = np.bincount(idx[mask], minlength=n_crystals)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = sums / counts
    out[counts == 0] = np.nan
    return out[:n_crystals]


def crystal_summaries(cache: ActivationCache, values: np.ndarray) -> list[CrystalSummary]:
    """One summary per crystal.

    Columns become Python numbers with one ``tolist`` each (the same values
    ``float(array[c])`` gives): per-element numpy scalar conversions of 10^5 crystals
    were most of the Crystals pane's time.
    """
    n = cache.n_crystals
    means = crystal_means(values, cache.atom_crystal, n).tolist()
    targets = np.asarray(cache.targets)[:n].astype(np.float64).tolist()
    preds = cache.predictions
    predictions = [None] * n if preds is None else np.asarray(preds)[:n].astype(np.float64).tolist()
    counts = np.asarray(cache.atom_counts)[:n].astype(np.int64).tolist()
    return [
        CrystalSummary(
            index=c,
            id=cache.crystal_ids[c],
            formula=cache.formulas[c],
            target=targets[c],
            prediction=predictions[c],
            n_atoms=counts[c],
            mean_alpha=means[c],
        )
        for c in range(n)
    ]


def crystal_atom_indices(cache: ActivationCache, crystal_index: int) -> np.ndarray:
    c = int(crystal_index)
    if not 0 <= c < cache.n_crystals:
        raise UserError(
            f"crystal index {c} is out of range: the cache has {cache.n_crystals} crystals "
            f"(0..{cache.n_crystals - 1})"
        )
    return np.flatnonzero(np.asarray(cache.atom_crystal) == c)


def crystal_atoms(
    cache: ActivationCache, fusion: str, values: np.ndarray, crystal_index: int
) -> list[AtomRow]:
    """Atoms of one crystal with the chosen alpha and their injection ratio.

    The injection is computed for these atoms only, so opening a crystal stays cheap
    whatever the cache size.
    """
    if fusion not in cache.gates:
        raise UserError(
            f"unknown fusion module '{fusion}': choose one of {', '.join(cache.fusion_modules)}"
        )
    rows = crystal_atom_indices(cache, crystal_index)
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    inj = reduce_gates(
        "injection",
        np.asarray(cache.gates[fusion])[rows],
        text_per_crystal=cache.text_transform[fusion],
        atom_crystal=np.asarray(cache.atom_crystal)[rows],
        node_norm=np.asarray(cache.fusion_input_norm[fusion])[rows],
    )
    out = []
    for i, (a, j) in enumerate(zip(rows, inj, strict=True)):
        z = int(cache.atomic_numbers[a])
        out.append(AtomRow(i, element_symbol(z), z, float(v[a]), float(j), int(a)))
    return out
