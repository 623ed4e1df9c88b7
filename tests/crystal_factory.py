"""Varied test crystals as jarvis ``Atoms``, shared by the data, model and capture tests.

Graph construction has many branches that only some cells reach: one-atom cells with
self-image bonds, exact distance ties in high-symmetry and supercell lattices, cells
too sparse for 12 neighbours within 8 Å (the cutoff-enlargement path), strongly
skewed cells, coordinates outside [0, 1). The builders below cover them, each
deterministic (seeded) so failures reproduce.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from jarvis.core.atoms import Atoms


def _cell(
    lattice: Sequence[Sequence[float]],
    elements: Sequence[str],
    frac: Sequence[Sequence[float]],
) -> Atoms:
    return Atoms(
        lattice_mat=np.asarray(lattice, dtype=float),
        coords=np.asarray(frac, dtype=float),
        elements=list(elements),
        cartesian=False,
    )


def _cubic(a: float) -> np.ndarray:
    return np.eye(3) * a


def _hexagonal(a: float, c: float) -> np.ndarray:
    return np.array([[a, 0.0, 0.0], [-a / 2, a * np.sqrt(3) / 2, 0.0], [0.0, 0.0, c]])


def _fcc_primitive(a: float) -> np.ndarray:
    return 0.5 * a * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])


def _bcc_primitive(a: float) -> np.ndarray:
    return 0.5 * a * np.array([[-1.0, 1.0, 1.0], [1.0, -1.0, 1.0], [1.0, 1.0, -1.0]])


def _from_parameters(
    a: float, b: float, c: float, alpha: float, beta: float, gamma: float
) -> np.ndarray:
    al, be, ga = np.radians([alpha, beta, gamma])
    cx = c * np.cos(be)
    cy = c * (np.cos(al) - np.cos(be) * np.cos(ga)) / np.sin(ga)
    cz = np.sqrt(c * c - cx * cx - cy * cy)
    return np.array([[a, 0.0, 0.0], [b * np.cos(ga), b * np.sin(ga), 0.0], [cx, cy, cz]])


# --- elements -------------------------------------------------------------------


def simple_cubic(a: float = 3.35, element: str = "Po") -> Atoms:
    """One atom, 6 neighbours at a and 12 at a*sqrt(2)."""
    return _cell(_cubic(a), [element], [[0.0, 0.0, 0.0]])


def bcc_primitive(a: float = 2.87, element: str = "Fe") -> Atoms:
    return _cell(_bcc_primitive(a), [element], [[0.0, 0.0, 0.0]])


def bcc_conventional(a: float = 2.87, element: str = "Fe") -> Atoms:
    return _cell(_cubic(a), [element] * 2, [[0, 0, 0], [0.5, 0.5, 0.5]])


def fcc_primitive(a: float = 3.61, element: str = "Cu") -> Atoms:
    return _cell(_fcc_primitive(a), [element], [[0.0, 0.0, 0.0]])


def fcc_conventional(a: float = 3.61, element: str = "Cu") -> Atoms:
    frac = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
    return _cell(_cubic(a), [element] * 4, frac)


def hcp(a: float = 3.21, c: float = 5.21, element: str = "Mg") -> Atoms:
    return _cell(_hexagonal(a, c), [element] * 2, [[1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]])


def diamond(a: float = 5.43, element: str = "Si") -> Atoms:
    return _cell(_fcc_primitive(a), [element] * 2, [[0, 0, 0], [0.25, 0.25, 0.25]])


# --- binaries and ternaries -----------------------------------------------------


def rocksalt(a: float = 5.64, cation: str = "Na", anion: str = "Cl") -> Atoms:
    return _cell(_fcc_primitive(a), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]])


def rocksalt_conventional(a: float = 4.21, cation: str = "Mg", anion: str = "O") -> Atoms:
    cat = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
    an = [[0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5], [0.5, 0.5, 0.5]]
    return _cell(_cubic(a), [cation] * 4 + [anion] * 4, cat + an)


def cesium_chloride(a: float = 4.12) -> Atoms:
    return _cell(_cubic(a), ["Cs", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def zincblende(a: float = 5.65, cation: str = "Ga", anion: str = "As") -> Atoms:
    return _cell(_fcc_primitive(a), [cation, anion], [[0, 0, 0], [0.25, 0.25, 0.25]])


def wurtzite(a: float = 3.25, c: float = 5.21, u: float = 0.382) -> Atoms:
    frac = [[1 / 3, 2 / 3, 0.0], [2 / 3, 1 / 3, 0.5], [1 / 3, 2 / 3, u], [2 / 3, 1 / 3, 0.5 + u]]
    return _cell(_hexagonal(a, c), ["Zn", "Zn", "O", "O"], frac)


def perovskite(a: float = 3.905) -> Atoms:
    frac = [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    return _cell(_cubic(a), ["Sr", "Ti", "O", "O", "O"], frac)


def rutile(a: float = 4.594, c: float = 2.959, u: float = 0.305) -> Atoms:
    frac = [
        [0, 0, 0],
        [0.5, 0.5, 0.5],
        [u, u, 0],
        [1 - u, 1 - u, 0],
        [0.5 + u, 0.5 - u, 0.5],
        [0.5 - u, 0.5 + u, 0.5],
    ]
    lat = np.diag([a, a, c])
    return _cell(lat, ["Ti", "Ti", "O", "O", "O", "O"], frac)


def fluorite(a: float = 5.46) -> Atoms:
    frac = [[0, 0, 0], [0.25, 0.25, 0.25], [0.75, 0.75, 0.75]]
    return _cell(_fcc_primitive(a), ["Ca", "F", "F"], frac)


def graphite(a: float = 2.46, c: float = 6.71) -> Atoms:
    frac = [[0, 0, 0.25], [0, 0, 0.75], [1 / 3, 2 / 3, 0.25], [2 / 3, 1 / 3, 0.75]]
    return _cell(_hexagonal(a, c), ["C"] * 4, frac)


def mos2_monolayer(a: float = 3.16, vacuum_c: float = 20.0) -> Atoms:
    """A slab: too few neighbours within 8 Å along c, so jarvis enlarges the cutoff."""
    dz = 1.59 / vacuum_c
    frac = [[1 / 3, 2 / 3, 0.5], [2 / 3, 1 / 3, 0.5 + dz], [2 / 3, 1 / 3, 0.5 - dz]]
    return _cell(_hexagonal(a, vacuum_c), ["Mo", "S", "S"], frac)


def molecule_in_box(box: float = 9.0) -> Atoms:
    """A dimer in a box: the sparsest case, two cutoff enlargements."""
    return _cell(_cubic(box), ["N", "N"], [[0.5, 0.5, 0.44], [0.5, 0.5, 0.56]])


def heavy_elements() -> Atoms:
    """Actinides and a lanthanide in a fluorite-like cell (high rows of the CGCNN table)."""
    frac = [[0, 0, 0], [0.25, 0.25, 0.25], [0.75, 0.75, 0.75]]
    return _cell(_fcc_primitive(5.47), ["U", "O", "Lu"], frac)


# --- low symmetry ---------------------------------------------------------------


def skewed_triclinic_one_atom() -> Atoms:
    """One atom in a strongly sheared cell: images far from the obvious +-1 shells."""
    lat = [[3.0, 0.0, 0.0], [2.7, 1.4, 0.0], [2.2, 1.1, 2.3]]
    return _cell(lat, ["Al"], [[0.0, 0.0, 0.0]])


def triclinic(seed: int = 0) -> Atoms:
    lat = _from_parameters(5.1, 6.3, 7.2, 78.0, 101.0, 113.0)
    frac = _spread_points(seed, 5, lat, min_dist=1.6)
    return _cell(lat, ["K", "Bi", "Se", "Se", "Cl"], frac)


def monoclinic(seed: int = 1) -> Atoms:
    lat = _from_parameters(6.2, 4.1, 8.3, 90.0, 104.0, 90.0)
    frac = _spread_points(seed, 6, lat, min_dist=1.7)
    return _cell(lat, ["Li", "Fe", "P", "O", "O", "O"], frac)


def orthorhombic(seed: int = 2) -> Atoms:
    lat = np.diag([4.4, 5.9, 7.7])
    frac = _spread_points(seed, 7, lat, min_dist=1.6)
    return _cell(lat, ["Ba", "Ba", "Cu", "O", "O", "O", "Y"], frac)


def rattled(base: Atoms, seed: int, amplitude: float = 0.08) -> Atoms:
    """Random small displacements: breaks every distance tie."""
    rng = np.random.default_rng(seed)
    cart = np.asarray(base.cart_coords) + rng.normal(scale=amplitude, size=(base.num_atoms, 3))
    return Atoms(
        lattice_mat=np.asarray(base.lattice_mat),
        coords=cart,
        elements=list(base.elements),
        cartesian=True,
    )


def outside_unit_cell() -> Atoms:
    """Fractional coordinates below 0 and above 1, as some CIF writers leave them."""
    frac = [[-0.1, 0.2, 1.3], [0.6, -0.45, 0.5], [1.25, 0.75, -0.2]]
    return _cell(_from_parameters(4.0, 4.5, 5.0, 85.0, 95.0, 100.0), ["Zn", "S", "S"], frac)


def supercell(base: Atoms, dims: Sequence[int]) -> Atoms:
    return base.make_supercell_matrix(np.diag(list(dims)).tolist())


def large_supercell() -> Atoms:
    """128 atoms (2-atom diamond cell repeated 4x4x4), full of exact distance ties."""
    return supercell(diamond(), (4, 4, 4))


def large_rattled_supercell() -> Atoms:
    """128-atom rocksalt supercell with displacements."""
    return rattled(supercell(rocksalt_conventional(), (2, 2, 4)), seed=11, amplitude=0.05)


def _spread_points(seed: int, n: int, lattice: np.ndarray, min_dist: float) -> np.ndarray:
    """Random fractional points at least min_dist apart under periodic images."""
    rng = np.random.default_rng(seed)
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    points: list[np.ndarray] = []
    while len(points) < n:
        p = rng.random(3)
        ok = True
        for q in points:
            d = np.linalg.norm((p - q + shifts) @ lattice, axis=1).min()
            if d < min_dist:
                ok = False
                break
        if ok:
            points.append(p)
    return np.array(points)


def write_cif(atoms: Atoms, path: str | Path) -> Path:
    """jarvis' CIF writer (the format the users' CIFs come in), without spglib's chatter."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        atoms.write_cif(str(path))
    return path


