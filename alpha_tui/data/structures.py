"""Reading crystal structure files exactly as the users' training scripts did.

Their pipeline read each CIF with jarvis-tools ``Atoms.from_cif(path,
use_cif2cell=False)``, whose default reduces the crystal to its primitive cell; the
graphs the model saw, and so every per-atom result alpha-tui shows, refer to those
primitive-cell atoms, not to the atoms listed in the CIF. POSCAR files are read as
given (no reduction): they are a convenience, not part of the training pipeline.

jarvis prints parser exceptions to stdout and lets other errors escape with messages
of any length; both would corrupt a TUI screen or ``--json`` output, so the calls run
with stdout/stderr captured and every failure becomes one short ``StructureError``.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from jarvis.core.atoms import Atoms

_REASON_CHARS = 160
_POSCAR_NAMES = ("POSCAR", "CONTCAR")
_POSCAR_SUFFIXES = (".vasp", ".poscar", ".contcar")


class StructureError(Exception):
    """A structure file that cannot be used; ``reason`` is short enough for one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def structure_format(path: Path, head: str = "") -> str:
    """Either "cif" or "poscar": by file name, else by the first bytes of the text."""
    name = path.name
    suffix = path.suffix.lower()
    if suffix == ".cif":
        return "cif"
    if suffix in _POSCAR_SUFFIXES or any(name.upper().startswith(p) for p in _POSCAR_NAMES):
        return "poscar"
    if "_cell_length_a" in head or head.lstrip().lower().startswith("data_"):
        return "cif"
    return "poscar"


def read_structure(path: str | Path) -> Atoms:
    """The jarvis ``Atoms`` of a CIF (primitive cell) or POSCAR file; StructureError if unusable."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise StructureError(f"file not found ({path})") from exc
    except OSError as exc:
        raise StructureError(f"cannot read {path.name}: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if not text.strip():
        raise StructureError(f"{path.name} is empty")

    kind = structure_format(path, text[:4096])
    if kind == "cif":
        _precheck_cif(text)
    try:
        with _quiet():
            atoms = _parse(text, kind)
    except StructureError:
        raise
    except Exception as exc:  # jarvis raises anything from IndexError to ValueError
        label = "CIF" if kind == "cif" else "POSCAR"
        raise StructureError(f"{label} unparsable: {_short(exc)}") from exc
    _check(atoms)
    return atoms


def _parse(text: str, kind: str) -> Atoms:
    from jarvis.core.atoms import Atoms

    if kind == "cif":
        # from_string avoids jarvis reopening the file. The primitive reduction runs in
        # spglib (C), which a NaN coordinate or a vanishing cell can crash, so the
        # as-listed crystal is checked first; from_cif(get_primitive_atoms=True) does
        # exactly this reduction after the same parse.
        listed = Atoms.from_cif(from_string=text, get_primitive_atoms=False, use_cif2cell=False)
        check_geometry(listed)
        return listed.get_primitive_atoms
    from jarvis.io.vasp.inputs import Poscar

    atoms = Poscar.from_string(text).atoms
    check_geometry(atoms)
    return atoms


def _precheck_cif(text: str) -> None:
    """Name the missing piece before jarvis' parser fails on it with an opaque TypeError."""
    if "_cell_length_a" not in text:
        raise StructureError("CIF unparsable: no cell parameters (_cell_length_a)")
    if "_atom_site_fract_x" not in text and "_atom_site_cartn_x" not in text.lower():
        raise StructureError("CIF unparsable: no atom positions (_atom_site_fract_x)")
    if "_symmetry_equiv_pos_as_xyz" not in text and "_space_group_symop_operation_xyz" not in text:
        # the jarvis reader the users trained with cannot read a CIF without this loop
        raise StructureError(
            "CIF unparsable: no symmetry-operation loop (_symmetry_equiv_pos_as_xyz)"
        )


# Geometry bounds a real crystal satisfies with a wide margin; outside them native
# code (spglib, the neighbour search) misbehaves or the graph is meaningless.
MIN_DISTANCE = 0.1  # Å between two atoms (periodic images included)
MIN_HEIGHT = 0.1  # Å between opposite faces of the cell
MAX_LENGTH = 1000.0  # Å per cell axis (the neighbour search widens to 12 neighbours)
MAX_LISTED_ATOMS = 20000


