"""The reference network against numpy re-implementations of model-family.md.

Every expectation is computed here in float64 numpy from the formulas of
shared/docs/model-family.md, never by calling the module under test. The ``dgl``
parameter runs the same hand-computed cases on the DGL backend in the DGL lane.
Imports only torch/numpy/alpha_tui.model/alpha_tui.checkpoint.config (DGL lane).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from model_factory import random_batch, random_state_dict, small_config

from alpha_tui.model.backends.base import GraphBackend
from alpha_tui.model.backends.native import NativeBackend
from alpha_tui.model.build import build_model
from alpha_tui.model.fusion import CrossModalAttention, MiddleFusionModule
from alpha_tui.model.layers import EdgeGatedGraphConv, ProjectionHead, RBFExpansion

pytestmark = pytest.mark.both_lanes  # also run by make test-dgl (torch 2.2, numpy<2)

BN_EPS = 1e-5
LN_EPS = 1e-5


@pytest.fixture(params=["native", pytest.param("dgl", marks=pytest.mark.dgl)])
def backend(request: pytest.FixtureRequest) -> GraphBackend:
    if request.param == "native":
        return NativeBackend()
    pytest.importorskip("dgl")
    from alpha_tui.model.backends.select import select_backend

    chosen, _ = select_backend("dgl")
    return chosen


# ---- numpy formulas (model-family.md) -------------------------------------------


def sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-v))


def silu(v: np.ndarray) -> np.ndarray:
    return v * sigmoid(v)


def gelu(v: np.ndarray) -> np.ndarray:
    erf = np.vectorize(math.erf)
    return 0.5 * v * (1.0 + erf(v / math.sqrt(2.0)))


def linear(p: dict[str, np.ndarray], name: str, v: np.ndarray) -> np.ndarray:
    return v @ p[f"{name}.weight"].T + p[f"{name}.bias"]


def batchnorm_eval(p: dict[str, np.ndarray], name: str, v: np.ndarray) -> np.ndarray:
    scale = p[f"{name}.weight"] / np.sqrt(p[f"{name}.running_var"] + BN_EPS)
    return (v - p[f"{name}.running_mean"]) * scale + p[f"{name}.bias"]


def layernorm(p: dict[str, np.ndarray], name: str, v: np.ndarray) -> np.ndarray:
    mu = v.mean(axis=-1, keepdims=True)
    var = v.var(axis=-1, keepdims=True)
    return (v - mu) / np.sqrt(var + LN_EPS) * p[f"{name}.weight"] + p[f"{name}.bias"]


def np_edge_gated(p, prefix, x, y, src, dst):
    """x' = x + silu(bn_nodes(src_update(x) + h)), y' = y + silu(bn_edges(m))."""
    lin = lambda name, v: linear(p, f"{prefix}{name}", v)  # noqa: E731
    m = lin("src_gate", x)[src] + lin("dst_gate", x)[dst] + lin("edge_gate", y)
    s = sigmoid(m)
    bh = lin("dst_update", x)
    num = np.zeros_like(x)
    den = np.zeros_like(x)
    for e, (u, v) in enumerate(zip(src, dst, strict=True)):
        num[v] += s[e] * bh[u]
        den[v] += s[e]
    h = num / (den + 1e-6)
    x_new = x + silu(batchnorm_eval(p, f"{prefix}bn_nodes", lin("src_update", x) + h))
    y_new = y + silu(batchnorm_eval(p, f"{prefix}bn_edges", m))
    return x_new, y_new


def np_fusion(p, prefix, x, text, counts):
    """t = text_transform(text); alpha = gate(cat(x, t_b)); out = LN(x + alpha * t_b)."""
    hidden = np.maximum(linear(p, f"{prefix}text_transform.0", text), 0.0)
    t = linear(p, f"{prefix}text_transform.3", hidden)
    t_b = np.repeat(t, counts, axis=0)
    alpha = sigmoid(linear(p, f"{prefix}gate.0", np.concatenate([x, t_b], axis=1)))
    return layernorm(p, f"{prefix}layer_norm", x + alpha * t_b), t, alpha


def np_projection(p, prefix, v):
    proj = linear(p, f"{prefix}projection", v)
    return layernorm(p, f"{prefix}layer_norm", linear(p, f"{prefix}fc", gelu(proj)) + proj)


def np_cross_modal(p, prefix, g, t):
    """Softmax over a single key is 1, so each context is its value projection."""
    ctx_g = linear(p, f"{prefix}graph_output", linear(p, f"{prefix}g2t_value", t))
    ctx_t = linear(p, f"{prefix}text_output", linear(p, f"{prefix}t2g_value", g))
    return layernorm(p, f"{prefix}layer_norm_graph", g + ctx_g), layernorm(
        p, f"{prefix}layer_norm_text", t + ctx_t
    )


def np_rbf(d, vmin, vmax, bins):
    centers = np.linspace(vmin, vmax, bins)
    gamma = 1.0 / ((vmax - vmin) / (bins - 1))
    return np.exp(-gamma * (d[:, None] - centers[None, :]) ** 2)


def np_mlp(p, prefix, v):
    return silu(batchnorm_eval(p, f"{prefix}layer.1", linear(p, f"{prefix}layer.0", v)))


def to_numpy(sd: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    return {k: v.detach().double().numpy() for k, v in sd.items()}


def load(module: torch.nn.Module, params: dict[str, np.ndarray]) -> None:
    state = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in params.items()}
    merged = module.state_dict()
    merged.update(state)
    module.load_state_dict(merged)
    module.eval()


def fixed_params(names_shapes: dict[str, tuple[int, ...]], seed: int) -> dict[str, np.ndarray]:
    """Small fixed weights (two decimals) so the case is easy to reproduce by hand."""
    rng = np.random.default_rng(seed)
    return {k: np.round(rng.normal(0.0, 0.6, size=s), 2) for k, s in names_shapes.items()}


# ---- one EdgeGatedGraphConv ------------------------------------------------------


def test_edge_gated_graph_conv_matches_hand_formula(backend: GraphBackend) -> None:
    hidden = 3
    # node 0 has a self-loop, node 2 receives nothing (h_2 must be 0)
    src = np.array([0, 1, 2, 2, 0])
    dst = np.array([1, 0, 0, 1, 0])
    shapes = {
        f"{n}.{w}": (hidden, hidden) if w == "weight" else (hidden,)
        for n in ("src_gate", "dst_gate", "edge_gate", "src_update", "dst_update")
        for w in ("weight", "bias")
    }
    p = fixed_params(shapes, seed=3)
    for bn, (mean, var, w, b) in {
        "bn_nodes": ([0.1, -0.2, 0.3], [0.5, 1.5, 2.0], [1.2, 0.8, 1.0], [0.05, -0.1, 0.0]),
        "bn_edges": ([-0.3, 0.0, 0.2], [1.0, 0.7, 1.3], [0.9, 1.1, 1.4], [0.0, 0.2, -0.2]),
    }.items():
        p.update(
            {
                f"{bn}.running_mean": np.array(mean),
                f"{bn}.running_var": np.array(var),
                f"{bn}.weight": np.array(w),
                f"{bn}.bias": np.array(b),
            }
        )
    x = np.array([[0.5, -1.0, 0.25], [1.5, 0.0, -0.5], [-0.75, 0.5, 1.0]])
    y = np.round(np.random.default_rng(4).normal(size=(len(src), hidden)), 2)

    conv = EdgeGatedGraphConv(hidden, dropout=0.5)  # dropout must vanish in eval mode
    load(conv, p)
    graph = backend.graph(torch.as_tensor(src), torch.as_tensor(dst), 3)
    with torch.no_grad():
        got_x, got_y = conv(
            graph, torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
        )
    want_x, want_y = np_edge_gated(p, "", x, y, src, dst)
    np.testing.assert_allclose(got_x.numpy(), want_x, atol=1e-5)
    np.testing.assert_allclose(got_y.numpy(), want_y, atol=1e-5)
    # node 2 has no incoming edge: its update is silu(bn(src_update(x_2))) only
    lone = x[2] + silu(batchnorm_eval(p, "bn_nodes", linear(p, "src_update", x[2:3])))[0]
    np.testing.assert_allclose(got_x[2].numpy(), lone, atol=1e-5)


# ---- one MiddleFusionModule -------------------------------------------------------


def test_middle_fusion_matches_hand_formula_and_hooks_see_gate() -> None:
    hidden, text_dim, mid = 3, 2, 4
    p = fixed_params(
        {
            "text_transform.0.weight": (mid, text_dim),
            "text_transform.0.bias": (mid,),
            "text_transform.3.weight": (hidden, mid),
            "text_transform.3.bias": (hidden,),
            "gate.0.weight": (hidden, 2 * hidden),
            "gate.0.bias": (hidden,),
        },
        seed=11,
    )
    p["layer_norm.weight"] = np.array([1.0, 0.5, 2.0])
    p["layer_norm.bias"] = np.array([0.0, 0.1, -0.3])
    x = np.array([[0.2, -0.4, 1.0], [1.1, 0.3, -0.6], [-0.8, 0.9, 0.1]])
    text = np.array([[0.5, -1.5], [2.0, 0.25]])
    counts = np.array([2, 1])

    module = MiddleFusionModule(hidden, text_dim, mid, dropout=0.3)
    load(module, p)
    seen: dict[str, torch.Tensor] = {}
    module.gate.register_forward_hook(lambda m, i, o: seen.__setitem__("gate", o))
    module.text_transform.register_forward_hook(lambda m, i, o: seen.__setitem__("text", o))
    with torch.no_grad():
        out = module(
            torch.tensor(x, dtype=torch.float32),
            torch.tensor(text, dtype=torch.float32),
            torch.as_tensor(counts),
        )
    want, want_t, want_alpha = np_fusion(p, "", x, text, counts)
    np.testing.assert_allclose(out.numpy(), want, atol=1e-5)
    np.testing.assert_allclose(seen["text"].numpy(), want_t, atol=1e-5)
    assert seen["gate"].shape == (3, hidden)
    np.testing.assert_allclose(seen["gate"].numpy(), want_alpha, atol=1e-6)


def test_cross_modal_attention_with_one_key_is_value_path() -> None:
    dim, hidden, heads, batch = 4, 8, 2, 3
    module = CrossModalAttention(dim, dim, hidden, heads, dropout=0.0).eval()
    p = to_numpy(module.state_dict())
    g = np.random.default_rng(0).normal(size=(batch, dim))
    t = np.random.default_rng(1).normal(size=(batch, dim))
    with torch.no_grad():
        eg, et = module(torch.tensor(g, dtype=torch.float32), torch.tensor(t, dtype=torch.float32))
    want_g, want_t = np_cross_modal(p, "", g, t)
    np.testing.assert_allclose(eg.numpy(), want_g, atol=1e-5)
    np.testing.assert_allclose(et.numpy(), want_t, atol=1e-5)


def test_projection_head_and_rbf_closed_forms() -> None:
    head = ProjectionHead(5, 4).eval()
    p = to_numpy(head.state_dict())
    v = np.random.default_rng(2).normal(size=(3, 5))
    with torch.no_grad():
        got = head(torch.tensor(v, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(got, np_projection(p, "", v), atol=1e-5)

    rbf = RBFExpansion(0.0, 8.0, 80)
    assert "centers" in rbf.state_dict() and rbf.state_dict()["centers"].shape == (80,)
    d = np.array([0.0, 1.234, 3.9, 7.99])
    got = rbf(torch.tensor(d, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(got, np_rbf(d, 0.0, 8.0, 80), atol=1e-5)


# ---- the whole network --------------------------------------------------------------


def np_trunk(p: dict[str, np.ndarray], config, batch) -> tuple[np.ndarray, np.ndarray]:
    """Node features after the GCN layers [N, H] and text64 [B, 64] (model-family.md order)."""
    src, dst = batch.src.numpy(), batch.dst.numpy()
    lsrc, ldst = batch.lg_src.numpy(), batch.lg_dst.numpy()
    counts = batch.batch_num_nodes.numpy()
    z = np_rbf(batch.angle_cos.double().numpy(), -1.0, 1.0, config.triplet_input_features)
    z = np_mlp(p, "angle_embedding.2.", np_mlp(p, "angle_embedding.1.", z))
    text64 = np_projection(p, "text_projection.", batch.text.double().numpy())
    x = np_mlp(p, "atom_embedding.", batch.atom_features.double().numpy())
    d = np.linalg.norm(batch.bond_r.double().numpy(), axis=1)
    y = np_rbf(d, 0.0, 8.0, config.edge_input_features)
    y = np_mlp(p, "edge_embedding.2.", np_mlp(p, "edge_embedding.1.", y))
    for i in range(config.alignn_layers):
        x, m = np_edge_gated(p, f"alignn_layers.{i}.node_update.", x, y, src, dst)
        y, z = np_edge_gated(p, f"alignn_layers.{i}.edge_update.", m, z, lsrc, ldst)
        if i in config.fusion_layers:
            x, _, _ = np_fusion(p, f"middle_fusion_modules.layer_{i}.", x, text64, counts)
    for i in range(config.gcn_layers):
        x, y = np_edge_gated(p, f"gcn_layers.{i}.", x, y, src, dst)
    return x, text64


def np_pool(x: np.ndarray, counts: np.ndarray) -> np.ndarray:
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    return np.stack([x[s : s + c].mean(axis=0) for s, c in zip(starts, counts, strict=True)])


def np_network(p: dict[str, np.ndarray], config, batch) -> tuple[np.ndarray, np.ndarray]:
    """The trunk, mean pooling, graph_projection, cross-modal attention, average head."""
    x, text64 = np_trunk(p, config, batch)
    graph64 = np_projection(p, "graph_projection.", np_pool(x, batch.batch_num_nodes.numpy()))
    eg, et = np_cross_modal(p, "cross_modal_attention.", graph64, text64)
    hidden = np.maximum(linear(p, "fc1", (eg + et) / 2), 0.0)
    return linear(p, "fc", hidden), x


def test_network_matches_numpy_forward(backend: GraphBackend) -> None:
    config = small_config(middle_fusion_layers=(1, 3))
    sd = random_state_dict(config, seed=5)
    batch = random_batch(config, crystal_sizes=(3, 5, 2), seed=6)
    built = build_model(config, sd, backend="native")
    built.model.backend = backend
    with torch.no_grad():
        pred = built.model(batch)
    want, _ = np_network(to_numpy(sd), config, batch)
    assert pred is not None and pred.shape == (3,)
    np.testing.assert_allclose(pred.numpy(), want[:, 0], rtol=1e-4, atol=1e-4)


def test_links_and_classification_transform_the_identity_output() -> None:
    # The users' forward: out = link(fc(...)); classification then applies a sigmoid
    # (after the link, for any number of outputs).
    base = small_config(output_features=2)
    sd = random_state_dict(base, seed=8)
    batch = random_batch(base, seed=9)

    def run(**changes: object) -> np.ndarray:
        from dataclasses import replace

        built = build_model(replace(base, **changes), sd, backend="native")
        with torch.no_grad():
            return built.model(batch).double().numpy()

    raw = run()
    assert raw.shape == (4, 2)
    np.testing.assert_allclose(run(link="log"), np.exp(raw), rtol=1e-5)
    np.testing.assert_allclose(run(link="logit"), sigmoid(raw), atol=1e-6)
    np.testing.assert_allclose(run(classification=True), sigmoid(raw), atol=1e-6)
    np.testing.assert_allclose(
        run(link="logit", classification=True), sigmoid(sigmoid(raw)), atol=1e-6
    )
    np.testing.assert_allclose(
        run(link="log", classification=True), sigmoid(np.exp(raw)), atol=1e-6
    )


def test_log_link_checkpoint_with_a_0d_bias_loads_and_exponentiates() -> None:
    """The users' log-link constructor stores fc.bias with shape []; it broadcasts."""
    from dataclasses import replace

    config = small_config(link="log")
    sd = random_state_dict(config, seed=12)
    assert sd["fc.bias"].shape == ()
    batch = random_batch(config, seed=12)
    built = build_model(config, sd, backend="native")
    with torch.no_grad():
        pred = built.model(batch).double().numpy()
    p = to_numpy(sd)
    x, text64 = np_trunk(p, config, batch)
    graph64 = np_projection(p, "graph_projection.", np_pool(x, batch.batch_num_nodes.numpy()))
    eg, et = np_cross_modal(p, "cross_modal_attention.", graph64, text64)
    hidden = np.maximum(linear(p, "fc1", (eg + et) / 2), 0.0)
    want = np.exp(hidden @ p["fc.weight"].T + float(p["fc.bias"]))[:, 0]
    np.testing.assert_allclose(pred, want, rtol=1e-4)
    # Without a config the 0-d bias itself says link=log.
    from alpha_tui.checkpoint.infer import infer_config

    inferred, notes = infer_config(sd)
    assert inferred.link == "log" and any("0-d tensor" in n for n in notes)
    # The same weights under an identity-link config give the log of that.
    identity = build_model(replace(config, link="identity"), sd, backend="native")
    assert any("0-d tensor" in note for note in identity.notes)
    with torch.no_grad():
        np.testing.assert_allclose(identity.model(batch).double().numpy(), np.log(want), atol=1e-4)


def test_fusion_runs_right_after_its_alignn_layer() -> None:
    config = small_config(middle_fusion_layers=(2,))
    built = build_model(config, random_state_dict(config), backend="native")
    order: list[str] = []
    for name, module in built.model.named_modules():
        if name.count(".") == 1 and name.split(".")[0] in (
            "alignn_layers",
            "gcn_layers",
            "middle_fusion_modules",
        ):
            module.register_forward_hook(lambda m, i, o, name=name: order.append(name))
    with torch.no_grad():
        built.model(random_batch(config))
    assert order == [
        "alignn_layers.0",
        "alignn_layers.1",
        "alignn_layers.2",
        "middle_fusion_modules.layer_2",
        "alignn_layers.3",
        "gcn_layers.0",
        "gcn_layers.1",
        "gcn_layers.2",
        "gcn_layers.3",
    ]
