"""Property tests: the CSV reader, the structure validator and the reduction parser.

Each property is checked against an independent statement: every non-blank line of a
CSV ends up in a record or in the listed unterminated one; the validator refuses
exactly the geometries that break the stated bounds (computed here by brute force);
the parser either returns a spec or raises the one-line UserError, never anything else.
"""

from __future__ import annotations

import csv
import io
import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alpha_tui.analysis.reductions import parse_reduction
from alpha_tui.cli import one_line
from alpha_tui.data.dataset import UNTERMINATED, csv_rows
from alpha_tui.data.structures import (
    MAX_LENGTH,
    MIN_DISTANCE,
    MIN_HEIGHT,
    StructureError,
    check_geometry,
)
from alpha_tui.errors import UserError

pytestmark = pytest.mark.both_lanes

FIELD = st.text(alphabet=st.sampled_from('ab1., "\n\r'), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(FIELD, min_size=1, max_size=4), min_size=1, max_size=8))
def test_csv_rows_round_trip(rows: list[list[str]]) -> None:
    """Text written by the csv module reads back row for row (blank rows dropped)."""
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)  # \r\n terminator: both \r and \n fields get quoted
    got = [fields for _, fields in csv_rows(buf.getvalue())]
    want = [[f.strip() for f in r] for r in rows if any(f.strip() for f in r)]
    assert got == want


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from('ab1,"\n'), max_size=80))
def test_csv_rows_lose_no_line(text: str) -> None:
    """Every line holding data starts a record, lies inside a quoted one, or is listed."""
    rows = csv_rows(text)
    lines = io.StringIO(text, newline="").readlines()
    starts = [line for line, _ in rows]
    assert starts == sorted(set(starts))
    assert all(1 <= s <= len(lines) for s in starts)
    listed = {line for line, fields in rows if fields == [UNTERMINATED]}
    # a listed record never swallows what follows: the next line starts anew
    for line in listed:
        later = [s for s in starts if s > line]
        rest = "".join(lines[line:])
        if rest.strip(' \n,"'):
            assert later, (line, text)
    for number, content in enumerate(lines, start=1):
        if not content.strip(' \n,"'):
            continue
        covering = [s for s in starts if s <= number]
        assert covering, (number, text)


class _Atoms:
    """The attributes check_geometry reads, without jarvis."""

    def __init__(self, lattice: np.ndarray, frac: np.ndarray) -> None:
        self.lattice_mat = lattice
        self.frac_coords = frac
        self.elements = ["Na"] * len(frac)


def _brute_min_distance(lattice: np.ndarray, frac: np.ndarray) -> float:
    wrapped = frac - np.floor(frac)
    best = math.inf
    for i, j in itertools.product(range(len(frac)), repeat=2):
        for shift in itertools.product((-1, 0, 1), repeat=3):
            if i == j and shift == (0, 0, 0):
                continue
            d = (wrapped[j] + np.array(shift) - wrapped[i]) @ lattice
            best = min(best, float(np.linalg.norm(d)))
    return best


NUMBER = st.floats(min_value=-6.0, max_value=6.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(NUMBER, min_size=9, max_size=9),
    st.lists(st.floats(0, 1, allow_nan=False), min_size=3, max_size=9),
    st.sampled_from([None, math.nan, math.inf]),
)
def test_geometry_validator(cell: list[float], coords: list[float], poison) -> None:
    lattice = np.array(cell).reshape(3, 3) + np.diag([4.0, 4.0, 4.0])
    frac = np.array(coords[: len(coords) // 3 * 3]).reshape(-1, 3)
    if poison is not None:
        frac[0, 0] = poison
    volume = abs(np.linalg.det(lattice))
    faces = [np.linalg.norm(np.cross(lattice[i], lattice[j])) for i, j in ((1, 2), (2, 0), (0, 1))]
    height = volume / max(faces)
    bad = (
        poison is not None
        or np.linalg.norm(lattice, axis=1).max() > MAX_LENGTH
        or not height >= MIN_HEIGHT
        or _brute_min_distance(lattice, frac) < MIN_DISTANCE
    )
    if bad:
        with pytest.raises(StructureError):
            check_geometry(_Atoms(lattice, frac))
    else:
        check_geometry(_Atoms(lattice, frac))


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=30))
def test_reduction_parser_total(text: str) -> None:
    """Any text is a spec or a one-line UserError; nothing else escapes."""
    try:
        spec = parse_reduction(text)
    except UserError as exc:
        assert "\n" not in one_line(exc.message)  # what the CLI prints
        return
    assert spec.kind


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["dim", "quantile", "topk-mean"]), st.text(max_size=12))
def test_reduction_parameters(kind: str, param: str) -> None:
    try:
        parse_reduction(f"{kind}:{param}")
    except UserError as exc:
        assert "\n" not in one_line(exc.message)
