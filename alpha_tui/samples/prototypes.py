"""Crystal prototypes as jarvis ``Atoms``, built from standard Wyckoff positions.

The sample set needs real crystals without shipping a structure database, so each
prototype is written down once from its space-group description and filled in with
literature lattice parameters (``literature.csv``). Cells are primitive so the
sample checkpoints stay cheap to train; the few prototypes that are easiest to state
in a centred conventional cell are expanded with spglib's symmetry operations and then
reduced to the primitive cell.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import spglib
from jarvis.core.atoms import Atoms
from jarvis.core.specie import Specie

Species = Sequence[str]

# Hall numbers of the settings the Wyckoff positions below are written in.
_HALL_ANATASE = 426  # I4_1/amd, origin choice 1
_HALL_QUARTZ = 443  # P3_221
_HALL_CORUNDUM = 460  # R-3c, hexagonal axes
_HALL_PYRITE = 501  # Pa-3
_HALL_SPINEL = 526  # Fd-3m, origin choice 2


@contextmanager
def quiet_spglib() -> Iterator[None]:
    """spglib >= 2.5 warns on every call about its error-handling switch; nothing to act on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="spglib")
        yield


def _cubic(a: float) -> np.ndarray:
    return np.eye(3) * a


def _fcc_primitive(a: float) -> np.ndarray:
    return 0.5 * a * np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])


def _bcc_primitive(a: float) -> np.ndarray:
    return 0.5 * a * np.array([[-1.0, 1.0, 1.0], [1.0, -1.0, 1.0], [1.0, 1.0, -1.0]])


def _hexagonal(a: float, c: float) -> np.ndarray:
    return np.array([[a, 0.0, 0.0], [-0.5 * a, 0.5 * np.sqrt(3.0) * a, 0.0], [0.0, 0.0, c]])


def _tetragonal(a: float, c: float) -> np.ndarray:
    return np.diag([a, a, c])


def _atoms(lattice: np.ndarray, sites: Sequence[tuple[str, Sequence[float]]]) -> Atoms:
    coords = np.mod(np.array([xyz for _, xyz in sites], dtype=float), 1.0)
    return Atoms(
        lattice_mat=np.asarray(lattice, dtype=float),
        coords=coords,
        elements=[el for el, _ in sites],
        cartesian=False,
    )


def _orbit(hall_number: int, position: Sequence[float], tol: float = 1e-4) -> list[np.ndarray]:
    """Symmetry-equivalent copies of one Wyckoff representative inside the unit cell."""
    with quiet_spglib():
        ops = spglib.get_symmetry_from_database(hall_number)
    out: list[np.ndarray] = []
    p = np.asarray(position, dtype=float)
    for rot, trans in zip(ops["rotations"], ops["translations"], strict=True):
        q = np.mod(rot @ p + trans, 1.0)
        if all(np.linalg.norm((q - r + 0.5) % 1.0 - 0.5) > tol for r in out):
            out.append(q)
    return out


def _expanded_primitive(
    lattice: np.ndarray, hall_number: int, wyckoff: Sequence[tuple[str, Sequence[float]]]
) -> Atoms:
    """Conventional cell from Wyckoff representatives, reduced to spglib's primitive cell."""
    sites = [(el, q) for el, rep in wyckoff for q in _orbit(hall_number, rep)]
    conventional = _atoms(lattice, sites)
    numbers = [Specie(el).Z for el in conventional.elements]
    by_z = {Specie(el).Z: el for el in conventional.elements}
    with quiet_spglib():
        prim = spglib.standardize_cell(
            (conventional.lattice_mat, conventional.frac_coords, numbers),
            to_primitive=True,
            no_idealize=False,
            symprec=1e-3,
        )
    if prim is None:  # pragma: no cover - the prototypes above are valid
        raise ValueError(f"spglib could not reduce hall {hall_number} cell")
    lat, pos, nums = prim
    order = _species_order([by_z[int(z)] for z in nums], [el for el, _ in wyckoff])
    return _atoms(lat, [(by_z[int(nums[i])], pos[i]) for i in order])


