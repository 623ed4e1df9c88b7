"""compile_probe.py's conv functions compute the model's convolution (before compiling).

The probe's speed figures only mean something if the functions it hands to
torch.compile are the same arithmetic as EdgeGatedGraphConv; this checks them, run
eagerly, against the formula worked in numpy, and checks its difference measure on
arrays whose differences are known.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent / "benchmarks"))

from compile_probe import (  # noqa: E402
    conv_messages,
    conv_params,
    conv_update,
    conv_whole,
    differences,  # noqa: E402
)
from test_model_fused_conv import _conv, _graph, _numpy_conv  # noqa: E402


@pytest.mark.parametrize("seed", [0, 1])
def test_probe_conv_is_the_formula(seed: int) -> None:
    conv, g = _conv(8, seed), _graph(7, 30, seed)
    x, y = torch.randn(7, 8, dtype=torch.float64), torch.randn(30, 8, dtype=torch.float64)
    want_x, want_y = _numpy_conv(conv, g, x.numpy(), y.numpy())
    p = conv_params(conv)
    with torch.no_grad():
        scatter = conv_whole(p, g.src, g.dst, x, y)
        own, m, msg = conv_messages(p, g.src, g.dst, x, y)
        csr = conv_update(p, x, y, own, m, g.sum_to_dst(msg))
    for got_x, got_y in (scatter, csr):
        np.testing.assert_allclose(got_x.numpy(), want_x, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got_y.numpy(), want_y, rtol=1e-10, atol=1e-12)


def test_differences_by_hand() -> None:
    ref = {"a": np.array([10.0, -2.0, 0.001]), "b": np.array([1.0, 1.0])}
    ours = {"a": np.array([10.0, -2.002, 0.002]), "b": np.array([1.0, 1.5])}
    got = differences(ours, ref)
    assert got["max_abs"] == pytest.approx(0.5)
    assert got["max_scaled"] == pytest.approx(0.5) and got["worst"] == "b"
    # 0.001 is below 1e-3 of a's largest value (10), so its 100 % change is not counted
    assert got["max_rel"] == pytest.approx(0.5)
    only_a = differences({"a": ours["a"]}, {"a": ref["a"]})
    assert only_a["max_rel"] == pytest.approx(0.001)
    assert only_a["max_scaled"] == pytest.approx(0.0002)  # 0.002 / 10
