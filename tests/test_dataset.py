"""read_structure and read_dataset on the users' on-disk layout, including every skip reason."""

from __future__ import annotations

import csv
from pathlib import Path

import crystal_factory as cf
import numpy as np
import pytest

from alpha_tui.data.dataset import map_columns, read_dataset
from alpha_tui.data.structures import StructureError, read_structure
from alpha_tui.errors import UserError

pytestmark = pytest.mark.both_lanes  # also run by make test-dgl (torch 2.2, numpy<2)

TEXT = "NaCl is Halite, Rock Salt structured and crystallizes in the cubic Fm-3m space group."

BAD_CIF = """data_broken
_cell_length_a 4.0
_cell_length_b 4.0
_cell_length_c 4.0
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
loop_
 _symmetry_equiv_pos_as_xyz
 'x, y, z'
loop_
 _atom_site_type_symbol
 _atom_site_label
 _atom_site_fract_x
 _atom_site_fract_y
 _atom_site_fract_z
 _atom_site_occupancy
 Na Na1 0.0 0.0 0.0 0.5
"""


def _write_csv(path: Path, header: list[str] | None, rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def _jarvis_dataset(root: Path) -> Path:
    """Five JARVIS-style columns; rows exercising each skip reason (see EXPECTED_SKIPS)."""
    cifs = root / "cif"
    cf.write_cif(cf.rocksalt(), cifs / "JVASP-1.cif")
    cf.write_cif(cf.perovskite(), cifs / "JVASP-2.cif")
    cf.write_cif(cf.rocksalt_conventional(), cifs / "JVASP-3.cif")  # 8 atoms, primitive 2
    cf.write_cif(cf.wurtzite(), cifs / "JVASP-5.cif")
    (cifs / "JVASP-6.cif").write_text(BAD_CIF)
    cf.write_cif(cf.fluorite(), cifs / "JVASP-7.cif")
    rows = [
        ["JVASP-1", "NaCl", "-2.1", TEXT, "x"],  # row 2
        ["JVASP-2", "SrTiO3", "-3.5", "SrTiO3 is a cubic perovskite with long text.", "x"],
        ["JVASP-3", "MgO", "0.25", "MgO is rock salt structured, a long description here.", ""],
        ["JVASP-4", "GaAs", "1.0", "missing structure file for this one", "x"],  # row 5
        ["JVASP-5", "ZnO", "n/a", "wurtzite ZnO described with a long sentence.", "x"],
        ["JVASP-6", "Na", "0.1", "partial occupancy, which the jarvis reader rejects", "x"],
        ["JVASP-7", "CaF2", "-4.0", "fluorite CaF2 described with a long sentence here.", "x"],
    ]
    header = ["jid", "formula", "formation_energy_peratom", "description", "split"]
    return _write_csv(root / "description.csv", header, rows)


EXPECTED_SKIPS = {
    "JVASP-4": "row 5: CIF missing (cif/JVASP-4.cif)",
    "JVASP-5": "row 6: target 'n/a' is not a number",
    "JVASP-6": "row 7: CIF unparsable: Fractional occupancy is not supported. 0.5 Na",
}


# --- structures -------------------------------------------------------------------------


def test_cif_is_reduced_to_the_primitive_cell(tmp_path: Path) -> None:
    path = cf.write_cif(cf.rocksalt_conventional(4.21), tmp_path / "MgO.cif")
    atoms = read_structure(path)
    assert atoms.num_atoms == 2
    assert sorted(atoms.elements) == ["Mg", "O"]
    # fcc primitive of a 4.21 Å cube: volume a^3 / 4
    volume = abs(np.linalg.det(np.asarray(atoms.lattice_mat)))
    assert volume == pytest.approx(4.21**3 / 4, rel=1e-4)


def test_poscar_is_read_as_given(tmp_path: Path) -> None:
    poscar = tmp_path / "POSCAR"
    poscar.write_text(
        "MgO conventional\n1.0\n4.21 0 0\n0 4.21 0\n0 0 4.21\nMg O\n4 4\nDirect\n"
        "0 0 0\n0 0.5 0.5\n0.5 0 0.5\n0.5 0.5 0\n0.5 0 0\n0 0.5 0\n0 0 0.5\n0.5 0.5 0.5\n"
    )
    atoms = read_structure(poscar)
    assert atoms.num_atoms == 8
    assert atoms.elements == ["Mg"] * 4 + ["O"] * 4


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "is empty"),
        ("just some words\n", "no cell parameters"),
        (BAD_CIF, "Fractional occupancy is not supported"),
        (BAD_CIF.replace("_cell_length_c 4.0\n", ""), "Lattice information is incomplete"),
        (BAD_CIF.split("loop_")[0], "no atom positions"),
    ],
    ids=["empty", "words", "partial-occupancy", "no-c", "no-atoms"],
)
def test_unreadable_cif_raises_one_line_reason_and_prints_nothing(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], text: str, reason: str
) -> None:
    path = tmp_path / "bad.cif"
    path.write_text(text)
    with pytest.raises(StructureError) as info:
        read_structure(path)
    assert reason in info.value.reason
    assert "\n" not in info.value.reason and len(info.value.reason) < 200
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_missing_file_is_a_structure_error(tmp_path: Path) -> None:
    with pytest.raises(StructureError, match="not found"):
        read_structure(tmp_path / "nope.cif")


