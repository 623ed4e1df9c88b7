"""Every late-fusion head of the users' SAGE-2.1 fork against a numpy forward.

The head's inputs (graph_projection and text_projection outputs) are taken from hooks,
the head itself is recomputed here in float64 numpy from the formulas of
shared/docs/model-family.md ("Late fusion"), never by calling the modules under test.
The key lists are written out from the users' models/alignn.py (GatedFusion,
BilinearFusion, AdaptiveFusion, TuckerFusion; fc1 only for concat).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_factory import random_batch, random_state_dict, small_config
from test_model_reference import layernorm, linear, np_cross_modal, sigmoid, to_numpy

from alpha_tui.checkpoint.infer import infer_config, infer_late_fusion_head
from alpha_tui.errors import UserError
from alpha_tui.model.build import build_model, build_untrained

pytestmark = pytest.mark.both_lanes

KINDS = ("concat", "gated", "bilinear", "adaptive", "tucker")
RANK, OUT = 3, 10


def relu(v: np.ndarray) -> np.ndarray:
    return np.maximum(v, 0.0)


def softmax(v: np.ndarray) -> np.ndarray:
    e = np.exp(v - v.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_head(p: dict[str, np.ndarray], kind: str, g: np.ndarray, t: np.ndarray) -> np.ndarray:
    """model-family.md "Late fusion": the fused vector, then fc."""
    f = "fusion_module."
    if kind == "concat":
        return linear(p, "fc", relu(linear(p, "fc1", np.concatenate([g, t], axis=1))))
    if kind == "gated":
        wg = sigmoid(linear(p, f"{f}gate_graph.3", relu(linear(p, f"{f}gate_graph.0", g))))
        wt = sigmoid(linear(p, f"{f}gate_text.3", relu(linear(p, f"{f}gate_text.0", t))))
        wg, wt = wg / (wg + wt + 1e-8), wt / (wg + wt + 1e-8)
        fused = wg * linear(p, f"{f}graph_transform", g) + wt * linear(p, f"{f}text_transform", t)
        fused = linear(p, f"{f}fusion_transform.0", fused)
        fused = relu(layernorm(p, f"{f}fusion_transform.1", fused))
    elif kind == "bilinear":
        gp = (g @ p[f"{f}graph_proj.weight"].T).reshape(len(g), RANK, OUT)
        tp = (t @ p[f"{f}text_proj.weight"].T).reshape(len(t), RANK, OUT)
        fused = layernorm(p, f"{f}layer_norm", (gp * tp).sum(axis=1))
    elif kind == "adaptive":
        ga, ta = linear(p, f"{f}graph_align", g), linear(p, f"{f}text_align", t)
        both = np.concatenate([ga, ta], axis=1)
        hidden = relu(linear(p, f"{f}fusion_selector.0", both))
        w = softmax(linear(p, f"{f}fusion_selector.3", hidden))
        gate = sigmoid(linear(p, f"{f}gate_net.0", both))
        mix = w[:, :1] * (ga + ta) + w[:, 1:2] * ga * ta + w[:, 2:] * (gate * ga + (1 - gate) * ta)
        fused = layernorm(p, f"{f}layer_norm", mix)
    else:  # tucker
        gc, tc = g @ p[f"{f}graph_factor.weight"].T, t @ p[f"{f}text_factor.weight"].T
        core = np.einsum("bi,bj->bij", gc, tc).reshape(len(g), -1)
        fused = layernorm(p, f"{f}layer_norm", linear(p, f"{f}core_factor", core))
    return linear(p, "fc", fused)


def head_keys(kind: str) -> set[str]:
    """The users' state_dict names of the head (their models/alignn.py)."""
    wb = lambda *names: {f"{n}.{w}" for n in names for w in ("weight", "bias")}  # noqa: E731
    f = "fusion_module."
    if kind == "concat":
        return wb("fc1", "fc")
    sub = {
        "gated": wb(
            *(f"{f}{n}" for n in ("gate_graph.0", "gate_graph.3", "gate_text.0", "gate_text.3")),
            f"{f}graph_transform",
            f"{f}text_transform",
            f"{f}fusion_transform.0",
            f"{f}fusion_transform.1",
        ),
        "bilinear": {f"{f}graph_proj.weight", f"{f}text_proj.weight"} | wb(f"{f}layer_norm"),
        "adaptive": wb(
            *(f"{f}{n}" for n in ("graph_align", "text_align", "fusion_selector.0")),
            f"{f}fusion_selector.3",
            f"{f}gate_net.0",
            f"{f}layer_norm",
        ),
        "tucker": {f"{f}graph_factor.weight", f"{f}text_factor.weight"}
        | wb(f"{f}core_factor", f"{f}layer_norm"),
    }[kind]
    return sub | wb("fc")


def variant_config(kind: str, cross: bool, **overrides: object):
    return small_config(
        use_cross_modal_attention=cross,
        late_fusion_type=kind,
        late_fusion_rank=RANK,
        late_fusion_output_dim=OUT,
        **overrides,
    )


