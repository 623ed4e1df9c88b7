"""Reductions against closed forms computed in plain Python on hand-chosen gates."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from alpha_tui.analysis import reductions
from alpha_tui.analysis.reductions import (
    DEFAULT_CYCLE,
    PARAMETRISED,
    ReductionSpec,
    describe,
    load_weights,
    parse_reduction,
    reduce_gates,
)
from alpha_tui.errors import UserError

pytestmark = pytest.mark.both_lanes  # also run by make test-dgl (torch 2.2, numpy<2)

# H = 8; binary fractions so float32 storage is exact.
ROWS = [
    [0.0625, 0.9375, 0.25, 0.75, 0.125, 0.625, 0.375, 0.875],
    [0.5] * 8,
    [0.0, 0.5, 0.5, 0.5, 1.0, 0.75, 0.25, 0.5],
    [0.875, 0.125, 0.0625, 0.0625, 0.0625, 0.125, 0.875, 0.9375],
]
GATES = np.asarray(ROWS, dtype=np.float32)


def _quantile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (pos - lo) * (s[hi] - s[lo])


EXPECTED = {
    "mean": lambda r: sum(r) / len(r),
    "max": max,
    "min": min,
    "median": statistics.median,
    "std": statistics.pstdev,
    "open-fraction": lambda r: sum(x > 0.5 for x in r) / len(r),
    "dim:3": lambda r: r[3],
    "quantile:0.9": lambda r: _quantile(r, 0.9),
    "quantile:0.25": lambda r: _quantile(r, 0.25),
    "quantile:0": min,
    "quantile:1": max,
    "topk-mean:3": lambda r: sum(sorted(r)[-3:]) / 3,
    "topk-mean:8": lambda r: sum(r) / len(r),
    "topk-mean:1": max,
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_simple_reductions_match_closed_forms(name: str) -> None:
    got = reduce_gates(name, GATES)
    want = [EXPECTED[name](row) for row in ROWS]
    assert got.dtype == np.float64 and got.shape == (len(ROWS),)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_hand_values_of_first_row() -> None:
    # Spelled out once so the closed forms above are themselves checked.
    row = {k: float(reduce_gates(k, GATES)[0]) for k in EXPECTED}
    assert row["mean"] == pytest.approx(4.0 / 8)
    assert row["median"] == pytest.approx((0.375 + 0.625) / 2)
    assert row["open-fraction"] == pytest.approx(4 / 8)
    assert row["quantile:0.9"] == pytest.approx(0.875 + 0.3 * (0.9375 - 0.875))
    assert row["topk-mean:3"] == pytest.approx((0.75 + 0.875 + 0.9375) / 3)
    assert reduce_gates("open-fraction", GATES)[1] == 0.0  # 0.5 is not "open"


def test_chunk_seams_do_not_change_results(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    g = rng.uniform(0, 1, (23, 8)).astype(np.float32)
    whole = {k: reduce_gates(k, g) for k in ("mean", "median", "quantile:0.75", "pc1")}
    monkeypatch.setattr(reductions, "CHUNK_ROWS", 5)
    for k, v in whole.items():
        np.testing.assert_allclose(reduce_gates(k, g), v, atol=1e-12)
    np.testing.assert_allclose(whole["median"], np.median(g.astype(np.float64), axis=1))


@pytest.mark.parametrize(
    ("text", "kind", "param", "name"),
    [
        ("mean", "mean", None, "mean"),
        (" MAX ", "max", None, "max"),
        ("dim:5", "dim", 5, "dim:5"),
        ("quantile:.90", "quantile", 0.9, "quantile:0.9"),
        ("quantile:1", "quantile", 1.0, "quantile:1"),
        ("open_fraction", "open-fraction", None, "open-fraction"),
        ("topk-mean:16", "topk-mean", 16, "topk-mean:16"),
        ("pc1", "pc1", None, "pc1"),
        ("injection", "injection", None, "injection"),
        ("weighted:/tmp/w.npy", "weighted", "/tmp/w.npy", "weighted:/tmp/w.npy"),
    ],
)
def test_parse_canonical(text: str, kind: str, param: object, name: str) -> None:
    spec = parse_reduction(text)
    assert (spec.kind, spec.param, spec.name) == (kind, param, name)
    assert parse_reduction(spec.name) == spec
    assert parse_reduction(spec) is spec


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty reduction"),
        ("avgmax", "unknown reduction"),
        ("mean:3", "takes no parameter"),
        ("dim", "needs a parameter"),
        ("dim:-1", ">= 0"),
        ("dim:1.5", "needs an integer"),
        ("quantile:1.5", "[0, 1]"),
        ("quantile:-0.1", "[0, 1]"),
        ("quantile:x", "needs a number"),
        ("topk-mean:0", "K >= 1"),
        ("weighted:", "needs a parameter"),
    ],
)
def test_parse_errors_are_one_line_user_errors(text: str, fragment: str) -> None:
    with pytest.raises(UserError) as err:
        parse_reduction(text)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_parameter_ranges_checked_against_hidden_size() -> None:
    reduce_gates("dim:7", GATES)
    with pytest.raises(UserError, match=r"dim:8 is out of range.*0\.\.7"):
        reduce_gates("dim:8", GATES)
    reduce_gates("topk-mean:8", GATES)
    with pytest.raises(UserError, match=r"topk-mean:9 is out of range.*1\.\.8"):
        reduce_gates("topk-mean:9", GATES)


def test_default_cycle_and_descriptions() -> None:
    assert DEFAULT_CYCLE[0] == "mean" and len(DEFAULT_CYCLE) == 11
    assert set(PARAMETRISED) == {"dim", "quantile", "topk-mean", "weighted"}
    for text in (*DEFAULT_CYCLE, "weighted:w.npy"):
        assert parse_reduction(text).name == text
        line = describe(text)
        assert line and "\n" not in line
    assert "sqrt(H)" in describe("mean")
    assert "0.9" in describe("quantile:0.9")


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_pc1_recovers_projection_on_known_direction(sign: float) -> None:
    u = np.array([1.0, 2.0, -1.0, 0.5, 3.0, 0.0, 1.0, 1.0]) * sign
    u /= np.linalg.norm(u)
    s = np.linspace(-0.15, 0.15, 11)  # centered scores
    gates = (0.5 + s[:, None] * u[None, :]).astype(np.float32)
    got = reduce_gates("pc1", gates)
    # sum(u) > 0 for sign=+1: the mean rises with s, so the score is +s; else -s.
    np.testing.assert_allclose(got, s * sign, atol=2e-6)
    mean = reduce_gates("mean", gates)
    assert np.corrcoef(got, mean)[0, 1] > 0.99


def test_pc1_matches_svd_of_centered_gates() -> None:
    rng = np.random.default_rng(7)
    base = rng.uniform(0, 1, (200, 1))
    g = np.clip(base + rng.normal(0, 0.1, (200, 6)) * [1, 2, 0.5, 1, 3, 1], 0, 1)
    g = g.astype(np.float32)
    x = g.astype(np.float64) - g.astype(np.float64).mean(axis=0)
    u, sv, _ = np.linalg.svd(x, full_matrices=False)
    ref = u[:, 0] * sv[0]
    ref *= np.sign(np.corrcoef(ref, g.mean(axis=1))[0, 1])
    np.testing.assert_allclose(reduce_gates("pc1", g), ref, atol=1e-8)


def test_pc1_degenerate_inputs_are_zero() -> None:
    assert reduce_gates("pc1", GATES[:1]).tolist() == [0.0]
    assert reduce_gates("pc1", np.full((4, 3), 0.3, np.float32)).tolist() == [0.0] * 4


def test_pc1_of_non_finite_gates_is_nan_not_a_lapack_error() -> None:
    gates = np.array([[0.1, 0.2], [np.nan, 0.4], [0.5, 0.6]], np.float32)
    assert np.isnan(reduce_gates("pc1", gates)).all()


def test_injection_closed_form_and_zero_norm() -> None:
    gates = np.array([[0.5, 0.25, 1.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.5, 0.5, 0.5, 0.5]])
    text = np.array([[1.0, 2.0, 2.0, 0.0], [0.0, 3.0, 0.0, 4.0]])
    atom_crystal = np.array([0, 0, 1])
    node_norm = np.array([2.0, 4.0, 0.0])
    want0 = math.sqrt((0.5 * 1) ** 2 + (0.25 * 2) ** 2 + (1.0 * 2) ** 2) / 2.0
    want1 = 3.0 / 4.0  # |t0| = 3, alpha = 1
    by_crystal = reduce_gates(
        "injection", gates, text_per_crystal=text, atom_crystal=atom_crystal, node_norm=node_norm
    )
    assert by_crystal[0] == pytest.approx(want0)
    assert by_crystal[1] == pytest.approx(want1)
    assert math.isnan(by_crystal[2])  # ||x|| == 0: no ratio, NaN rather than inf
    # the same numbers from an explicit [A, H] broadcast of the per-crystal text
    broadcast = np.linalg.norm(gates * text[atom_crystal], axis=1)[:2] / node_norm[:2]
    np.testing.assert_allclose(by_crystal[:2], broadcast, rtol=1e-12)
    # crystals listed in another order: the gather must follow atom_crystal
    swapped = reduce_gates(
        "injection", gates, text_per_crystal=text[::-1], atom_crystal=1 - atom_crystal,
        node_norm=node_norm,
    )  # fmt: skip
    np.testing.assert_array_equal(swapped[:2], by_crystal[:2])
    with pytest.raises(ValueError):
        reduce_gates("injection", gates)
    with pytest.raises(ValueError):
        reduce_gates("injection", gates, text_per_crystal=text, node_norm=node_norm)


def _write_weights(tmp_path, suffix: str, w: np.ndarray):
    path = tmp_path / f"w{suffix}"
    if suffix == ".npy":
        np.save(path, w)
    elif suffix == ".csv":
        path.write_text(",".join(repr(float(x)) for x in w) + "\n")
    else:
        path.write_text("\n".join(repr(float(x)) for x in w) + "\n")
    return path


@pytest.mark.parametrize("suffix", [".npy", ".txt", ".csv"])
def test_weighted_is_plain_weighted_sum(tmp_path, suffix: str) -> None:
    w = np.array([1.0, -2.0, 0.5, 0.0, 3.0, 0.25, -1.0, 2.0])
    path = _write_weights(tmp_path, suffix, w)
    got = reduce_gates(f"weighted:{path}", GATES)
    want = [sum(g * wi for g, wi in zip(row, w, strict=True)) for row in ROWS]
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_weighted_errors(tmp_path) -> None:
    short = _write_weights(tmp_path, ".npy", np.ones(3))
    with pytest.raises(UserError, match="has 3 values but the gate has 8 dims"):
        reduce_gates(f"weighted:{short}", GATES)
    with pytest.raises(UserError, match="not found"):
        reduce_gates(f"weighted:{tmp_path / 'missing.npy'}", GATES)
    bad = tmp_path / "bad.txt"
    bad.write_text("one two\n")
    with pytest.raises(UserError, match="cannot read weights file"):
        reduce_gates(f"weighted:{bad}", GATES)
    matrix = tmp_path / "m.npy"
    np.save(matrix, np.ones((2, 4)))
    with pytest.raises(UserError, match="not a vector"):
        load_weights(matrix)
    nan = _write_weights(tmp_path, ".txt", np.array([1.0, np.nan]))
    with pytest.raises(UserError, match="NaN"):
        load_weights(nan)


def test_spec_is_hashable_and_str_is_name() -> None:
    spec = ReductionSpec("quantile", 0.5)
    assert str(spec) == "quantile:0.5"
    assert {spec: 1}[parse_reduction("quantile:0.50")] == 1