# --- dataset --------------------------------------------------------------------------


def test_reads_folder_and_lists_every_skipped_row(tmp_path: Path) -> None:
    _jarvis_dataset(tmp_path)
    data = read_dataset(tmp_path)
    assert data.ids == ["JVASP-1", "JVASP-2", "JVASP-3", "JVASP-7"]
    assert {p.id: p.reason for p in data.problems} == EXPECTED_SKIPS
    assert all(p.kind == "skipped-row" for p in data.problems)
    assert data.rows_read == data.rows_total == 7

    first = data.records[0]
    assert (first.formula, first.target, first.text) == ("NaCl", -2.1, TEXT)
    assert first.path == tmp_path / "cif" / "JVASP-1.cif"
    mgo = data.records[2]
    assert mgo.n_atoms == mgo.atoms.num_atoms == 2  # primitive cell, not the CIF's 8
    assert data.columns is not None
    assert (data.columns.id, data.columns.target, data.columns.text) == (0, 2, 3)


def test_csv_path_is_the_same_as_its_folder(tmp_path: Path) -> None:
    csv_path = _jarvis_dataset(tmp_path)
    by_folder = read_dataset(tmp_path)
    by_csv = read_dataset(csv_path)
    assert by_csv.root == by_folder.root == tmp_path
    assert by_csv.ids == by_folder.ids
    assert by_csv.problems == by_folder.problems


def test_too_many_atoms_is_skipped_with_the_count(tmp_path: Path) -> None:
    _jarvis_dataset(tmp_path)
    data = read_dataset(tmp_path, max_atoms=4)
    reasons = {p.id: p.reason for p in data.problems}
    assert reasons["JVASP-2"] == "row 3: 5 atoms > --max-atoms 4"
    assert "JVASP-2" not in data.ids and "JVASP-3" in data.ids  # MgO primitive has 2


def test_limit_keeps_the_first_usable_rows_and_reports_progress(tmp_path: Path) -> None:
    _jarvis_dataset(tmp_path)
    calls: list[tuple[int, int]] = []
    data = read_dataset(tmp_path, limit=2, progress=lambda done, total: calls.append((done, total)))
    assert data.ids == ["JVASP-1", "JVASP-2"]
    assert data.problems == []
    assert calls == [(1, 7), (2, 7)]
    data = read_dataset(tmp_path, limit=4)
    assert data.ids == ["JVASP-1", "JVASP-2", "JVASP-3", "JVASP-7"]
    assert len(data.problems) == 3


def test_mp_style_text_column_found_by_content(tmp_path: Path) -> None:
    # no recognisable header names; text in the 5th column, a numeric extra in the 4th
    cf.write_cif(cf.zincblende(), tmp_path / "cif" / "mp-2534.cif")
    cf.write_cif(cf.diamond(), tmp_path / "cif" / "mp-149.cif")
    rows = [
        ["mp-2534", "GaAs", "0.19", "2", "GaAs is Zincblende, Sphalerite structured and cubic."],
        ["mp-149", "Si", "0.61", "2", "Si is diamond structured and crystallizes in Fd-3m."],
    ]
    _write_csv(tmp_path / "description.csv", ["c0", "c1", "c2", "c3", "c4"], rows)
    data = read_dataset(tmp_path)
    assert data.ids == ["mp-2534", "mp-149"]
    assert [r.target for r in data.records] == [0.19, 0.61]
    assert data.records[1].text.startswith("Si is diamond")


def test_header_names_win_over_positions(tmp_path: Path) -> None:
    cf.write_cif(cf.zincblende(), tmp_path / "cif" / "mp-2534.cif")
    header = ["description", "band_gap", "material_id", "formula_pretty"]
    rows = [["GaAs is zincblende structured.", "0.19", "mp-2534", "GaAs"]]
    _write_csv(tmp_path / "description.csv", header, rows)
    data = read_dataset(tmp_path)
    record = data.records[0]
    assert (record.id, record.formula, record.target) == ("mp-2534", "GaAs", 0.19)
    assert record.text == "GaAs is zincblende structured."


