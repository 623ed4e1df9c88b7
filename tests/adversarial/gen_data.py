"""Bad datasets: CSV encodings, quoting, ids and sizes; CIFs that crash native code."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from adversarial.base import CRYSTALS, Case, rng_for, run_args, write_dataset

HEADER = ["id", "formula", "target", "text"]


def _rows() -> list[list[str]]:
    return [[n, n, f"{i + 0.5}", f"{n} is a crystal."] for i, n in enumerate(CRYSTALS)]


def _csv_text(rows: list[list[str]], newline: str = "\n") -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator=newline).writerows(rows)
    return buf.getvalue()


def _csv_case(name: str, content: bytes) -> Case:
    def build(folder: Path) -> list[str]:
        data = write_dataset(folder / "data")
        (data / "description.csv").write_bytes(content)
        return run_args(folder, data=data)

    return Case("csv", name, build)


def csv_cases(seed: int) -> list[Case]:
    rng = rng_for(seed, "csv")
    good = _csv_text([HEADER, *_rows()])
    contents: dict[str, bytes] = {
        "utf8": good.encode(),
        "utf8-bom": b"\xef\xbb\xbf" + good.encode(),
        "utf16": good.encode("utf-16"),
        "utf16-le-no-bom": good.encode("utf-16-le"),
        "latin1-text": _csv_text([HEADER, *[[*r[:3], r[3] + " caf\xe9"] for r in _rows()]]).encode(
            "latin-1"
        ),
        "cp1252-quotes": _csv_text([HEADER, *[[*r[:3], "\u201cq\u201d"] for r in _rows()]]).encode(
            "cp1252"
        ),
        "crlf": _csv_text([HEADER, *_rows()], "\r\n").encode(),
        "cr-only": _csv_text([HEADER, *_rows()], "\r").encode(),
        "empty": b"",
        "header-only": _csv_text([HEADER]).encode(),
        "blank-lines": b"\n\n\n",
        "no-header": _csv_text(_rows()).encode(),
        "tabs": _csv_text([HEADER, *_rows()]).replace(",", "\t").encode(),
        "semicolons": _csv_text([HEADER, *_rows()]).replace(",", ";").encode(),
        "extra-columns": _csv_text(
            [[*HEADER, "x", "y"], *[[*r, "1", "2"] for r in _rows()]]
        ).encode(),
        "missing-columns": _csv_text([HEADER[:2], *[r[:2] for r in _rows()]]).encode(),
        "nan-target": _csv_text([HEADER, *[[*r[:2], "nan", r[3]] for r in _rows()]]).encode(),
        "inf-target": _csv_text([HEADER, *_rows(), ["Cu", "Cu", "inf", "x"]]).encode(),
        "empty-target": _csv_text([HEADER, *_rows()[:2], ["CsCl", "CsCl", "", "t"]]).encode(),
        "duplicate-ids": _csv_text([HEADER, *_rows(), *_rows()]).encode(),
        "dotdot-id": _csv_text([HEADER, *_rows(), ["..", "x", "1", "t"]]).encode(),
        "slash-id": _csv_text([HEADER, *_rows(), ["../data/cif/NaCl", "x", "1", "t"]]).encode(),
        "absolute-id": _csv_text([HEADER, *_rows(), ["/etc/passwd", "x", "1", "t"]]).encode(),
        "dot-id": _csv_text([HEADER, *_rows(), [".", "x", "1", "t"]]).encode(),
        "long-id": _csv_text([HEADER, *_rows(), ["x" * 5000, "x", "1", "t"]]).encode(),
        "nul-bytes": good.encode().replace(b"crystal", b"cry\x00stal"),
        "binary-garbage": bytes(rng.randrange(256) for _ in range(2048)),
        "200k-text": _csv_text([HEADER, *[[*r[:3], "word " * 40000] for r in _rows()]]).encode(),
        "many-columns": _csv_text(
            [[*HEADER, *map(str, range(5000))], *[[*r, *("1" * 5000)] for r in _rows()]]
        ).encode(),
        "multiline-text": _csv_text(
            [HEADER, *[[*r[:3], "line one\nline two"] for r in _rows()]]
        ).encode(),
        "unicode-ids": _csv_text([HEADER, *_rows(), ["\u00e9\u4e2d", "x", "1", "t"]]).encode(),
        "only-bad-rows": _csv_text([HEADER, ["Missing", "X", "1", "t"]]).encode(),
    }
    # unterminated and stray quotes at several rows: every later row must still load
    for row in range(1, 4):
        lines = good.splitlines(keepends=True)
        lines[row] = lines[row].rstrip("\n") + ',"open quote\n'
        contents[f"unterminated-quote-row{row + 1}"] = "".join(lines).encode()
        lines = good.splitlines(keepends=True)
        lines[row] = lines[row].replace("is a", 'is "a', 1)
        contents[f"stray-quote-row{row + 1}"] = "".join(lines).encode()
    for i in range(6):
        raw = bytearray(good.encode())
        for _ in range(3):
            raw[rng.randrange(len(raw))] = rng.choice(b'",\n\r\x00;')
        contents[f"mutated-{i}"] = bytes(raw)
    return [_csv_case(name, data) for name, data in contents.items()]


CIF_TEMPLATE = """data_test
_symmetry_space_group_name_H-M   'P 1'
_cell_length_a   {a}
_cell_length_b   {b}
_cell_length_c   {c}
_cell_angle_alpha   {alpha}
_cell_angle_beta   {beta}
_cell_angle_gamma   {gamma}
_symmetry_Int_Tables_number   1
loop_
 _symmetry_equiv_pos_as_xyz
  'x, y, z'
