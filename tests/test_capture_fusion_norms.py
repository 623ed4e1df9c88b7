"""The fusion hook's extra per-atom figure ||out - LN(x)|| and the recorded text_scale."""

from __future__ import annotations

import crystal_factory as cf
import numpy as np
import pytest
import torch
from model_factory import random_state_dict, small_config

from alpha_tui.capture.run import CaptureInput, capture
from alpha_tui.data.graphs import build_graph
from alpha_tui.model.build import build_model

pytestmark = pytest.mark.both_lanes

FUSION = "middle_fusion_modules.layer_2"


def _numpy_layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * weight + bias


@pytest.mark.parametrize("scale", [None, 3.0])
def test_ln_change_and_text_scale_match_an_independent_hook(scale: float | None) -> None:
    config = small_config()
    sd = random_state_dict(config, seed=5)
    if scale is not None:
        sd[f"{FUSION}.text_scale"] = torch.tensor(scale)
    built = build_model(config, sd, backend="native")
    graphs = [build_graph(a) for a in (cf.rocksalt(), cf.perovskite(), cf.wurtzite())]
    rng = np.random.default_rng(1)
    text = rng.normal(size=(3, config.text_input_features)).astype(np.float32)
    seen: list[tuple[np.ndarray, np.ndarray]] = []
    handle = built.model.get_submodule(FUSION).register_forward_hook(
        lambda _m, args, out: seen.append((args[0].double().numpy(), out.double().numpy()))
    )
    data = CaptureInput(["a", "b", "c"], ["F"] * 3, np.zeros(3), graphs, text)
    try:
        cache = capture(built.model, data, batch_size=2)
    finally:
        handle.remove()
    x = np.concatenate([s[0] for s in seen])
    out = np.concatenate([s[1] for s in seen])
    weight = sd[f"{FUSION}.layer_norm.weight"].double().numpy()
    bias = sd[f"{FUSION}.layer_norm.bias"].double().numpy()
    want = np.linalg.norm(out - _numpy_layer_norm(x, weight, bias), axis=1)
    assert want.min() > 1e-3  # the text really changed the output
    np.testing.assert_allclose(cache.fusion_ln_change[FUSION], want, rtol=1e-4, atol=1e-5)
    assert cache.text_scale == ({} if scale is None else {FUSION: scale})
