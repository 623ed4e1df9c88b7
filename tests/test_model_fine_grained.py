"""Fine-grained atom-token attention against a numpy forward, crystal by crystal.

numpy works on each crystal's own atoms and real tokens (no padding at all), so a
match shows the padded, masked batch computation is right. Formulas: model-family.md
("Fine-grained attention"); key names from the users' FineGrainedCrossModalAttention.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_factory import random_batch, random_state_dict, small_config
from test_model_reference import (
    layernorm,
    linear,
    np_cross_modal,
    np_pool,
    np_projection,
    to_numpy,
)

from alpha_tui.checkpoint.infer import infer_config
from alpha_tui.errors import UserError
from alpha_tui.model.build import build_model, build_untrained
from alpha_tui.model.graph import GraphBatch
from alpha_tui.model.network import TOKENS_REASON

pytestmark = pytest.mark.both_lanes

SIZES = (3, 6, 2, 5)
LENGTHS = (7, 3, 5, 2)
FG = "fine_grained_attention."


def softmax(v: np.ndarray) -> np.ndarray:
    e = np.exp(v - v.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_attention(q: np.ndarray, k: np.ndarray, v: np.ndarray, heads: int) -> np.ndarray:
    """Multi-head scaled dot product, head h on columns h*d..(h+1)*d-1."""
    d = q.shape[1] // heads
    out = np.zeros((q.shape[0], v.shape[1]))
    for h in range(heads):
        cols = slice(h * d, (h + 1) * d)
        out[:, cols] = softmax(q[:, cols] @ k[:, cols].T / np.sqrt(d)) @ v[:, cols]
    return out


def np_fine_grained(p, x, tokens, heads: int, projection: bool):
    """One crystal: x [A, H] atoms, tokens [L, T] real tokens only."""
    lin = lambda name, v: linear(p, FG + name, v)  # noqa: E731
    n, t = (lin("node_proj_in", x), lin("token_proj_in", tokens)) if projection else (x, tokens)
    a2t = np_attention(lin("a2t_query", n), lin("a2t_key", t), lin("a2t_value", t), heads)
    t2a = np_attention(lin("t2a_query", t), lin("t2a_key", n), lin("t2a_value", n), heads)
    nodes = layernorm(p, FG + "layer_norm_node", x + lin("node_output", a2t))
    toks = layernorm(p, FG + "layer_norm_token", tokens + lin("token_output", t2a))
    return nodes, toks


def fg_config(projection: bool, hidden: int = 12, heads: int = 3, **overrides: object):
    return small_config(
        use_fine_grained_attention=True,
        fine_grained_hidden_dim=hidden,
        fine_grained_num_heads=heads,
        fine_grained_use_projection=projection,
        **overrides,
    )


def with_tokens(batch: GraphBatch, width: int, seed: int, pad_value: float = 0.0) -> GraphBatch:
    """Padded token states [B, L, T] (padding filled with ``pad_value`` noise) and mask."""
    rng = np.random.default_rng(seed)
    longest = max(LENGTHS)
    tokens = rng.normal(size=(len(LENGTHS), longest, width))
    mask = np.arange(longest)[None, :] < np.array(LENGTHS)[:, None]
    tokens[~mask] = pad_value * rng.normal(size=(int((~mask).sum()), width))
    batch.text_tokens = torch.tensor(tokens, dtype=torch.float32)
    batch.text_token_mask = torch.tensor(mask)
    batch.text = batch.text_tokens[:, 0, :].clone()  # their CLS is token 0
    return batch


def fg_keys(projection: bool) -> set[str]:
    names = ["a2t_query", "a2t_key", "a2t_value", "t2a_query", "t2a_key", "t2a_value"]
    names += ["node_output", "token_output", "layer_norm_node", "layer_norm_token"]
    if projection:
        names += ["node_proj_in", "token_proj_in"]
    return {f"{FG}{n}.{w}" for n in names for w in ("weight", "bias")}


@pytest.mark.parametrize("projection", [True, False], ids=["projection", "no-projection"])
def test_fine_grained_prediction_matches_numpy_per_crystal(projection: bool) -> None:
    config = fg_config(projection)
    sd = random_state_dict(config, seed=41)
    batch = with_tokens(random_batch(config, SIZES, seed=42), 32, seed=43, pad_value=50.0)
    built = build_model(config, sd, backend="native")
    assert built.model.needs_text_tokens
    seen: dict[str, object] = {}
    built.model.gcn_layers[-1].register_forward_hook(lambda m, i, o: seen.__setitem__("x", o[0]))
    built.model.fine_grained_attention.register_forward_hook(
        lambda m, i, o: seen.__setitem__("fg", o)
    )
    with torch.no_grad():
        pred = built.model(batch)
    assert pred is not None and built.model.unavailable_reason is None
    p = to_numpy(sd)
    x = seen["x"].double().numpy()
    nodes_pad, tokens_out = (t.double().numpy() for t in seen["fg"])
    tokens = batch.text_tokens.double().numpy()
    starts = np.concatenate([[0], np.cumsum(SIZES)[:-1]])
    enhanced = []
    for c, (start, size, length) in enumerate(zip(starts, SIZES, LENGTHS, strict=True)):
        nodes, toks = np_fine_grained(p, x[start : start + size], tokens[c, :length], 3, projection)
        np.testing.assert_allclose(nodes_pad[c, :size], nodes, atol=1e-4)
        np.testing.assert_allclose(tokens_out[c, :length], toks, atol=1e-4)
        enhanced.append(nodes)
    graph64 = np_projection(p, "graph_projection.", np_pool(np.concatenate(enhanced), SIZES))
    text64 = np_projection(p, "text_projection.", tokens[:, 0])
    eg, et = np_cross_modal(p, "cross_modal_attention.", graph64, text64)
    want = linear(p, "fc", np.maximum(linear(p, "fc1", (eg + et) / 2), 0.0))[:, 0]
    np.testing.assert_allclose(pred.double().numpy(), want, rtol=1e-4, atol=1e-5)


def test_padding_values_do_not_change_predictions() -> None:
    config = fg_config(True)
    sd = random_state_dict(config, seed=44)
    built = build_model(config, sd, backend="native")
    preds = []
    for pad in (0.0, 1e3):
        batch = with_tokens(random_batch(config, SIZES, seed=45), 32, seed=46, pad_value=pad)
        with torch.no_grad():
            preds.append(built.model(batch))
    torch.testing.assert_close(preds[0], preds[1], rtol=0, atol=0)


def test_without_token_states_predictions_are_unavailable_and_say_why() -> None:
    config = fg_config(True)
    built = build_model(config, random_state_dict(config, seed=47), backend="native")
    assert built.prediction_available  # the head exists; it needs tokens at run time
    assert any("every token's hidden state" in n for n in built.notes)
    fired: list[str] = []
    for name in ("alignn_layers.0", "middle_fusion_modules.layer_2.gate", "gcn_layers.3"):
        built.model.get_submodule(name).register_forward_hook(
            lambda m, i, o, name=name: fired.append(name)
        )
    with torch.no_grad():
        assert built.model(random_batch(config, SIZES, seed=48)) is None
    assert built.model.unavailable_reason == TOKENS_REASON
    assert fired == ["alignn_layers.0", "middle_fusion_modules.layer_2.gate", "gcn_layers.3"]


@pytest.mark.parametrize("projection", [True, False], ids=["projection", "no-projection"])
def test_fine_grained_keys_are_the_users_and_load_without_a_config(projection: bool) -> None:
    # hidden 16 / 8 heads: the users' default head count, which no shape can reveal.
    config = fg_config(projection, hidden=16, heads=8)
    sd = build_untrained(config).state_dict()
    assert {k for k in sd if k.startswith(FG)} == fg_keys(projection)
    assert sd[FG + "a2t_key.weight"].shape == (16, 16 if projection else 32)
    weights = random_state_dict(config, seed=49)
    inferred, _ = infer_config(weights)
    without = build_model(inferred, weights, backend="native")
    assert any("8 heads (config value or default" in n for n in without.notes)
    with_config = build_model(config, weights, backend="native")
    batch = with_tokens(random_batch(config, SIZES, seed=50), 32, seed=51)
    with torch.no_grad():
        torch.testing.assert_close(without.model(batch), with_config.model(batch))


def test_token_width_mismatch_is_a_user_error() -> None:
    config = fg_config(True)
    built = build_model(config, random_state_dict(config, seed=52), backend="native")
    batch = with_tokens(random_batch(config, SIZES, seed=53), 32, seed=54)
    batch.text_tokens = batch.text_tokens[:, :, :16]
    with pytest.raises(UserError, match="fine_grained_attention reads"):
        built.model(batch)


def test_indivisible_fine_grained_heads_is_a_user_error() -> None:
    with pytest.raises(UserError, match="not divisible by fine_grained_num_heads"):
        build_untrained(fg_config(True, hidden=12, heads=5))