def check_geometry(atoms: Atoms) -> None:
    """StructureError unless the cell and coordinates are safe for native code.

    Checked before spglib sees the structure: finite numbers, a cell of real volume
    and sane axes, and no two atoms (or an atom and an image) on top of each other.
    """
    lattice = np.asarray(atoms.lattice_mat, dtype=np.float64)
    if lattice.shape != (3, 3) or not np.all(np.isfinite(lattice)):
        raise StructureError("lattice is not a finite 3x3 matrix")
    n = len(atoms.elements)
    if n < 1:
        raise StructureError("structure has no atoms")
    if n > MAX_LISTED_ATOMS:
        raise StructureError(f"{n} atoms listed (more than {MAX_LISTED_ATOMS})")
    coords = np.asarray(atoms.frac_coords, dtype=np.float64).reshape(-1)
    if coords.size != 3 * n or not np.all(np.isfinite(coords)):
        raise StructureError("atomic coordinates are missing or not finite (NaN or inf)")
    lengths = np.linalg.norm(lattice, axis=1)
    if np.any(lengths > MAX_LENGTH):
        raise StructureError(f"cell axis of {lengths.max():.4g} Å (more than {MAX_LENGTH:g} Å)")
    volume = abs(float(np.linalg.det(lattice)))
    faces = [np.linalg.norm(np.cross(lattice[i], lattice[j])) for i, j in ((1, 2), (2, 0), (0, 1))]
    height = volume / max(max(faces), 1e-300)
    if not volume > 0 or height < MIN_HEIGHT:
        raise StructureError(
            f"cell volume {volume:.3g} Å^3 (thickness {height:.3g} Å) is degenerate"
        )
    closest = _min_distance(coords.reshape(n, 3), lattice)
    if closest < MIN_DISTANCE:
        raise StructureError(
            f"atoms {closest:.3g} Å apart (overlapping; at least {MIN_DISTANCE} Å expected)"
        )


def _min_distance(frac: np.ndarray, lattice: np.ndarray) -> float:
    """Smallest distance between two sites or a site and an image (27 neighbour cells)."""
    from scipy.spatial import cKDTree

    wrapped = frac - np.floor(frac)
    shifts = np.array([(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    cart = wrapped @ lattice
    images = (wrapped[None, :, :] + shifts[:, None, :]).reshape(-1, 3) @ lattice
    distances, _ = cKDTree(images).query(cart, k=2)
    return float(np.min(distances[:, 1]))


def _check(atoms: Atoms) -> None:
    """Reject structures that would parse but break graph building later."""
    n = int(atoms.num_atoms)
    if n < 1:
        raise StructureError("structure has no atoms")
    lattice = np.asarray(atoms.lattice_mat, dtype=np.float64)
    if lattice.shape != (3, 3) or not np.all(np.isfinite(lattice)):
        raise StructureError("lattice is not a finite 3x3 matrix")
    if abs(float(np.linalg.det(lattice))) < 1e-6:
        raise StructureError("lattice vectors are degenerate (cell volume ~ 0)")
    coords = np.asarray(atoms.frac_coords, dtype=np.float64)
    if coords.size != 3 * n or not np.all(np.isfinite(coords)):
        raise StructureError("atomic coordinates are missing or not finite")
    from jarvis.core.specie import Specie

    for symbol in dict.fromkeys(atoms.elements):
        z = Specie(symbol).Z if isinstance(symbol, str) else None
        if z is None or not np.isfinite(z) or z < 1:
            raise StructureError(f"unknown element {symbol!r}")


@contextlib.contextmanager
def _quiet():
    with (
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(io.StringIO()),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        yield


def _short(exc: BaseException) -> str:
    parts = exc.args if len(exc.args) > 1 else (str(exc),)  # jarvis raises ValueError(msg, data)
    message = " ".join(" ".join(str(p) for p in parts).split()) or type(exc).__name__
    if len(message) > _REASON_CHARS:
        message = message[: _REASON_CHARS - 3] + "..."
    return message
