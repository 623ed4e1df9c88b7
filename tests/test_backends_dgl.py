"""DGL lane: the DGL backend computes exactly what the native backend computes.

Run with ``DGLBACKEND=pytorch .venv-dgl/bin/python -m pytest -m dgl``. Imports only
torch/dgl/numpy/alpha_tui.model/alpha_tui.checkpoint.config (no textual there).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from model_factory import random_batch, random_state_dict, small_config

from alpha_tui.model.backends.native import NativeBackend
from alpha_tui.model.backends.select import select_backend
from alpha_tui.model.build import build_model

pytestmark = pytest.mark.dgl
os.environ.setdefault("DGLBACKEND", "pytorch")
dgl = pytest.importorskip("dgl")

CAPTURED = (
    [f"alignn_layers.{i}" for i in range(4)]
    + [f"gcn_layers.{i}" for i in range(4)]
    + [
        f"middle_fusion_modules.layer_{k}.{part}"
        for k in (1, 2)
        for part in ("gate", "text_transform")
    ]
    + [f"middle_fusion_modules.layer_{k}" for k in (1, 2)]
)


def run_with_hooks(model, batch) -> tuple[torch.Tensor, dict[str, list[torch.Tensor]]]:
    seen: dict[str, list[torch.Tensor]] = {}
    handles = []
    for name in CAPTURED:

        def hook(module, inputs, output, name=name):
            outs = output if isinstance(output, tuple) else (output,)
            seen[name] = [o.detach().clone() for o in outs]

        handles.append(model.get_submodule(name).register_forward_hook(hook))
    try:
        with torch.no_grad():
            pred = model(batch)
    finally:
        for handle in handles:
            handle.remove()
    return pred, seen


def test_select_backend_picks_working_dgl() -> None:
    backend, note = select_backend("auto")
    assert backend.name == "dgl" and note is None
    explicit, _ = select_backend("dgl")
    assert explicit.name == "dgl"


def test_factory_line_graph_is_dgls_line_graph() -> None:
    batch = random_batch(small_config(), crystal_sizes=(1, 4, 7, 3), seed=11)
    g = dgl.graph((batch.src, batch.dst), num_nodes=batch.num_nodes)
    lg = g.line_graph(backtracking=True, shared=True)
    theirs = sorted(zip(*(t.tolist() for t in lg.edges()), strict=True))
    ours = sorted(zip(batch.lg_src.tolist(), batch.lg_dst.tolist(), strict=True))
    assert ours == theirs
    assert lg.num_nodes() == batch.num_edges


@pytest.mark.parametrize("seed", [0, 1])
def test_same_prediction_and_intermediates_on_both_backends(seed: int) -> None:
    config = small_config(middle_fusion_layers=(1, 2))
    sd = random_state_dict(config, seed=seed)
    batch = random_batch(config, crystal_sizes=(1, 4, 9, 3, 6), seed=seed)
    built = build_model(config, sd, backend="dgl")
    assert built.backend_name == "dgl"
    pred_dgl, seen_dgl = run_with_hooks(built.model, batch)
    built.model.backend = NativeBackend()
    pred_native, seen_native = run_with_hooks(built.model, batch)

    assert pred_dgl.shape == (5,)
    np.testing.assert_allclose(pred_dgl.numpy(), pred_native.numpy(), rtol=1e-5, atol=1e-5)
    assert set(seen_dgl) == set(CAPTURED) == set(seen_native)
    for name in CAPTURED:
        for a, b in zip(seen_dgl[name], seen_native[name], strict=True):
            assert a.shape == b.shape, name
            # float32 sums in another order differ by a few ulps of the summands, not of
            # the result: a deep layer's entry near 0 next to entries of 16 differed by
            # 1.3e-5 on an AMD EPYC, so the absolute tolerance scales with the layer
            scale = max(1.0, float(b.abs().max()))
            np.testing.assert_allclose(
                a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5 * scale, err_msg=name
            )
    # the comparison is not vacuous: the layers really transform their input
    assert not torch.allclose(seen_native["alignn_layers.0"][0], seen_native["gcn_layers.3"][0])
    assert seen_native["middle_fusion_modules.layer_2.gate"][0].shape == (23, 16)


def test_dgl_ops_match_explicit_sums() -> None:
    src = torch.tensor([0, 2, 2, 1, 1])
    dst = torch.tensor([1, 1, 0, 1, 1])  # multi-edge 1->1 twice, node 2 receives nothing
    backend, _ = select_backend("dgl")
    g = backend.graph(src, dst, 3)
    nodes = torch.tensor([[1.0, 2.0], [3.0, -1.0], [0.5, 4.0]])
    edges = torch.tensor([[1.0, 0.0], [2.0, 1.0], [0.5, 0.5], [1.0, 3.0], [2.0, 2.0]])
    want = torch.zeros(3, 2)
    for e in range(5):
        want[dst[e]] += nodes[src[e]] * edges[e]
    torch.testing.assert_close(g.u_mul_e_sum(nodes, edges), want)
    torch.testing.assert_close(g.copy_e_sum(edges)[2], torch.zeros(2))
    torch.testing.assert_close(g.u_add_v(nodes, nodes)[0], nodes[0] + nodes[1])


def test_same_results_on_real_crystals() -> None:
    """The same comparison on graphs built from crystals, as the capture pass sees them."""
    import crystal_factory as cf

    from alpha_tui.data.batching import collate
    from alpha_tui.data.graphs import build_graph

    crystals = cf.all_crystals()
    graphs = [build_graph(atoms) for atoms in list(crystals.values())[:8]]
    config = small_config(middle_fusion_layers=(1, 2))
    rng = np.random.default_rng(5)
    text = rng.normal(size=(len(graphs), config.text_input_features)).astype(np.float32)
    batch = collate(graphs, text)
    built = build_model(config, random_state_dict(config, seed=4), backend="dgl")
    pred_dgl, seen_dgl = run_with_hooks(built.model, batch)
    built.model.backend = NativeBackend()
    pred_native, seen_native = run_with_hooks(built.model, batch)
    np.testing.assert_allclose(pred_dgl.numpy(), pred_native.numpy(), rtol=1e-5, atol=1e-5)
    for name in CAPTURED:
        for a, b in zip(seen_dgl[name], seen_native[name], strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5, err_msg=name)
    assert seen_native["alignn_layers.0"][0].shape[0] == sum(g.num_nodes for g in graphs)
