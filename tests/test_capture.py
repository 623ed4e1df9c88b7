"""Capture on a closed-form checkpoint: every cached number is known in advance."""

from __future__ import annotations

import threading

import crystal_factory as cf
import numpy as np
import pytest
import torch
from closed_form import H, closed_form_checkpoint, cos

from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.capture.run import CaptureCancelled, CaptureInput, capture, derangement
from alpha_tui.data.graphs import build_graph
from alpha_tui.model.build import build_model

pytestmark = pytest.mark.both_lanes  # also run by make test-dgl (torch 2.2, numpy<2)

FUSION = "middle_fusion_modules.layer_2"
TEXT_T = f"{FUSION}.text_transform"


@pytest.fixture(scope="module")
def crystals():
    atoms = [cf.rocksalt(), cf.zincblende(), cf.perovskite(), cf.fcc_primitive(), cf.wurtzite()]
    return [build_graph(a) for a in atoms]


def run_capture(graphs, form, batch_size=2, **kwargs):
    built = build_model(form.config, form.state_dict, backend="native")
    rng = np.random.default_rng(0)
    data = CaptureInput(
        ids=[f"X{i}" for i in range(len(graphs))],
        formulas=["F"] * len(graphs),
        targets=np.arange(len(graphs), dtype=float),
        graphs=graphs,
        text=rng.normal(size=(len(graphs), form.config.text_input_features)).astype(np.float32),
    )
    return built, capture(built.model, data, batch_size=batch_size, **kwargs)


def test_capture_matches_closed_form(crystals):
    form = closed_form_checkpoint()
    _, cache = run_capture(crystals, form)
    n_atoms = sum(g.num_nodes for g in crystals)
    assert cache.n_atoms == n_atoms
    assert cache.fusion_modules == [FUSION]
    assert cache.gates[FUSION].shape == (n_atoms, H)
    np.testing.assert_allclose(cache.gates[FUSION], np.tile(form.alpha, (n_atoms, 1)), atol=1e-6)
    np.testing.assert_allclose(cache.text_transform[FUSION], np.tile(form.v, (5, 1)), atol=1e-5)
    np.testing.assert_allclose(cache.fusion_input_norm[FUSION], np.linalg.norm(form.x0), rtol=1e-5)
    names = [layer.name for layer in cache.layers]
    assert names == [
        "alignn_layers.0",
        "alignn_layers.1",
        "alignn_layers.2",
        FUSION,
        "alignn_layers.3",
        "gcn_layers.0",
        "gcn_layers.1",
        "gcn_layers.2",
        "gcn_layers.3",
    ]
    assert [layer.label for layer in cache.layers][2:5] == [
        "Layer 3 (ALIGNN)",
        "Fusion after Layer 3",
        "Layer 4 (ALIGNN)",
    ]
    for layer in cache.layers:
        before = names.index(layer.name) < names.index(FUSION)
        expected_x = form.x0 if before else form.w
        np.testing.assert_allclose(
            cache.layer_norms[layer.name], np.linalg.norm(expected_x), rtol=1e-5
        )
        flow = cache.flows[(layer.name, TEXT_T)]
        np.testing.assert_allclose(flow.cos, cos(expected_x, form.v), atol=1e-5)
        np.testing.assert_allclose(flow.null_cos, cos(expected_x, form.v), atol=1e-5)
        skipped = cache.flows[(layer.name, "text_projection")]
        assert (skipped.layer_width, skipped.text_width) == (H, 64)
        assert skipped.cos is None and skipped.null_cos is None
    assert cache.predictions is not None and cache.predictions.shape == (5,)


def test_predictions_match_unhooked_forward(crystals):
    form = closed_form_checkpoint()
    built, cache = run_capture(crystals, form, batch_size=5)
    from alpha_tui.data.batching import collate

    rng = np.random.default_rng(0)
    text = rng.normal(size=(5, form.config.text_input_features)).astype(np.float32)
    with torch.no_grad():
        direct = built.model(collate(crystals, text)).numpy()
    np.testing.assert_allclose(cache.predictions, direct, rtol=1e-5, atol=1e-6)
    # hooks are gone after the pass
    assert all(not m._forward_hooks for m in built.model.modules())


def test_session_numbers_from_capture(crystals):
    form = closed_form_checkpoint()
    _, cache = run_capture(crystals, form)
    session = AnalysisSession(cache)
    assert session.stats(FUSION, "mean").mean == pytest.approx(form.alpha.mean(), abs=1e-6)
    assert session.stats(FUSION, "max").mean == pytest.approx(form.alpha.max(), abs=1e-6)
    assert session.stats(FUSION, "dim:3").mean == pytest.approx(form.alpha[3], abs=1e-6)
    injection = np.linalg.norm(form.alpha * form.v) / np.linalg.norm(form.x0)
    np.testing.assert_allclose(session.alpha(FUSION, "injection"), injection, rtol=1e-4)


