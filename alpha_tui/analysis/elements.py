"""Alpha grouped by element, the users' "which elements listen to the text" figure.

The symbol table is our own so the analysis layer needs neither jarvis nor torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

_SYMBOLS = (
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn "
    "Ga Ge As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce "
    "Pr Nd Pm Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn "
    "Fr Ra Ac Th Pa U Np Pu Am Cm Bk Cf Es Fm Md No Lr"
).split()


def element_symbol(z: int) -> str:
    """Symbol for Z in 1..103; anything else shows as "Z<n>" rather than failing a view."""
    z = int(z)
    if 1 <= z <= len(_SYMBOLS):
        return _SYMBOLS[z - 1]
    return f"Z{z}"


def atomic_number(symbol: str) -> int:
    """Inverse of element_symbol for real symbols; ValueError otherwise."""
    try:
        return _SYMBOLS.index(symbol.strip().capitalize()) + 1
    except ValueError:
        raise ValueError(f"unknown element symbol {symbol!r}") from None


@dataclass(frozen=True)
class ElementStat:
    symbol: str
    z: int
    count: int
    mean: float
    std: float  # population std (ddof=0)

    def to_dict(self) -> dict:
        return asdict(self)


def element_stats(
    values: np.ndarray, atomic_numbers: np.ndarray, min_count: int = 1
) -> list[ElementStat]:
    """Per-element count/mean/std of the finite values, sorted by mean ascending.

    Elements with fewer than ``min_count`` finite values are left out (the users used
    50 so that a handful of rare atoms does not dominate the ranking).
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    raw = np.asarray(atomic_numbers).reshape(-1)
    z = raw.astype(np.int64)
    if v.shape != z.shape:
        raise ValueError(f"{v.size} values for {z.size} atomic numbers")
    mask = np.isfinite(v)
    v, z, raw = v[mask], z[mask], raw[mask]
    # One stable sort by Z instead of one pass over all atoms per element (89 passes
    # over 10^6 atoms was most of the Elements pane's time): each element's values
    # keep their original order, so mean and std see the same array as v[z == zi].
    small = np.issubdtype(raw.dtype, np.integer) and raw.dtype.itemsize <= 2
    order = np.argsort(raw if small else z, kind="stable")  # radix sort for small ints
    z_sorted, v_sorted = z[order], v[order]
    starts = np.concatenate(([0], np.flatnonzero(np.diff(z_sorted)) + 1))
    stops = np.append(starts[1:], z_sorted.size)
    out: list[ElementStat] = []
    for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
        if stop - start < max(int(min_count), 1):
            continue
        sel = v_sorted[start:stop]
        zi = int(z_sorted[start])
        out.append(
            ElementStat(element_symbol(zi), zi, int(sel.size), float(sel.mean()), float(sel.std()))
        )
    out.sort(key=lambda s: (s.mean, s.z))
    return out