def _species_order(elements: Sequence[str], preferred: Sequence[str]) -> list[int]:
    """Stable order that lists sites species by species as in the prototype definition."""
    rank = {el: i for i, el in enumerate(dict.fromkeys(preferred))}
    return sorted(range(len(elements)), key=lambda i: (rank[elements[i]], i))


# --- one function per prototype ------------------------------------------------------


def fcc(species: Species, a: float) -> Atoms:
    """Cu type (Fm-3m, 4a)."""
    return _atoms(_fcc_primitive(a), [(species[0], (0, 0, 0))])


def bcc(species: Species, a: float) -> Atoms:
    """W type (Im-3m, 2a)."""
    return _atoms(_bcc_primitive(a), [(species[0], (0, 0, 0))])


def hcp(species: Species, a: float, c: float) -> Atoms:
    """Mg type (P6_3/mmc, 2c)."""
    el = species[0]
    return _atoms(_hexagonal(a, c), [(el, (1 / 3, 2 / 3, 1 / 4)), (el, (2 / 3, 1 / 3, 3 / 4))])


def diamond(species: Species, a: float) -> Atoms:
    """C type (Fd-3m, 8a)."""
    el = species[0]
    return _atoms(_fcc_primitive(a), [(el, (0, 0, 0)), (el, (1 / 4, 1 / 4, 1 / 4))])


def zincblende(species: Species, a: float) -> Atoms:
    """ZnS sphalerite (F-43m, 4a + 4c)."""
    return _atoms(_fcc_primitive(a), [(species[0], (0, 0, 0)), (species[1], (1 / 4, 1 / 4, 1 / 4))])


def rocksalt(species: Species, a: float) -> Atoms:
    """NaCl type (Fm-3m, 4a + 4b)."""
    return _atoms(_fcc_primitive(a), [(species[0], (0, 0, 0)), (species[1], (1 / 2, 1 / 2, 1 / 2))])


def fluorite(species: Species, a: float) -> Atoms:
    """CaF2 type (Fm-3m, 4a + 8c)."""
    return _atoms(
        _fcc_primitive(a),
        [
            (species[0], (0, 0, 0)),
            (species[1], (1 / 4, 1 / 4, 1 / 4)),
            (species[1], (3 / 4, 3 / 4, 3 / 4)),
        ],
    )


def cesium_chloride(species: Species, a: float) -> Atoms:
    """CsCl / B2 type (Pm-3m, 1a + 1b)."""
    return _atoms(_cubic(a), [(species[0], (0, 0, 0)), (species[1], (1 / 2, 1 / 2, 1 / 2))])


def perovskite(species: Species, a: float) -> Atoms:
    """Cubic ABO3 (Pm-3m, A 1a, B 1b, O 3c)."""
    a_site, b_site, x = species
    return _atoms(
        _cubic(a),
        [
            (a_site, (0, 0, 0)),
            (b_site, (1 / 2, 1 / 2, 1 / 2)),
            (x, (1 / 2, 1 / 2, 0)),
            (x, (1 / 2, 0, 1 / 2)),
            (x, (0, 1 / 2, 1 / 2)),
        ],
    )


def wurtzite(species: Species, a: float, c: float, u: float) -> Atoms:
    """ZnO / wurtzite type (P6_3mc, 2b + 2b with internal parameter u)."""
    cat, an = species
    return _atoms(
        _hexagonal(a, c),
        [
            (cat, (1 / 3, 2 / 3, 0)),
            (cat, (2 / 3, 1 / 3, 1 / 2)),
            (an, (1 / 3, 2 / 3, u)),
            (an, (2 / 3, 1 / 3, 1 / 2 + u)),
        ],
    )


