"""The reduction rules, as properties: parser + validate_reduction decide every input.

For any text the parser either returns a canonical spec or raises a one-line
UserError; ``validate_reduction`` accepts exactly the parameters a gate of width H
can serve (closed-form domain below) and nothing else escapes as another exception.
Weights files are checked from their header, before allocation.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alpha_tui.analysis.reductions import (
    KINDS,
    ReductionSpec,
    parse_reduction,
    reduce_gates,
    validate_reduction,
)
from alpha_tui.analysis.weights import MAX_WEIGHTS_BYTES, load_weights
from alpha_tui.errors import UserError

pytestmark = pytest.mark.both_lanes  # pure numpy: also checked with numpy<2


def in_domain(spec: ReductionSpec, hidden: int) -> bool:
    """The closed-form rule, written independently of the implementation."""
    if spec.kind == "dim":
        return 0 <= int(spec.param) < hidden
    if spec.kind == "topk-mean":
        return 1 <= int(spec.param) <= hidden
    if spec.kind == "quantile":
        return 0.0 <= float(spec.param) <= 1.0
    return True


def write_npy_header(path: Path, shape: tuple[int, ...], data: bytes, descr: str = "<f8") -> Path:
    """A .npy whose header declares ``shape`` over ``data`` (which may be far shorter)."""
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": descr, "fortran_order": False, "shape": shape}
        )
        fh.write(data)
    return path


kind_text = st.sampled_from([*KINDS, "avg", "q", "topk", "pca", "DIM", " Max ", "nope", ""])
param_text = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=30),
    st.just("9" * 5000),
)
spec_text = st.one_of(
    st.tuples(kind_text, param_text).map(lambda kp: f"{kp[0]}:{kp[1]}"),
    kind_text,
    st.text(max_size=60),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(text=spec_text, hidden=st.integers(1, 4096))
def test_parser_and_validation_decide_every_text(text: str, hidden: int) -> None:
    try:
        spec = parse_reduction(text)
    except UserError as exc:
        assert exc.message and "\n" not in exc.message
        return
    assert parse_reduction(spec.name) == spec, "the canonical name must parse back to itself"
    if spec.kind == "weighted":
        return  # a file path: checked against real files below
    try:
        validate_reduction(spec, hidden)
    except UserError as exc:
        assert not in_domain(spec, hidden), f"{spec.name} is valid for H={hidden}"
        assert "\n" not in exc.message and str(hidden) in exc.message
        return
    assert in_domain(spec, hidden), f"{spec.name} accepted for H={hidden}"


@settings(max_examples=150, deadline=None)
@given(
    hidden=st.integers(1, 12),
    atoms=st.integers(1, 7),
    kind=st.sampled_from(["dim", "topk-mean", "quantile"]),
    param=st.integers(-3, 15),
    seed=st.integers(0, 2**16),
)
def test_validated_reductions_compute_finite_values(hidden, atoms, kind, param, seed) -> None:
    """What validation accepts, the engine computes; what it refuses, the engine refuses
    with the same message (one rule, used by both)."""
    gates = np.random.default_rng(seed).uniform(0.01, 0.99, size=(atoms, hidden))
    text = f"quantile:{param / 10}" if kind == "quantile" else f"{kind}:{param}"
    try:
        spec = parse_reduction(text)
    except UserError:
        assert kind != "quantile" or not 0 <= param / 10 <= 1
        return
    try:
        validate_reduction(spec, hidden)
    except UserError as exc:
        with pytest.raises(UserError) as again:
            reduce_gates(spec, gates)
        assert again.value.message == exc.message
        return
    values = reduce_gates(spec, gates)
    assert values.shape == (atoms,) and np.all(np.isfinite(values))
    if kind == "dim":
        np.testing.assert_array_equal(values, gates[:, param])
    elif kind == "topk-mean":
        want = np.sort(gates, axis=1)[:, hidden - param :].mean(axis=1)
        np.testing.assert_allclose(values, want, rtol=1e-12)


@pytest.mark.parametrize(
    "text, hidden, fragment",
    [
        ("dim:16", 16, "dim:16 is out of range: the gate has 16 dims (use 0..15)"),
        ("dim:99999999999999999999", 16, "out of range"),
        ("topk-mean:17", 16, "use 1..16"),
        ("topk-mean:0", 16, "topk-mean needs K >= 1"),
        ("quantile:1.5", 16, "quantile must be in [0, 1]"),
        ("quantile:-0.1", 16, "quantile must be in [0, 1]"),
        ("quantile:nan", 16, "quantile must be in [0, 1]"),
        ("quantile:inf", 16, "quantile must be in [0, 1]"),
        ("dim:" + "9" * 5000, 16, "needs an integer"),
    ],
)
def test_impossible_values_are_one_line(text: str, hidden: int, fragment: str) -> None:
    with pytest.raises(UserError) as err:
        validate_reduction(text, hidden)
    assert fragment in err.value.message and "\n" not in err.value.message


def test_weights_file_length_and_header(tmp_path: Path) -> None:
    good = tmp_path / "w.npy"
    np.save(good, np.arange(8.0))
    assert validate_reduction(f"weighted:{good}", 8).param == str(good)
    with pytest.raises(UserError, match="has 8 values but the gate has 16 dims"):
        validate_reduction(f"weighted:{good}", 16)
    # a header declaring a terabyte over 16 bytes: refused from the header alone
    huge = write_npy_header(tmp_path / "huge.npy", (2**37,), b"\0" * 16)
    with pytest.raises(UserError) as err:
        validate_reduction(f"weighted:{huge}", 16)
    assert f"declares {2**37} values ({2**40} bytes) but holds 16 bytes" in err.value.message
    # a header of the right length over too little data
    short = write_npy_header(tmp_path / "short.npy", (16,), b"\0" * 8)
    with pytest.raises(UserError, match="declares 16 values"):
        load_weights(short, expected=16)
    matrix = write_npy_header(tmp_path / "m.npy", (4, 4), b"\0" * 128)
    with pytest.raises(UserError, match=r"holds a \(4, 4\) array, not a vector"):
        load_weights(matrix)
    objects = write_npy_header(tmp_path / "o.npy", (2,), b"\0" * 16, descr="|O")
    with pytest.raises(UserError, match="not plain numbers"):
        load_weights(objects)
    big = tmp_path / "big.txt"
    with open(big, "wb") as fh:
        fh.truncate(MAX_WEIGHTS_BYTES + 1)  # sparse: no real disk used
    with pytest.raises(UserError, match="more than"):
        load_weights(big)
    with pytest.raises(UserError, match="not found"):
        load_weights(tmp_path)  # a folder is not a weights file
    garbage = tmp_path / "g.npy"
    garbage.write_bytes(b"\x93NUMPY\x01\x00\xff\xffnot a header")
    with pytest.raises(UserError, match="not a readable .npy"):
        load_weights(garbage)
    text = tmp_path / "w.csv"
    text.write_text(",".join(str(v) for v in range(16)))
    np.testing.assert_array_equal(load_weights(text, expected=16), np.arange(16.0))


@settings(max_examples=80, deadline=None)
@given(
    shape=st.lists(st.integers(0, 2**20), min_size=0, max_size=4).map(tuple),
    data_len=st.integers(0, 256),
    hidden=st.integers(1, 64),
)
def test_any_npy_header_is_decided_before_allocation(tmp_path_factory, shape, data_len, hidden):
    path = write_npy_header(tmp_path_factory.mktemp("w") / "w.npy", shape, b"\x01" * data_len)
    try:
        w = load_weights(path, expected=hidden)
    except UserError as exc:
        assert "\n" not in exc.message
        return
    assert w.shape == (hidden,) and math.prod(shape) == hidden and data_len == hidden * 8


def test_close_quantiles_never_share_a_memo_entry() -> None:
    """Names key the session's memo: with 6 significant digits these two shared one and
    the second showed the first one's numbers."""
    from synthetic import make_cache

    from alpha_tui.analysis.session import AnalysisSession

    session = AnalysisSession(make_cache(seed=0))
    fusion = session.fusion_modules[0]
    gates = np.asarray(session.cache.gates[fusion], dtype=np.float64)
    a, b = "quantile:0.1234561", "quantile:0.1234569"
    assert parse_reduction(a).name != parse_reduction(b).name
    np.testing.assert_allclose(session.alpha(fusion, a), np.quantile(gates, 0.1234561, axis=1))
    np.testing.assert_allclose(session.alpha(fusion, b), np.quantile(gates, 0.1234569, axis=1))
    assert parse_reduction("quantile:0.90").name == "quantile:0.9"
