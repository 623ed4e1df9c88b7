"""The fresh set's datasets: random field substitution in CSVs and CIFs.

gen_data writes a list of named bad files; here a seeded Generator substitutes random
cells of a valid description.csv with values from a hostile pool, shuffles, deletes
or duplicates lines and re-encodes whole files, and rewrites random numeric fields of
a valid CIF (cell, angles, coordinates, occupancies, element symbols) or truncates it
at a random offset. Same seed, same cases.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from adversarial.base import CRYSTALS, Case, run_args, write_dataset
from adversarial.gen_data import HEADER, _cif

CELL_VALUES = (
    '"',
    '""',
    '"a',
    'a"b',
    "\n",
    "\r\n",
    ",",
    ";",
    "\t",
    "\x00",
    "\x1b[2J",
    "\u202e",
    "\ufeff",
    "💎" * 50,
    "-",
    "1e309",
    "-nan",
    "0x1p3",
    "1_000",
    " 1 ",
    "é" * 3000,
    "NULL",
    "None",
    "#",
    "=cmd|' /C calc'!A0",
    "..",
    "/",
    "\\",
    "",
)
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16-be", "utf-32", "gb18030", "shift_jis", "cp1251")
NUMBERS = (
    "nan",
    "inf",
    "-inf",
    "0",
    "-0",
    "1e-9",
    "1e9",
    "1e308",
    "1e-320",
    "",
    "?",
    ".",
    "4.0(3)",
    "--1",
    "1e",
    "0.5.5",
    "٤",
)  # the last is an Arabic-Indic digit four


def _rng(seed: int, part: str) -> np.random.Generator:
    return np.random.default_rng([seed, *part.encode(), 7])


def _rows() -> list[list[str]]:
    return [[n, n, f"{i + 0.5}", f"{n} is a crystal."] for i, n in enumerate(CRYSTALS)]


def _csv_case(name: str, content: bytes) -> Case:
    def build(folder: Path) -> list[str]:
        data = write_dataset(folder / "data")
        (data / "description.csv").write_bytes(content)
        return run_args(folder, data=data)

    return Case("csv", f"fresh-{name}", build)


def _encode(rows: list[list[str]], encoding: str, rng: np.random.Generator) -> bytes:
    buf = io.StringIO()
    quoting = [csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC][int(rng.integers(3))]
    csv.writer(buf, quoting=quoting, lineterminator=str(rng.choice(["\n", "\r\n"]))).writerows(rows)
    return buf.getvalue().encode(encoding, errors="replace")


def csv_cases(seed: int) -> list[Case]:
    rng = _rng(seed, "csv")
    out: list[Case] = []
    for i in range(20):
        rows = [list(HEADER), *_rows()]
        for _ in range(int(rng.integers(1, 4))):
            r, c = int(rng.integers(len(rows))), int(rng.integers(4))
            rows[r][c] = str(CELL_VALUES[int(rng.integers(len(CELL_VALUES)))])
        data = _encode(rows, "utf-8", rng)
        out.append(_csv_case(f"cell-{i}", data))
    for i in range(6):
        rows = [list(HEADER), *_rows()]
        op = str(rng.choice(["shuffle-header", "drop-line", "dup-line", "swap-cols", "reencode"]))
        if op == "shuffle-header":
            order = rng.permutation(4)
            rows = [[row[j] for j in order] for row in rows]
        elif op == "drop-line":
            del rows[int(rng.integers(len(rows)))]
        elif op == "dup-line":
            rows.insert(int(rng.integers(len(rows))), list(rows[int(rng.integers(len(rows)))]))
        elif op == "swap-cols":
            rows[0] = [rows[0][1], rows[0][0], *rows[0][2:]]
        encoding = str(rng.choice(ENCODINGS)) if op == "reencode" else "utf-8"
        out.append(_csv_case(f"{op}-{encoding}-{i}", _encode(rows, encoding, rng)))
    for i in range(4):  # a valid file cut at a random byte, mid-character or mid-quote
        text = _encode([list(HEADER), *[[*r[:3], f'"{r[3]}" é'] for r in _rows()]], "utf-8", rng)
        out.append(_csv_case(f"csv-cut-{i}", text[: int(rng.integers(1, len(text)))]))
    return out


def _cif_case(name: str, text: bytes) -> Case:
    def build(folder: Path) -> list[str]:
        data = write_dataset(folder / "data")
        (data / "cif" / "NaCl.cif").write_bytes(text)
        return run_args(folder, data=data)

    return Case("cif", f"fresh-{name}", build)


def cif_cases(seed: int) -> list[Case]:
    rng = _rng(seed, "cif")
    out: list[Case] = []
    fields = ("a", "b", "c", "alpha", "beta", "gamma")
    for i in range(16):
        cell = {f: v for f, v in zip(fields, ("4.0", "4.0", "4.0", "90", "90", "90"), strict=True)}
        sites = [["Na", "0", "0", "0"], ["Cl", "0.5", "0.5", "0.5"]]
        for _ in range(int(rng.integers(1, 3))):
            value = str(NUMBERS[int(rng.integers(len(NUMBERS)))])
            if rng.random() < 0.4:
                cell[fields[int(rng.integers(6))]] = value
            else:
                sites[int(rng.integers(2))][int(rng.integers(1, 4))] = value
        if rng.random() < 0.2:
            sites[0][0] = str(rng.choice(["X", "Nq", "", "na", "NA", "D", "Uuo", "H+"]))
        if rng.random() < 0.2:  # one site copied onto the other: a zero distance
            sites[1][1:] = sites[0][1:]
        out.append(_cif_case(f"field-{i}", _cif(**cell, sites=tuple(map(tuple, sites))).encode()))
    valid = _cif().encode()
    for i in range(4):
        out.append(_cif_case(f"cif-cut-{i}", valid[: int(rng.integers(1, len(valid)))]))
    for i in range(4):  # the loop header and its rows disagree in length
        lines = _cif().splitlines()
        drop = int(rng.integers(len(lines)))
        out.append(
            _cif_case(f"drop-line-{i}-{drop}", "\n".join(lines[:drop] + lines[drop + 1 :]).encode())
        )
    return out


def generate(seed: int) -> list[Case]:
    return csv_cases(seed) + cif_cases(seed)
