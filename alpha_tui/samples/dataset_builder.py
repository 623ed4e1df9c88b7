"""Write the bundled sample data set in the users' on-disk layout.

``<out>/cif/<id>.cif`` plus ``<out>/description.csv`` (id, formula, target, text,
source), exactly what the users' scripts and ``alpha_tui.data.dataset`` read, and a
``compounds.csv`` copy of the literature table the labels come from. The text of each
crystal is measured on the structure as it reads back from its CIF, so the paragraph
and the file on disk can never disagree.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from jarvis.core.atoms import Atoms

from alpha_tui.errors import UserError
from alpha_tui.samples.describe import describe, reduced_formula
from alpha_tui.samples.prototypes import build_prototype
from alpha_tui.samples.variants import VARIANTS, VariantSpec, apply_variant, variant_id

LITERATURE = "literature.csv"
DESCRIPTION_HEADER = ("id", "formula", "target", "text", "source")


@dataclass(frozen=True)
class Compound:
    """One row of ``literature.csv``: a real compound with its measured parameters."""

    id: str
    formula: str
    prototype: str
    species: tuple[str, ...]
    a: float
    c: float | None
    internal: dict[str, float]
    band_gap: str  # kept as written, so the target column carries the literature precision
    band_gap_source: str

    def atoms(self) -> Atoms:
        return build_prototype(self.prototype, self.species, self.a, self.c, self.internal)


@dataclass(frozen=True)
class SampleCrystal:
    id: str
    compound: Compound
    variant: VariantSpec


def literature_text() -> str:
    return resources.files("alpha_tui.samples").joinpath(LITERATURE).read_text("utf-8")


def _internal(field: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in field.split(";"))):
        name, _, value = part.partition("=")
        out[name.strip()] = float(value)
    return out


def load_compounds(text: str | None = None) -> list[Compound]:
    rows = csv.DictReader(io.StringIO(literature_text() if text is None else text))
    return [
        Compound(
            id=row["id"],
            formula=row["formula"],
            prototype=row["prototype"],
            species=tuple(row["species"].split()),
            a=float(row["a"]),
            c=float(row["c"]) if row["c"] else None,
            internal=_internal(row["internal"]),
            band_gap=row["band_gap_ev"],
            band_gap_source=row["band_gap_source"],
        )
        for row in rows
    ]


def sample_crystals(compounds: list[Compound] | None = None) -> Iterator[SampleCrystal]:
    """All sample crystals, variant-major so a truncated build spans many compounds."""
    compounds = load_compounds() if compounds is None else compounds
    for spec in VARIANTS:
        for compound in compounds:
            yield SampleCrystal(variant_id(compound.id, spec), compound, spec)


def sample_ids(max_crystals: int | None = None) -> list[str]:
    ids = [c.id for c in sample_crystals()]
    return ids if max_crystals is None else ids[:max_crystals]


def cif_text(atoms: Atoms, name: str) -> str:
    """P1 CIF that jarvis ``Atoms.from_cif(use_cif2cell=False)`` reads back exactly.

    Fixed-width numbers make the file byte-identical across reruns.
    """
    a, b, c, alpha, beta, gamma = atoms.lattice.parameters
    counts: dict[str, int] = {}
    for el in atoms.elements:
        counts[el] = counts.get(el, 0) + 1
    lines = [
        f"data_{name}",
        "_symmetry_space_group_name_H-M   'P 1'",
        f"_cell_length_a   {a:.6f}",
        f"_cell_length_b   {b:.6f}",
        f"_cell_length_c   {c:.6f}",
        f"_cell_angle_alpha   {alpha:.6f}",
        f"_cell_angle_beta   {beta:.6f}",
        f"_cell_angle_gamma   {gamma:.6f}",
        "_symmetry_Int_Tables_number   1",
        f"_chemical_formula_structural   {reduced_formula(list(atoms.elements))}",
        "_chemical_formula_sum   '" + " ".join(f"{el}{n}" for el, n in counts.items()) + "'",
        "loop_",
        " _symmetry_equiv_pos_site_id",
        " _symmetry_equiv_pos_as_xyz",
        "  1  'x, y, z'",
        "loop_",
        " _atom_site_type_symbol",
        " _atom_site_label",
        " _atom_site_symmetry_multiplicity",
        " _atom_site_fract_x",
        " _atom_site_fract_y",
        " _atom_site_fract_z",
        " _atom_site_occupancy",
    ]
    seen: dict[str, int] = {}
    frac = np.mod(np.asarray(atoms.frac_coords, dtype=float), 1.0)
    for el, (x, y, z) in zip(atoms.elements, frac, strict=True):
        seen[el] = seen.get(el, 0) + 1
        # 1.0 after rounding is the same site as 0.0; keep coordinates in [0, 1).
        x, y, z = (0.0 if round(v, 6) >= 1.0 else v for v in (x, y, z))
        lines.append(f"  {el}  {el}{seen[el]}  1  {x:.6f}  {y:.6f}  {z:.6f}  1")
    return "\n".join(lines) + "\n"


def read_cif_text(text: str) -> Atoms:
    return Atoms.from_cif(from_string=text, get_primitive_atoms=False, use_cif2cell=False)


def crystal_record(crystal: SampleCrystal) -> tuple[str, list[str]]:
    """CIF text and the description.csv row for one crystal."""
    atoms = apply_variant(crystal.compound.atoms(), crystal.variant, crystal.id)
    text = cif_text(atoms, crystal.id)
    on_disk = read_cif_text(text)
    row = [
        crystal.id,
        reduced_formula(list(on_disk.elements)),
        crystal.compound.band_gap,
        describe(on_disk, crystal.compound.prototype),
        crystal.compound.band_gap_source,
    ]
    return text, row


def build_sample_dataset(
    out_dir: Path,
    *,
    progress: Callable[[int, int], None] | None = None,
    max_crystals: int | None = None,
) -> Path:
    """Write the sample set into ``out_dir`` and return it; existing sample files are replaced."""
    out_dir = Path(out_dir)
    crystals = list(sample_crystals())
    if max_crystals is not None:
        if max_crystals < 1:
            raise UserError(f"--max-crystals must be at least 1, got {max_crystals}")
        crystals = crystals[:max_crystals]
    cif_dir = out_dir / "cif"
    try:
        cif_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create {cif_dir}: {exc.strerror}; choose a writable folder"
        ) from exc
    rows = []
    for done, crystal in enumerate(crystals, start=1):
        text, row = crystal_record(crystal)
        (cif_dir / f"{crystal.id}.cif").write_text(text, encoding="utf-8", newline="\n")
        rows.append(row)
        if progress is not None:
            progress(done, len(crystals))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(DESCRIPTION_HEADER)
    writer.writerows(rows)
    (out_dir / "description.csv").write_text(buffer.getvalue(), encoding="utf-8", newline="\n")
    (out_dir / "compounds.csv").write_text(literature_text(), encoding="utf-8", newline="\n")
    return out_dir