def rutile(species: Species, a: float, c: float, x: float) -> Atoms:
    """TiO2 rutile (P4_2/mnm, 2a + 4f (x, x, 0))."""
    m, o = species
    return _atoms(
        _tetragonal(a, c),
        [
            (m, (0, 0, 0)),
            (m, (1 / 2, 1 / 2, 1 / 2)),
            (o, (x, x, 0)),
            (o, (-x, -x, 0)),
            (o, (1 / 2 + x, 1 / 2 - x, 1 / 2)),
            (o, (1 / 2 - x, 1 / 2 + x, 1 / 2)),
        ],
    )


def anatase(species: Species, a: float, c: float, z: float) -> Atoms:
    """TiO2 anatase (I4_1/amd origin 1, Ti 4a (0,0,0), O 8e (0,0,z))."""
    m, o = species
    return _expanded_primitive(_tetragonal(a, c), _HALL_ANATASE, [(m, (0, 0, 0)), (o, (0, 0, z))])


def cuprite(species: Species, a: float) -> Atoms:
    """Cu2O (Pn-3m, O at 0,0,0 and 1/2,1/2,1/2; Cu on the 1/4 positions between them)."""
    cu, o = species
    return _atoms(
        _cubic(a),
        [
            (cu, (1 / 4, 1 / 4, 1 / 4)),
            (cu, (3 / 4, 3 / 4, 1 / 4)),
            (cu, (3 / 4, 1 / 4, 3 / 4)),
            (cu, (1 / 4, 3 / 4, 3 / 4)),
            (o, (0, 0, 0)),
            (o, (1 / 2, 1 / 2, 1 / 2)),
        ],
    )


def pyrite(species: Species, a: float, x: float) -> Atoms:
    """FeS2 pyrite (Pa-3, Fe 4a, S 8c (x, x, x))."""
    m, s = species
    return _expanded_primitive(_cubic(a), _HALL_PYRITE, [(m, (0, 0, 0)), (s, (x, x, x))])


def spinel(species: Species, a: float, x: float) -> Atoms:
    """MgAl2O4 spinel (Fd-3m origin 2: A 8a, B 16d, O 32e (x, x, x))."""
    a_site, b_site, o = species
    return _expanded_primitive(
        _cubic(a),
        _HALL_SPINEL,
        [(a_site, (1 / 8, 1 / 8, 1 / 8)), (b_site, (1 / 2, 1 / 2, 1 / 2)), (o, (x, x, x))],
    )


def corundum(species: Species, a: float, c: float, z: float, x: float) -> Atoms:
    """Al2O3 corundum (R-3c hexagonal axes, M 12c (0,0,z), O 18e (x,0,1/4))."""
    m, o = species
    return _expanded_primitive(
        _hexagonal(a, c), _HALL_CORUNDUM, [(m, (0, 0, z)), (o, (x, 0, 1 / 4))]
    )


def alpha_quartz(
    species: Species, a: float, c: float, x_si: float, x_o: float, y_o: float, z_o: float
) -> Atoms:
    """alpha-SiO2 (P3_221, Si 3a, O 6c).

    Parameters as tabulated by Levien, Prewitt & Weidner (1980), whose origin puts Si at
    (x, 0, 0); the ITA origin of spglib's operations has Si at (x, 0, 2/3), so both sites
    are shifted by 2/3 along c.
    """
    si, o = species
    sites = [(si, q) for q in _orbit(_HALL_QUARTZ, (x_si, 0, 2 / 3))]
    sites += [(o, q) for q in _orbit(_HALL_QUARTZ, (x_o, y_o, z_o + 2 / 3))]
    return _atoms(_hexagonal(a, c), sites)


def graphite(species: Species, a: float, c: float) -> Atoms:
    """Hexagonal (AB) graphite (P6_3/mmc, 2b + 2c)."""
    el = species[0]
    return _atoms(
        _hexagonal(a, c),
        [
            (el, (0, 0, 1 / 4)),
            (el, (0, 0, 3 / 4)),
            (el, (1 / 3, 2 / 3, 1 / 4)),
            (el, (2 / 3, 1 / 3, 3 / 4)),
        ],
    )