def test_cancel_stops_the_pass_and_removes_hooks(crystals):
    form = closed_form_checkpoint()
    built = build_model(form.config, form.state_dict, backend="native")
    cancel = threading.Event()
    seen = []

    def progress(done, total, stage):
        seen.append(done)
        cancel.set()

    data = CaptureInput(
        ids=[str(i) for i in range(5)],
        formulas=["F"] * 5,
        targets=np.zeros(5),
        graphs=crystals,
        text=np.zeros((5, form.config.text_input_features), np.float32),
    )
    with pytest.raises(CaptureCancelled):
        capture(built.model, data, batch_size=1, progress=progress, cancel=cancel)
    assert seen == [1]
    assert all(not m._forward_hooks for m in built.model.modules())


def test_nan_gates_are_reported_not_hidden(crystals):
    form = closed_form_checkpoint()
    form.state_dict["middle_fusion_modules.layer_2.gate.0.bias"][0] = float("nan")
    _, cache = run_capture(crystals, form)
    kinds = [p["kind"] for p in cache.meta["problems"]]
    assert "non-finite" in kinds


@pytest.mark.parametrize("n", [2, 3, 10, 301])
def test_derangement_has_no_fixed_point(n):
    perm = derangement(n)
    assert sorted(perm.tolist()) == list(range(n))
    assert not np.any(perm == np.arange(n))
    np.testing.assert_array_equal(perm, derangement(n))


def test_derangement_needs_two():
    assert derangement(1) is None


def test_text_scale_of_later_forks_is_part_of_the_injected_text(crystals):
    """With a learnt text_scale the module injects scale * text_transform(text)."""
    form = closed_form_checkpoint()
    state = dict(form.state_dict)
    state[f"{FUSION}.text_scale"] = torch.tensor(2.5)
    built = build_model(form.config, state, backend="native")
    assert built.model.get_submodule(FUSION).text_scale is not None
    data = CaptureInput(
        ids=[str(i) for i in range(5)],
        formulas=["F"] * 5,
        targets=np.zeros(5),
        graphs=crystals,
        text=np.zeros((5, form.config.text_input_features), np.float32),
    )
    cache = capture(built.model, data, batch_size=5)
    np.testing.assert_allclose(
        cache.text_transform[FUSION], np.tile(2.5 * form.v, (5, 1)), rtol=1e-5
    )
    session = AnalysisSession(cache)
    injection = np.linalg.norm(form.alpha * 2.5 * form.v) / np.linalg.norm(form.x0)
    np.testing.assert_allclose(session.alpha(FUSION, "injection"), injection, rtol=1e-4)


def _np_cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-8)


def test_cosines_use_each_atoms_own_and_its_null_crystals_text(crystals):
    """Batches of 2 over 5 crystals: the per-batch text gathers must follow the offset."""
    from model_factory import random_state_dict, small_config

    from alpha_tui.data.batching import collate

    config = small_config()
    built = build_model(config, random_state_dict(config, seed=5), backend="native")
    text = np.random.default_rng(1).normal(size=(5, config.text_input_features))
    text = text.astype(np.float32)
    model = built.model
    outputs = {}
    handles = [
        model.get_submodule(name).register_forward_hook(
            lambda m, i, o, name=name: outputs.__setitem__(
                name, (o[0] if isinstance(o, tuple) else o).numpy()
            )
        )
        for name in ("alignn_layers.1", FUSION, "gcn_layers.2")
    ]
    with torch.no_grad():
        model(collate(crystals, text))
        projected = model.text_projection(torch.from_numpy(text))
        transformed = model.get_submodule(TEXT_T)(projected).numpy()
    for handle in handles:
        handle.remove()
    crystal = np.repeat(np.arange(5), [g.num_nodes for g in crystals])
    partner = derangement(5)[crystal]

    cache = capture(
        model,
        CaptureInput([str(i) for i in range(5)], ["F"] * 5, np.zeros(5), crystals, text),
        batch_size=2,
    )
    for name, x in outputs.items():
        flow = cache.flows[(name, TEXT_T)]
        np.testing.assert_allclose(flow.cos, _np_cos(x, transformed[crystal]), atol=1e-5)
        np.testing.assert_allclose(flow.null_cos, _np_cos(x, transformed[partner]), atol=1e-5)
        assert not np.allclose(flow.cos, flow.null_cos)
