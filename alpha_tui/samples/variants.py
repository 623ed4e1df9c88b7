"""Strained and thermally rattled copies of a parent crystal.

Ninety-odd real compounds are too few crystals to train the sample checkpoints, and the
TUI is more instructive when several crystals share a label but differ slightly in
geometry (the text then differs only in its measured bond lengths). Every variant keeps
its parent's band gap: the strains (+-2 %) and displacements (0.03 Angstrom) are small
compared with what changes a gap by more than the experimental scatter of the labels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from jarvis.core.atoms import Atoms

RATTLE_SIGMA = 0.03  # Angstrom, per Cartesian component


@dataclass(frozen=True)
class VariantSpec:
    """One kind of perturbation; ``suffix`` is appended to the parent id."""

    suffix: str
    kind: str  # "base" | "strain" | "aniso" | "rattle"
    strain: tuple[float, float, float] = (0.0, 0.0, 0.0)
    sigma: float = 0.0


# Order matters: the sample set is written variant-major, so a reduced build
# (max_crystals) keeps as many distinct compounds as possible.
VARIANTS: tuple[VariantSpec, ...] = (
    VariantSpec("", "base"),
    VariantSpec("-strain-2", "strain", (-0.02, -0.02, -0.02)),
    VariantSpec("-strain+2", "strain", (0.02, 0.02, 0.02)),
    VariantSpec("-aniso+2", "aniso", (-0.01, -0.01, 0.02)),
    VariantSpec("-rattle-1", "rattle", sigma=RATTLE_SIGMA),
)


def variant_id(parent_id: str, spec: VariantSpec) -> str:
    return f"{parent_id}{spec.suffix}"


def stable_seed(text: str) -> int:
    """Seed from the crystal id, independent of PYTHONHASHSEED and of build order."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def rattle_supercell(n_atoms: int) -> tuple[int, int, int]:
    """Supercell for rattling: big enough to break translational symmetry, <= 20 atoms."""
    if n_atoms <= 2:
        return (2, 2, 2)
    if n_atoms <= 5:
        return (2, 2, 1)
    if n_atoms <= 10:
        return (2, 1, 1)
    return (1, 1, 1)


def strained(atoms: Atoms, strain: Sequence[float]) -> Atoms:
    """Diagonal strain in Cartesian axes (prototype cells put c, or the cubic axes, along xyz)."""
    deform = np.diag(1.0 + np.asarray(strain, dtype=float))
    lattice = np.asarray(atoms.lattice_mat, dtype=float) @ deform.T
    return Atoms(
        lattice_mat=lattice,
        coords=np.array(atoms.frac_coords, dtype=float),
        elements=list(atoms.elements),
        cartesian=False,
    )


def supercell(atoms: Atoms, dims: Sequence[int]) -> Atoms:
    dims_arr = np.asarray(dims, dtype=int)
    lattice = np.asarray(atoms.lattice_mat, dtype=float) * dims_arr[:, None]
    frac = np.asarray(atoms.frac_coords, dtype=float)
    coords, elements = [], []
    for shift in np.ndindex(*dims_arr):
        for el, f in zip(atoms.elements, frac, strict=True):
            coords.append((f + np.array(shift)) / dims_arr)
            elements.append(el)
    # Keep species grouped as in the parent so the CIF lists them in the same order.
    order = sorted(range(len(elements)), key=lambda i: (elements.index(elements[i]), i))
    return Atoms(
        lattice_mat=lattice,
        coords=np.array([coords[i] for i in order]),
        elements=[elements[i] for i in order],
        cartesian=False,
    )


def rattled(atoms: Atoms, sigma: float, seed: int) -> Atoms:
    """Gaussian Cartesian displacements with zero net translation."""
    rng = np.random.default_rng(seed)
    cart = np.asarray(atoms.cart_coords, dtype=float)
    shift = rng.normal(0.0, sigma, size=cart.shape)
    shift -= shift.mean(axis=0)
    lattice = np.asarray(atoms.lattice_mat, dtype=float)
    frac = np.mod((cart + shift) @ np.linalg.inv(lattice), 1.0)
    return Atoms(lattice_mat=lattice, coords=frac, elements=list(atoms.elements), cartesian=False)


def apply_variant(parent: Atoms, spec: VariantSpec, crystal_id: str) -> Atoms:
    if spec.kind in ("strain", "aniso"):
        return strained(parent, spec.strain)
    if spec.kind == "rattle":
        big = supercell(parent, rattle_supercell(len(parent.elements)))
        return rattled(big, spec.sigma, stable_seed(crystal_id))
    return parent
