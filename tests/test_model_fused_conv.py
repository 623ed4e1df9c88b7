"""The native fast path of EdgeGatedGraphConv against the formula worked in numpy.

The fused path (concatenated node Linears, CSR destination sums, in-place writes) must
compute model-family.md's convolution, follow the parameters when they change, give
the plain path's gradients, and step aside when a hook watches one of its Linears.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alpha_tui.model.backends.native import NativeGraph
from alpha_tui.model.fused_conv import can_fuse
from alpha_tui.model.layers import EdgeGatedGraphConv

pytestmark = pytest.mark.both_lanes  # also run by make test-dgl (torch 2.2, numpy<2)


def _conv(h: int, seed: int, dtype: torch.dtype = torch.float64) -> EdgeGatedGraphConv:
    torch.manual_seed(seed)
    conv = EdgeGatedGraphConv(h).to(dtype)
    with torch.no_grad():
        for bn in (conv.bn_nodes, conv.bn_edges):
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.normal_()
            bn.bias.normal_()
    return conv.eval()


def _graph(n: int, e: int, seed: int) -> NativeGraph:
    rng = np.random.default_rng(seed)
    src = torch.from_numpy(rng.integers(0, n, e))
    dst = torch.from_numpy(rng.integers(0, n - 1, e))  # node n-1 receives nothing
    return NativeGraph(src, dst, n)


def _numpy_conv(conv: EdgeGatedGraphConv, g: NativeGraph, x: np.ndarray, y: np.ndarray):
    p = {k: v.detach().numpy() for k, v in conv.state_dict().items()}

    def lin(name: str, a: np.ndarray) -> np.ndarray:
        return a @ p[f"{name}.weight"].T + p[f"{name}.bias"]

    def bn(name: str, a: np.ndarray) -> np.ndarray:
        scale = p[f"{name}.weight"] / np.sqrt(p[f"{name}.running_var"] + 1e-5)
        return (a - p[f"{name}.running_mean"]) * scale + p[f"{name}.bias"]

    def silu(a: np.ndarray) -> np.ndarray:
        return a / (1.0 + np.exp(-a))

    u, v = g.src.numpy(), g.dst.numpy()
    m = lin("src_gate", x)[u] + lin("dst_gate", x)[v] + lin("edge_gate", y)
    s = 1.0 / (1.0 + np.exp(-m))
    num = np.zeros_like(x)
    den = np.zeros_like(x)
    np.add.at(num, v, s * lin("dst_update", x)[u])
    np.add.at(den, v, s)
    h = num / (den + 1e-6)
    return x + silu(bn("bn_nodes", lin("src_update", x) + h)), y + silu(bn("bn_edges", m))


@pytest.mark.parametrize("seed", [0, 1])
def test_fused_path_is_the_formula(seed: int) -> None:
    conv, g = _conv(8, seed), _graph(7, 30, seed)
    x, y = torch.randn(7, 8, dtype=torch.float64), torch.randn(30, 8, dtype=torch.float64)
    x_in, y_in = x.clone(), y.clone()
    assert can_fuse(conv, g)
    with torch.no_grad():
        got_x, got_y = conv(g, x, y)
    want_x, want_y = _numpy_conv(conv, g, x.numpy(), y.numpy())
    np.testing.assert_allclose(got_x.numpy(), want_x, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_y.numpy(), want_y, rtol=1e-10, atol=1e-12)
    assert torch.equal(x, x_in) and torch.equal(y, y_in)  # in-place writes stay internal
    # the node without incoming edges gets h = 0: x + silu(bn(src_update(x)))
    assert not bool((g.dst == 6).any())


def test_fused_path_follows_changed_weights() -> None:
    conv, g = _conv(8, 2), _graph(6, 20, 2)
    x, y = torch.randn(6, 8, dtype=torch.float64), torch.randn(20, 8, dtype=torch.float64)
    with torch.no_grad():
        conv(g, x, y)
        conv.dst_update.weight.mul_(-3.0)
        conv.edge_gate.bias.add_(0.5)
        got_x, got_y = conv(g, x, y)
    want_x, want_y = _numpy_conv(conv, g, x.numpy(), y.numpy())
    np.testing.assert_allclose(got_x.numpy(), want_x, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_y.numpy(), want_y, rtol=1e-10, atol=1e-12)


def test_fused_gradients_match_the_plain_path() -> None:
    conv, g = _conv(8, 3), _graph(6, 25, 3)
    x = torch.randn(6, 8, dtype=torch.float64, requires_grad=True)
    y = torch.randn(25, 8, dtype=torch.float64, requires_grad=True)
    params = [x, y, conv.src_gate.weight, conv.edge_gate.bias, conv.dst_update.weight]
    fused = torch.autograd.grad(sum(t.square().sum() for t in conv(g, x, y)), params)
    plain = torch.autograd.grad(
        sum(t.square().sum() for t in conv.plain_forward(g, x, y)), params
    )
    for a, b in zip(fused, plain, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_a_hook_on_a_linear_sees_its_own_call() -> None:
    conv, g = _conv(8, 4), _graph(6, 20, 4)
    x, y = torch.randn(6, 8, dtype=torch.float64), torch.randn(20, 8, dtype=torch.float64)
    seen: list[torch.Tensor] = []
    handle = conv.dst_update.register_forward_hook(lambda _m, _a, out: seen.append(out))
    try:
        assert not can_fuse(conv, g)
        with torch.no_grad():
            got_x, _ = conv(g, x, y)
    finally:
        handle.remove()
    assert len(seen) == 1 and seen[0].shape == (6, 8)
    np.testing.assert_allclose(got_x.numpy(), _numpy_conv(conv, g, x.numpy(), y.numpy())[0])
    assert can_fuse(conv, g)


def test_sum_to_dst_is_a_scatter_add() -> None:
    g = _graph(9, 40, 5)
    rng = np.random.default_rng(5)
    for shape in ((40,), (40, 3), (40, 2, 4)):
        values = rng.standard_normal(shape).astype(np.float32)
        want = np.zeros((9, *shape[1:]), dtype=np.float64)
        np.add.at(want, g.dst.numpy(), values.astype(np.float64))
        got = g.sum_to_dst(torch.from_numpy(values))
        assert got.dtype == torch.float32 and got.shape == want.shape
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)
    empty = NativeGraph(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), 3)
    assert torch.equal(empty.sum_to_dst(torch.zeros(0, 4)), torch.zeros(3, 4))


def test_stacked_layers_on_one_graph_reuse_buffers_safely() -> None:
    first, second, g = _conv(8, 6), _conv(8, 7), _graph(7, 30, 6)
    x, y = torch.randn(7, 8, dtype=torch.float64), torch.randn(30, 8, dtype=torch.float64)
    with torch.no_grad():
        x1, y1 = first(g, x, y)
        x2, y2 = second(g, x1, y1)
    want_x1, want_y1 = _numpy_conv(first, g, x.numpy(), y.numpy())
    want_x2, want_y2 = _numpy_conv(second, g, want_x1, want_y1)
    np.testing.assert_allclose(x1.numpy(), want_x1, rtol=1e-10, atol=1e-12)  # not overwritten
    np.testing.assert_allclose(y1.numpy(), want_y1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x2.numpy(), want_x2, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(y2.numpy(), want_y2, rtol=1e-10, atol=1e-12)