def hexagonal_bn(species: Species, a: float, c: float) -> Atoms:
    """h-BN (P6_3/mmc, B 2c, N 2d: B above N in the next layer)."""
    b, n = species
    return _atoms(
        _hexagonal(a, c),
        [
            (b, (1 / 3, 2 / 3, 1 / 4)),
            (b, (2 / 3, 1 / 3, 3 / 4)),
            (n, (1 / 3, 2 / 3, 3 / 4)),
            (n, (2 / 3, 1 / 3, 1 / 4)),
        ],
    )


def molybdenite(species: Species, a: float, c: float, z: float) -> Atoms:
    """2H-MoS2 (P6_3/mmc, Mo 2c, S 4f (1/3, 2/3, z))."""
    m, s = species
    return _atoms(
        _hexagonal(a, c),
        [
            (m, (1 / 3, 2 / 3, 1 / 4)),
            (m, (2 / 3, 1 / 3, 3 / 4)),
            (s, (1 / 3, 2 / 3, z)),
            (s, (2 / 3, 1 / 3, z + 1 / 2)),
            (s, (2 / 3, 1 / 3, -z)),
            (s, (1 / 3, 2 / 3, 1 / 2 - z)),
        ],
    )


@dataclass(frozen=True)
class Prototype:
    """How a literature row becomes a structure, and how the text should name it."""

    key: str
    display_name: str
    space_group: int
    build: Callable[..., Atoms]
    needs_c: bool
    internal: tuple[str, ...] = ()


PROTOTYPES: Mapping[str, Prototype] = {
    p.key: p
    for p in (
        Prototype("fcc", "Copper", 225, fcc, False),
        Prototype("bcc", "Tungsten", 229, bcc, False),
        Prototype("hcp", "Magnesium", 194, hcp, True),
        Prototype("diamond", "Diamond", 227, diamond, False),
        Prototype("zincblende", "Zincblende, Sphalerite", 216, zincblende, False),
        Prototype("rocksalt", "Halite, Rock Salt", 225, rocksalt, False),
        Prototype("fluorite", "Fluorite", 225, fluorite, False),
        Prototype("cesium_chloride", "CsCl", 221, cesium_chloride, False),
        Prototype("perovskite", "(Cubic) Perovskite", 221, perovskite, False),
        Prototype("wurtzite", "Wurtzite", 186, wurtzite, True, ("u",)),
        Prototype("rutile", "Rutile", 136, rutile, True, ("x",)),
        Prototype("anatase", "Anatase", 141, anatase, True, ("z",)),
        Prototype("cuprite", "Cuprite", 224, cuprite, False),
        Prototype("pyrite", "Pyrite", 205, pyrite, False, ("x",)),
        Prototype("spinel", "Spinel", 227, spinel, False, ("x",)),
        Prototype("corundum", "Corundum", 167, corundum, True, ("z", "x")),
        Prototype(
            "alpha_quartz", "alpha Quartz", 154, alpha_quartz, True, ("x_si", "x_o", "y_o", "z_o")
        ),
        Prototype("graphite", "Graphite", 194, graphite, True),
        Prototype("hexagonal_bn", "Hexagonal Boron Nitride", 194, hexagonal_bn, True),
        Prototype("molybdenite", "Molybdenite", 194, molybdenite, True, ("z",)),
    )
}


def build_prototype(
    key: str,
    species: Species,
    a: float,
    c: float | None = None,
    internal: Mapping[str, float] | None = None,
) -> Atoms:
    """Structure for one literature row; raises KeyError/ValueError on a malformed row."""
    proto = PROTOTYPES[key]
    kwargs: dict[str, float] = {"a": float(a)}
    if proto.needs_c:
        if c is None:
            raise ValueError(f"prototype {key} needs c")
        kwargs["c"] = float(c)
    internal = dict(internal or {})
    missing = [name for name in proto.internal if name not in internal]
    if missing:
        raise ValueError(f"prototype {key} needs {', '.join(missing)}")
    kwargs.update({name: float(internal[name]) for name in proto.internal})
    return proto.build(tuple(species), **kwargs)