def all_crystals() -> dict[str, Atoms]:
    """Name -> crystal, in a fixed order; at least 30 entries."""
    builders: dict[str, Callable[[], Atoms]] = {
        "sc_Po": simple_cubic,
        "bcc_Fe_prim": bcc_primitive,
        "bcc_W_conv": lambda: bcc_conventional(3.16, "W"),
        "fcc_Cu_prim": fcc_primitive,
        "fcc_Al_conv": lambda: fcc_conventional(4.05, "Al"),
        "hcp_Mg": hcp,
        "hcp_Ti": lambda: hcp(2.95, 4.68, "Ti"),
        "diamond_Si": diamond,
        "diamond_C": lambda: diamond(3.567, "C"),
        "rocksalt_NaCl": rocksalt,
        "rocksalt_MgO_conv": rocksalt_conventional,
        "CsCl": cesium_chloride,
        "zincblende_GaAs": zincblende,
        "zincblende_ZnS": lambda: zincblende(5.41, "Zn", "S"),
        "wurtzite_ZnO": wurtzite,
        "wurtzite_GaN": lambda: wurtzite(3.19, 5.19, 0.377),
        "perovskite_SrTiO3": perovskite,
        "rutile_TiO2": rutile,
        "fluorite_CaF2": fluorite,
        "graphite": graphite,
        "MoS2_monolayer": mos2_monolayer,
        "N2_in_box": molecule_in_box,
        "heavy_ULuO": heavy_elements,
        "skewed_triclinic_1atom": skewed_triclinic_one_atom,
        "triclinic": triclinic,
        "monoclinic": monoclinic,
        "orthorhombic": orthorhombic,
        "rattled_perovskite": lambda: rattled(perovskite(), seed=3),
        "rattled_wurtzite": lambda: rattled(wurtzite(), seed=4),
        "rattled_fcc_conv": lambda: rattled(fcc_conventional(), seed=5),
        "outside_unit_cell": outside_unit_cell,
        "cartesian_input_triclinic": lambda: rattled(triclinic(7), seed=6, amplitude=0.0),
        "supercell_diamond_128": large_supercell,
        "supercell_rocksalt_128_rattled": large_rattled_supercell,
    }
    return {name: build() for name, build in builders.items()}
