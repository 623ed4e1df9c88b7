"""The bundled sample set: literature table, prototypes, CIF files and measured text."""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from functools import reduce
from pathlib import Path

import numpy as np
import pytest
import spglib
from jarvis.core.atoms import Atoms

from alpha_tui.samples.dataset_builder import (
    DESCRIPTION_HEADER,
    SampleCrystal,
    build_sample_dataset,
    cif_text,
    crystal_record,
    load_compounds,
    sample_crystals,
    sample_ids,
)
from alpha_tui.samples.prototypes import PROTOTYPES
from alpha_tui.samples.variants import VARIANTS, apply_variant

pytestmark = pytest.mark.filterwarnings("ignore:Set OLD_ERROR_HANDLING:DeprecationWarning")

COMPOUNDS = {c.id: c for c in load_compounds()}


def _crystal(crystal_id: str) -> SampleCrystal:
    return next(c for c in sample_crystals() if c.id == crystal_id)


def _reduced(elements: list[str]) -> dict[str, int]:
    counts = Counter(elements)
    g = reduce(math.gcd, counts.values())
    return {el: n // g for el, n in counts.items()}


def _jarvis_distances(atoms: Atoms, center_element: str, r: float) -> list[float]:
    """All distances from sites of one element to other sites within r, via jarvis."""
    out = []
    for site_list in atoms.get_all_neighbors(r=r, bond_tol=0.1):
        for i, _j, d, _image in site_list:
            if atoms.elements[int(i)] == center_element:
                out.append(float(d))
    return out


def _text_of(crystal_id: str) -> str:
    return crystal_record(_crystal(crystal_id))[1][3]


def test_reduced_build_writes_users_layout(tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    out = build_sample_dataset(
        tmp_path / "set", progress=lambda d, t: calls.append((d, t)), max_crystals=10
    )
    assert calls[-1] == (10, 10) and len(calls) == 10
    with open(out / "description.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == DESCRIPTION_HEADER
    body = rows[1:]
    assert [r[0] for r in body] == sample_ids(10)
    assert all(len(r) == 5 for r in body)
    assert sorted(p.stem for p in (out / "cif").glob("*.cif")) == sorted(r[0] for r in body)
    assert (out / "compounds.csv").read_text("utf-8") == (
        Path(__file__).parents[1] / "alpha_tui" / "samples" / "literature.csv"
    ).read_text("utf-8")
    for crystal_id, formula, target, text, source in body:
        compound = COMPOUNDS[crystal_id]  # the first ten are unstrained parents
        assert float(target) == float(compound.band_gap)
        assert source == compound.band_gap_source
        assert text.startswith(f"{formula} is ")
        # What the users' scripts do: jarvis' own CIF reader, primitive reduction on.
        read = Atoms.from_cif(str(out / "cif" / f"{crystal_id}.cif"), use_cif2cell=False)
        assert _reduced(list(read.elements)) == _reduced(list(compound.atoms().elements))


@pytest.mark.parametrize(
    "crystal_id",
    ["GaAs-zb-rattle-1", "SiO2-quartz-aniso+2", "Al2O3-corundum-strain-2", "MgAl2O4-spinel"],
)
def test_cif_round_trip_keeps_lattice_and_sites(tmp_path: Path, crystal_id: str) -> None:
    crystal = _crystal(crystal_id)
    atoms = apply_variant(crystal.compound.atoms(), crystal.variant, crystal.id)
    path = tmp_path / f"{crystal_id}.cif"
    path.write_text(cif_text(atoms, crystal_id))
    back = Atoms.from_cif(str(path), get_primitive_atoms=False, use_cif2cell=False)
    assert Counter(back.elements) == Counter(atoms.elements)
    # Orientation-free comparison of the cells: the metric tensors L L^T.
    metric = np.asarray(atoms.lattice_mat) @ np.asarray(atoms.lattice_mat).T
    metric_back = np.asarray(back.lattice_mat) @ np.asarray(back.lattice_mat).T
    np.testing.assert_allclose(metric_back, metric, atol=1e-4)
    # Same interatomic geometry: sorted distance lists of the two cells agree.
    for el in set(atoms.elements):
        a = sorted(_jarvis_distances(atoms, el, 3.2))
        b = sorted(_jarvis_distances(back, el, 3.2))
        np.testing.assert_allclose(a, b, atol=1e-4)


@pytest.mark.parametrize(
    ("compound_id", "center", "factor"),
    [
        ("GaAs-zb", "Ga", math.sqrt(3) / 4),
        ("Si-diamond", "Si", math.sqrt(3) / 4),
        ("NaCl-rs", "Na", 0.5),
        ("MgO-rs", "Mg", 0.5),
        ("Cu-fcc", "Cu", 1 / math.sqrt(2)),
        ("Fe-bcc", "Fe", math.sqrt(3) / 2),
        ("CsCl-B2", "Cs", math.sqrt(3) / 2),
        ("CaF2-fluorite", "Ca", math.sqrt(3) / 4),
        ("SrTiO3-perov", "Ti", 0.5),
        ("Cu2O-cuprite", "Cu", math.sqrt(3) / 4),
    ],
)
def test_literature_lattice_gives_textbook_nearest_distance(
    compound_id: str, center: str, factor: float
) -> None:
    compound = COMPOUNDS[compound_id]
    atoms = compound.atoms()
    nearest = min(_jarvis_distances(atoms, center, 4.0))
    assert nearest == pytest.approx(compound.a * factor, abs=1e-6)


def test_low_symmetry_prototypes_match_published_bond_lengths() -> None:
    # Closed forms for rutile and wurtzite; the quartz and corundum references are the
    # bond lengths reported with the refinements cited in literature.csv.
    rutile = COMPOUNDS["TiO2-rutile"]
    x, a, c = rutile.internal["x"], rutile.a, rutile.c
    ti_o = sorted(_jarvis_distances(rutile.atoms(), "Ti", 2.2))
    apical = math.sqrt(2) * x * a
    equatorial = math.sqrt(2 * ((0.5 - x) * a) ** 2 + (c / 2) ** 2)
    # Two Ti per cell, each with four equatorial and two apical O.
    np.testing.assert_allclose(ti_o, sorted([equatorial] * 8 + [apical] * 4), atol=1e-6)
    quartz = sorted(_jarvis_distances(COMPOUNDS["SiO2-quartz"].atoms(), "Si", 2.0))
    assert len(quartz) == 12  # 3 Si x 4 O
    np.testing.assert_allclose(quartz[0], 1.605, atol=0.003)
    np.testing.assert_allclose(quartz[-1], 1.614, atol=0.003)
    corundum = sorted(_jarvis_distances(COMPOUNDS["Al2O3-corundum"].atoms(), "Al", 2.1))
    np.testing.assert_allclose([corundum[0], corundum[-1]], [1.852, 1.972], atol=0.005)


def test_prototypes_have_their_space_group() -> None:
    for compound in COMPOUNDS.values():
        atoms = compound.atoms()
        numbers = [
            spglib.get_symmetry_dataset(
                (atoms.lattice_mat, atoms.frac_coords, atoms.atomic_numbers), symprec=1e-3
            ).number
        ]
        assert numbers[0] == PROTOTYPES[compound.prototype].space_group, compound.id


def test_description_numbers_are_measured_on_the_crystal() -> None:
    gaas = COMPOUNDS["GaAs-zb"]
    for suffix, scale in (("", 1.0), ("-strain+2", 1.02), ("-strain-2", 0.98)):
        text = _text_of(f"GaAs-zb{suffix}")
        expected = gaas.a * scale * math.sqrt(3) / 4
        assert f"All Ga–As bond lengths are {expected:.2f} Å." in text

    zno = COMPOUNDS["ZnO-wz"]
    u, a, c = zno.internal["u"], zno.a, zno.c
    axial = u * c
    basal = math.sqrt(a**2 / 3 + ((0.5 - u) * c) ** 2)
    assert (
        f"There are three shorter ({basal:.2f} Å) and one longer ({axial:.2f} Å) "
        "Zn–O bond lengths." in _text_of("ZnO-wz")
    )

    # A rattled supercell: the reported spread is the min/max of the measured bonds.
    crystal = _crystal("GaAs-zb-rattle-1")
    cif, row = crystal_record(crystal)
    atoms = Atoms.from_cif(from_string=cif, get_primitive_atoms=False, use_cif2cell=False)
    assert len(atoms.elements) == 16
    bonds = _jarvis_distances(atoms, "Ga", 3.0)
    assert len(bonds) == 8 * 4
    match = re.search(r"Ga–As bond distances ranging from (\d\.\d\d)–(\d\.\d\d) Å", row[3])
    assert match is not None
    assert match.groups() == (f"{min(bonds):.2f}", f"{max(bonds):.2f}")
    assert "triclinic P1" in row[3]


def test_full_id_list_is_large_unique_and_small_cells() -> None:
    ids = sample_ids()
    assert len(ids) >= 300
    assert len(set(ids)) == len(ids)
    assert len(COMPOUNDS) >= 80
    assert len({(c.formula, c.prototype) for c in COMPOUNDS.values()}) == len(COMPOUNDS)
    assert len(ids) == len(COMPOUNDS) * len(VARIANTS)
    sizes = [
        len(apply_variant(c.compound.atoms(), c.variant, c.id).elements) for c in sample_crystals()
    ]
    assert max(sizes) <= 20
    assert sum(s < 20 for s in sizes) / len(sizes) > 0.95


def test_literature_table_has_sources_and_physical_values() -> None:
    path = Path(__file__).parents[1] / "alpha_tui" / "samples" / "literature.csv"
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        assert row["lattice_source"] and row["band_gap_source"], row["id"]
        assert bool(row["internal"]) == bool(row["internal_source"]), row["id"]
        gap = float(row["band_gap_ev"])
        assert gap >= 0.0
        assert (gap == 0.0) == (row["gap_kind"] in ("metal", "semimetal", "zero-gap")), row["id"]
        assert 2.0 < float(row["a"]) < 9.0


def test_rebuild_is_byte_identical(tmp_path: Path) -> None:
    first = crystal_record(_crystal("NaCl-rs-rattle-1"))
    second = crystal_record(_crystal("NaCl-rs-rattle-1"))
    assert first == second
    a = build_sample_dataset(tmp_path / "a", max_crystals=4)
    b = build_sample_dataset(tmp_path / "b", max_crystals=4)
    for name in ["description.csv", *[f"cif/{i}.cif" for i in sample_ids(4)]]:
        assert (a / name).read_bytes() == (b / name).read_bytes()