def run_with_head_inputs(built, batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    seen: dict[str, torch.Tensor] = {}
    model = built.model
    model.graph_projection.register_forward_hook(lambda m, i, o: seen.__setitem__("g", o))
    model.text_projection.register_forward_hook(lambda m, i, o: seen.__setitem__("t", o))
    with torch.no_grad():
        pred = model(batch)
    assert pred is not None
    return pred.double().numpy(), seen["g"].double().numpy(), seen["t"].double().numpy()


@pytest.mark.parametrize("cross", [True, False], ids=["cross", "nocross"])
@pytest.mark.parametrize("kind", KINDS)
def test_head_prediction_matches_numpy(kind: str, cross: bool) -> None:
    config = variant_config(kind, cross)
    sd = random_state_dict(config, seed=21)
    batch = random_batch(config, seed=22)
    built = build_model(config, sd, backend="native")
    assert built.prediction_available and built.model.late_fusion == kind
    pred, g, t = run_with_head_inputs(built, batch)
    p = to_numpy(sd)
    if cross:
        g, t = np_cross_modal(p, "cross_modal_attention.", g, t)
    want = np_head(p, kind, g, t)[:, 0]
    np.testing.assert_allclose(pred, want, rtol=1e-4, atol=1e-5)
    assert np.std(want) > 1e-3  # the crystals differ, so a constant head would fail


@pytest.mark.parametrize("cross", [True, False], ids=["cross", "nocross"])
@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_keys_are_the_users_and_load_without_a_config(kind: str, cross: bool) -> None:
    config = variant_config(kind, cross)
    sd = build_untrained(config).state_dict()
    head = {k for k in sd if k.startswith(("fc", "fusion_module."))}
    assert head == head_keys(kind)
    assert any(k.startswith("cross_modal_attention.") for k in sd) == cross
    if kind == "bilinear":
        assert sd["fusion_module.graph_proj.weight"].shape == (RANK * OUT, 64)
    if kind == "tucker":
        assert sd["fusion_module.core_factor.weight"].shape == (OUT, RANK * RANK)
    weights = random_state_dict(config, seed=23)
    batch = random_batch(config, seed=24)
    with_config = build_model(config, weights, backend="native")
    # No config at all: everything comes from the key names and shapes.
    inferred, _ = infer_config(weights)
    without = build_model(inferred, weights, backend="native")
    assert without.model.late_fusion == kind and without.prediction_available
    assert [n for n in without.notes if n.startswith(f"late fusion {kind!r} (")]
    assert not any("config implies" in n for n in without.notes)
    head_info = infer_late_fusion_head(weights)
    assert head_info is not None and head_info.kind == kind
    if kind in ("bilinear", "tucker"):
        assert head_info.rank == RANK
    with torch.no_grad():
        torch.testing.assert_close(without.model(batch), with_config.model(batch))


def test_weights_win_over_a_config_with_another_head_and_rank() -> None:
    truth = variant_config("tucker", True)
    sd = random_state_dict(truth, seed=25)
    said = small_config(late_fusion_type="concat", late_fusion_rank=7, late_fusion_output_dim=64)
    built = build_model(said, sd, backend="native")
    assert built.model.late_fusion == "tucker"
    assert built.model.fusion_module.rank == RANK
    assert any("weights hold 'tucker'" in n for n in built.notes)
    batch = random_batch(truth, seed=26)
    with torch.no_grad():
        torch.testing.assert_close(
            built.model(batch), build_model(truth, sd, backend="native").model(batch)
        )


def test_average_head_of_the_older_fork_is_kept_and_detected_from_fc1() -> None:
    # d412350 (no late_fusion_type field): with cross-modal attention, fc1(64, 64) on (g+t)/2.
    config = small_config()
    assert build_untrained(config).fc1.in_features == 64
    sd = random_state_dict(config, seed=27)
    head = infer_late_fusion_head(sd)
    assert head is not None and head.kind == "average"
    sage_concat = small_config(late_fusion_type="concat")
    assert build_untrained(sage_concat).fc1.in_features == 128


def test_other_hidden_size_and_output_count() -> None:
    config = variant_config("adaptive", True, hidden_features=24, output_features=3)
    sd = random_state_dict(config, seed=28)
    built = build_model(config, sd, backend="native")
    pred, g, t = run_with_head_inputs(built, random_batch(config, seed=29))
    p = to_numpy(sd)
    g, t = np_cross_modal(p, "cross_modal_attention.", g, t)
    assert pred.shape == (4, 3)
    np.testing.assert_allclose(pred, np_head(p, "adaptive", g, t), rtol=1e-4, atol=1e-5)


def test_classification_and_logit_on_a_fusion_head() -> None:
    config = variant_config("gated", False, link="logit", classification=True)
    sd = random_state_dict(config, seed=30)
    built = build_model(config, sd, backend="native")
    pred, g, t = run_with_head_inputs(built, random_batch(config, seed=31))
    want = sigmoid(sigmoid(np_head(to_numpy(sd), "gated", g, t)))[:, 0]
    np.testing.assert_allclose(pred, want, rtol=1e-5, atol=1e-6)


def test_unknown_late_fusion_type_is_a_user_error() -> None:
    with pytest.raises(UserError, match="unknown late_fusion_type 'mlp'"):
        build_untrained(small_config(late_fusion_type="mlp"))
