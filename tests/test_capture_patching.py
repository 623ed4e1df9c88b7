"""Counterfactual re-runs: the prefix/suffix split equals a full forward with the same change."""

from __future__ import annotations

import threading

import crystal_factory as cf
import numpy as np
import pytest
import torch
from closed_form import closed_form_checkpoint
from model_factory import built_random_model, small_config

from alpha_tui.capture.patching import CONDITIONS, ModelHandle, run_text_effect
from alpha_tui.capture.run import CaptureCancelled, CaptureInput, capture, derangement
from alpha_tui.data.batching import collate
from alpha_tui.data.graphs import build_graph
from alpha_tui.model.build import build_model

pytestmark = pytest.mark.both_lanes


@pytest.fixture(scope="module")
def crystals():
    atoms = [cf.rocksalt(), cf.zincblende(), cf.perovskite(), cf.fcc_primitive(), cf.wurtzite()]
    return [build_graph(a) for a in atoms]


def make_input(graphs, width, seed=0):
    rng = np.random.default_rng(seed)
    return CaptureInput(
        ids=[f"X{i}" for i in range(len(graphs))],
        formulas=["F"] * len(graphs),
        targets=np.arange(len(graphs), dtype=float),
        graphs=graphs,
        text=rng.normal(size=(len(graphs), width)).astype(np.float32),
    )


def full_forward(model, data, fusion, *, text64=None, gate=None):
    """model(batch) on all crystals with a hook doing the change (independent path)."""
    module = model.get_submodule(fusion)
    handles = []
    if text64 is not None:

        def pre(_m, args):
            return (args[0], text64, args[2])

        handles.append(module.register_forward_pre_hook(pre))
    if gate is not None:
        handles.append(module.gate.register_forward_hook(lambda _m, _a, out: gate(out)))
    try:
        with torch.no_grad():
            out = model(collate(data.graphs, data.text))
    finally:
        for h in handles:
            h.remove()
    return out.double().numpy()


@pytest.mark.parametrize("fusion_layers", [(2,), (1, 2)])
def test_suffix_rerun_equals_full_forward_with_the_same_change(crystals, fusion_layers):
    config = small_config(middle_fusion_layers=fusion_layers)
    built = built_random_model(config, seed=5)
    model = built.model
    data = make_input(crystals, config.text_input_features)
    cache = capture(model, data, batch_size=2)
    fusion = f"middle_fusion_modules.layer_{fusion_layers[0]}"
    run = run_text_effect(ModelHandle(model, data, torch.device("cpu"), 2), cache, fusion)
    assert cache.counterfactuals[fusion] is run
    assert set(run.outputs) == set(CONDITIONS)
    text = torch.as_tensor(data.text)
    with torch.no_grad():
        own64 = model.text_projection(text)
        mean64 = model.text_projection(text.double().mean(0, keepdim=True).float()).expand(5, -1)
        zero64 = model.text_projection(torch.zeros_like(text[:1])).expand(5, -1)
    perm = derangement(5)
    gate_mean = torch.as_tensor(cache.gates[fusion].mean(axis=0))
    expected = {
        "other_text": full_forward(model, data, fusion, text64=own64[perm]),
        "mean_text": full_forward(model, data, fusion, text64=mean64),
        "text_zeroed": full_forward(model, data, fusion, text64=zero64),
        "gate_shut": full_forward(model, data, fusion, gate=torch.zeros_like),
        "gate_mean": full_forward(model, data, fusion, gate=lambda o: gate_mean.expand_as(o)),
    }
    for condition, want in expected.items():
        np.testing.assert_allclose(run.outputs[condition][:, 0], want, atol=1e-6, err_msg=condition)
    np.testing.assert_allclose(run.baseline[:, 0], cache.predictions, atol=0)
    # every condition really changes something on a random model
    for condition in CONDITIONS:
        assert np.abs(run.outputs[condition][:, 0] - cache.predictions).max() > 1e-4


def test_closed_form_gate_shut_equals_a_gate_bias_of_minus_infinity(crystals):
    """With LayerNorm scale 1 the fusion output is LN(x0 + alpha v): shutting the gate
    must give what a checkpoint whose gate bias is -1e4 (sigmoid = 0) predicts; all atoms
    share one alpha, so the mean-over-atoms gate changes nothing; text_transform ignores
    its input (weight 0), so the three text conditions change nothing."""
    form = closed_form_checkpoint()
    fusion = "middle_fusion_modules.layer_2"
    sd = dict(form.state_dict)
    sd[f"{fusion}.layer_norm.weight"] = torch.ones_like(sd[f"{fusion}.layer_norm.weight"])
    shut = dict(sd)
    shut[f"{fusion}.gate.0.bias"] = torch.full_like(sd[f"{fusion}.gate.0.bias"], -1e4)
    built = build_model(form.config, sd, backend="native")
    data = make_input(crystals, form.config.text_input_features)
    cache = capture(built.model, data, batch_size=3)
    run = run_text_effect(ModelHandle(built.model, data, torch.device("cpu"), 3), cache, fusion)
    shut_model = build_model(form.config, shut, backend="native").model
    with torch.no_grad():
        want = shut_model(collate(data.graphs, data.text)).double().numpy()
    np.testing.assert_allclose(run.outputs["gate_shut"][:, 0], want, atol=1e-6)
    assert np.abs(want - cache.predictions).min() > 1e-3  # the shut gate matters here
    for condition in ("gate_mean", "other_text", "mean_text", "text_zeroed"):
        np.testing.assert_allclose(run.outputs[condition][:, 0], cache.predictions, atol=1e-5)


def test_cancel_stops_the_rerun(crystals):
    config = small_config()
    built = built_random_model(config, seed=1)
    data = make_input(crystals, config.text_input_features)
    cache = capture(built.model, data, batch_size=2)
    cancel = threading.Event()
    seen = []

    def progress(done, total, stage):
        seen.append((done, total, stage))
        cancel.set()

    handle = ModelHandle(built.model, data, torch.device("cpu"), 2)
    with pytest.raises(CaptureCancelled):
        run_text_effect(
            handle, cache, "middle_fusion_modules.layer_2", progress=progress, cancel=cancel
        )
    assert seen == [(2, 5, "text effect")]
    assert not cache.counterfactuals