loop_
 _atom_site_type_symbol
 _atom_site_label
 _atom_site_symmetry_multiplicity
 _atom_site_fract_x
 _atom_site_fract_y
 _atom_site_fract_z
 _atom_site_occupancy
{sites}
"""


def _cif(
    a="4.0",
    b="4.0",
    c="4.0",
    alpha="90",
    beta="90",
    gamma="90",
    sites=(("Na", "0", "0", "0"), ("Cl", "0.5", "0.5", "0.5")),
) -> str:
    lines = [f"  {el}  {el}{i}  1  {x}  {y}  {z}  1" for i, (el, x, y, z) in enumerate(sites)]
    return CIF_TEMPLATE.format(
        a=a, b=b, c=c, alpha=alpha, beta=beta, gamma=gamma, sites="\n".join(lines)
    )


def _cif_case(name: str, text: str | bytes) -> Case:
    def build(folder: Path) -> list[str]:
        data = write_dataset(folder / "data")
        target = data / "cif" / "NaCl.cif"
        target.write_bytes(text if isinstance(text, bytes) else text.encode())
        return run_args(folder, data=data)

    return Case("cif", name, build)


def cif_cases(seed: int) -> list[Case]:
    rng = rng_for(seed, "cif")
    texts: dict[str, str | bytes] = {
        "valid": _cif(),
        "nan-coordinate": _cif(sites=(("Na", "nan", "0", "0"), ("Cl", "0.5", "0.5", "0.5"))),
        "inf-coordinate": _cif(sites=(("Na", "inf", "0", "0"), ("Cl", "0.5", "0.5", "0.5"))),
        "neg-inf-coordinate": _cif(sites=(("Na", "-inf", "0", "0"), ("Cl", "0.5", "0.5", "0"))),
        "huge-coordinate": _cif(sites=(("Na", "1e308", "0", "0"), ("Cl", "0.5", "0.5", "0.5"))),
        "overflow-coordinate": _cif(sites=(("Na", "1e400", "0", "0"), ("Cl", "0.5", "0.5", "0"))),
        "tiny-cell-1e-3": _cif(a="0.1", b="0.1", c="0.1"),
        "zero-axis": _cif(a="0"),
        "negative-axis": _cif(a="-4"),
        "nan-axis": _cif(b="nan"),
        "inf-axis": _cif(c="inf"),
        "huge-axis": _cif(a="1e6"),
        "flat-angle": _cif(gamma="180"),
        "zero-angle": _cif(alpha="0"),
        "coplanar-angles": _cif(alpha="120", beta="120", gamma="120"),
        "overlapping-atoms": _cif(sites=(("Na", "0", "0", "0"), ("Cl", "0", "0", "0"))),
        "nearly-overlapping": _cif(sites=(("Na", "0", "0", "0"), ("Cl", "0.001", "0", "0"))),
        "overlap-through-image": _cif(sites=(("Na", "0", "0", "0"), ("Cl", "0.99999", "0", "0"))),
        "unknown-element": _cif(sites=(("Xx", "0", "0", "0"), ("Cl", "0.5", "0.5", "0.5"))),
        "no-sites": _cif(sites=()),
        "fractional-occupancy": _cif().replace("  1\n", "  0.5\n", 1),
        "empty": "",
        "garbage": bytes(rng.randrange(256) for _ in range(1500)),
        "truncated": _cif()[: len(_cif()) // 2],
        "no-symmetry-loop": _cif().replace("_symmetry_equiv_pos_as_xyz", "_other"),
        "many-sites": _cif(
            a="40",
            b="40",
            c="40",
            sites=tuple(
                ("Na", f"{(i % 8) / 8:.4f}", f"{(i // 8 % 8) / 8:.4f}", f"{i // 64 / 8:.4f}")
                for i in range(450)
            ),
        ),
        "latin1-bytes": _cif().encode("utf-8").replace(b"data_test", b"data_t\xe9st"),
    }
    for i in range(8):
        raw = list(_cif())
        for _ in range(4):
            raw[rng.randrange(len(raw))] = rng.choice("0.-e9 \n'nai")
        texts[f"mutated-{i}"] = "".join(raw)
    out = [_cif_case(name, text) for name, text in texts.items()]
    out.append(_poscar_case("poscar-nan", "Na\n1.0\n4 0 0\n0 4 0\n0 0 nan\nNa\n1\nDirect\n0 0 0\n"))
    out.append(
        _poscar_case("poscar-zero-cell", "Na\n1.0\n0 0 0\n0 0 0\n0 0 0\nNa\n1\nDirect\n0 0 0\n")
    )
    out.append(
        _poscar_case(
            "poscar-overlap", "NaCl\n1.0\n4 0 0\n0 4 0\n0 0 4\nNa Cl\n1 1\nDirect\n0 0 0\n0 0 0\n"
        )
    )
    return out


def _poscar_case(name: str, text: str) -> Case:
    def build(folder: Path) -> list[str]:
        data = write_dataset(folder / "data")
        (data / "cif" / "NaCl.cif").unlink()
        (data / "cif" / "NaCl.vasp").write_text(text)
        return run_args(folder, data=data)

    return Case("cif", name, build)


def generate(seed: int) -> list[Case]:
    return csv_cases(seed) + cif_cases(seed)