def test_map_columns_by_position_without_header() -> None:
    sample = [["JVASP-1", "NaCl", "-2.1", TEXT, "train"]]
    columns = map_columns([], sample)
    assert columns is not None
    assert (columns.id, columns.formula, columns.target, columns.text) == (0, 1, 2, 3)


def test_csv_without_header_and_multiline_text(tmp_path: Path) -> None:
    cf.write_cif(cf.rocksalt(), tmp_path / "cif" / "A.cif")
    cf.write_cif(cf.perovskite(), tmp_path / "cif" / "B.cif")
    rows = [
        ["A", "NaCl", "1.5", "first line,\nsecond line of a long description"],
        ["B", "SrTiO3", "oops", "text"],
    ]
    _write_csv(tmp_path / "description.csv", None, rows)
    data = read_dataset(tmp_path)
    assert data.ids == ["A"]
    assert data.records[0].text == "first line,\nsecond line of a long description"
    # the second record starts on line 3 (the first spans lines 1-2)
    assert [p.reason for p in data.problems] == ["row 3: target 'oops' is not a number"]


def test_poscar_like_files_and_duplicate_ids(tmp_path: Path) -> None:
    (tmp_path / "cif").mkdir()
    (tmp_path / "cif" / "S1.vasp").write_text(
        "Si\n1.0\n0 2.7 2.7\n2.7 0 2.7\n2.7 2.7 0\nSi\n2\ndirect\n0 0 0\n0.25 0.25 0.25\n"
    )
    rows = [["S1", "Si", "0.5", "silicon in a vasp file"], ["S1", "Si", "0.6", "again"]]
    _write_csv(tmp_path / "description.csv", ["id", "formula", "target", "text"], rows)
    data = read_dataset(tmp_path)
    assert data.ids == ["S1"] and data.records[0].n_atoms == 2
    assert [p.reason for p in data.problems] == ["row 3: duplicate id (first at row 2)"]


def test_nothing_usable_is_a_user_error_naming_the_first_reason(tmp_path: Path) -> None:
    rows = [["X1", "NaCl", "1.0", "text one"], ["X2", "KCl", "2.0", "text two"]]
    _write_csv(tmp_path / "description.csv", ["id", "formula", "target", "text"], rows)
    with pytest.raises(UserError) as info:
        read_dataset(tmp_path)
    message = str(info.value)
    assert "no usable crystals" in message and "2 rows skipped" in message
    assert "row 2: CIF missing (X1.cif)" in message and "no cif/ folder" in message
    assert "\n" not in message


def test_missing_path_and_missing_csv_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such file or folder"):
        read_dataset(tmp_path / "nowhere")
    (tmp_path / "cif").mkdir()
    (tmp_path / "other.csv").write_text("id,target\n")
    with pytest.raises(UserError, match=r"no description\.csv in .*found: other\.csv"):
        read_dataset(tmp_path)


def test_header_only_csv_is_a_user_error(tmp_path: Path) -> None:
    _write_csv(tmp_path / "description.csv", ["id", "formula", "target", "text"], [])
    with pytest.raises(UserError, match="no data rows"):
        read_dataset(tmp_path)


def test_second_open_with_graph_cache_parses_no_structure(tmp_path: Path, monkeypatch) -> None:
    from alpha_tui.data import parse_pool
    from alpha_tui.data.graph_cache import GraphCache
    from alpha_tui.data.graphs import build_graph

    csv_path = _jarvis_dataset(tmp_path / "data")
    cache = GraphCache(tmp_path / "graphs")
    first = read_dataset(csv_path, graph_cache=cache)
    assert all(r.atoms is not None for r in first.records)
    for record in first.records:
        cache.get_or_build(record.path, record.atoms)

    cached = {r.path for r in first.records}

    def no_parsing(path):
        if path in cached:
            raise AssertionError(f"parsed {path} although its graph is cached")
        return read_structure(path)  # the unparsable one is still read and still skipped

    monkeypatch.setattr(parse_pool, "read_structure", no_parsing)  # the parser rows use
    second = read_dataset(csv_path, graph_cache=cache)
    assert [r.id for r in second.records] == [r.id for r in first.records]
    assert [p.reason for p in second.problems] == [p.reason for p in first.problems]
    for before, after in zip(first.records, second.records, strict=True):
        assert after.atoms is None and after.cache_key == before.cache_key
        cached_graph = cache.load(after.cache_key)  # read only when a batch needs it
        assert after.n_atoms == before.n_atoms == cached_graph.num_nodes
        expected = build_graph(before.atoms)
        np.testing.assert_array_equal(cached_graph.src, expected.src)
        np.testing.assert_array_equal(cached_graph.atomic_numbers, expected.atomic_numbers)
