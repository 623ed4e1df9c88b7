"""Text-effect statistics against hand computations."""

from __future__ import annotations

import numpy as np
import pytest

from alpha_tui.analysis.text_effect import (
    BOOTSTRAP_DRAWS,
    BOOTSTRAP_SEED,
    condition_effect,
    effect_document,
    element_effects,
    output_delta,
    paired_bootstrap_ci,
    ranked_crystals,
    text_effects,
)


def reference_bootstrap(d, draws=BOOTSTRAP_DRAWS, seed=BOOTSTRAP_SEED):
    """One resample at a time, plain Python mean: the definition, not the implementation."""
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(draws):
        idx = rng.integers(0, len(d), size=len(d))
        means.append(sum(float(d[i]) for i in idx) / len(d))
    means.sort()
    return np.percentile(np.array(means), [2.5, 97.5])


def test_bootstrap_matches_the_one_draw_at_a_time_definition():
    d = np.random.default_rng(3).normal(0.2, 1.0, size=137)
    ci = paired_bootstrap_ci(d)
    low, high = reference_bootstrap(d)
    assert ci is not None
    assert ci.low == pytest.approx(low, abs=1e-12)
    assert ci.high == pytest.approx(high, abs=1e-12)
    # and it is close to the normal-theory interval mean ± 1.96 s/sqrt(n)
    half = 1.96 * d.std() / np.sqrt(d.size)
    assert ci.low == pytest.approx(d.mean() - half, abs=0.25 * half)
    assert ci.high == pytest.approx(d.mean() + half, abs=0.25 * half)


def test_bootstrap_of_a_constant_difference_is_that_constant():
    ci = paired_bootstrap_ci(np.full(20, 0.37))
    assert (ci.low, ci.high) == pytest.approx((0.37, 0.37))
    assert paired_bootstrap_ci(np.array([1.0])) is None


def test_regression_effect_numbers():
    base = np.array([[1.0], [2.0], [3.0], [4.0]])
    changed = np.array([[1.5], [2.0], [2.0], [6.0]])
    targets = np.array([1.0, 2.5, np.nan, 4.0])
    e = condition_effect("gate_shut", "layer_2", base, changed, targets, False)
    np.testing.assert_allclose(e.delta, [0.5, 0.0, 1.0, 2.0])
    assert e.mean_abs_delta == pytest.approx(3.5 / 4)
    assert e.median_abs_delta == pytest.approx(0.75)
    assert e.max_abs_delta == 2.0
    # scored crystals 0, 1, 3: |err| with text 0, 0.5, 0; without 0.5, 0.5, 2
    assert e.n_scored == 3
    assert e.error_with == pytest.approx(0.5 / 3)
    assert e.error_without == pytest.approx(3.0 / 3)
    low, high = reference_bootstrap(np.array([0.5, 0.0, 2.0]))
    assert (e.change_ci.low, e.change_ci.high) == pytest.approx((low, high))
    assert e.verdict.startswith("closing the gate at layer_2 changes predictions by 0.88")
    assert f"MAE 0.17 -> 1.00, 95 % CI of the change {low:+.3g} .. {high:+.3g})" in e.verdict
    # a resample of three crystals can be all-zero differences: the CI touches 0
    assert low == 0.0
    assert e.verdict.endswith("the text is used; its effect on accuracy is within noise")
    many = condition_effect("gate_shut", "layer_2", base, base + 1.0, base[:, 0], False)
    assert (many.change_ci.low, many.change_ci.high) == (1.0, 1.0)
    assert many.verdict.endswith("the text is used and helps accuracy")


def test_unused_text_is_called_unused():
    base = np.linspace(0, 10, 50).reshape(-1, 1)
    changed = base + 1e-4
    e = condition_effect("other_text", "layer_3", base, changed, base[:, 0] + 0.5, False)
    assert "another crystal's text" in e.verdict
    assert e.verdict.endswith("not used here (< 1 % of the prediction spread)")


def test_classification_uses_probability_change_and_accuracy():
    base = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    changed = np.array([[0.4, 0.6], [0.2, 0.8], [0.7, 0.3]])
    np.testing.assert_allclose(output_delta(base, changed, True), [0.5, 0.0, 0.1])
    targets = np.array([0.0, 1.0, 1.0])
    e = condition_effect("gate_shut", "layer_2", base, changed, targets, True)
    assert e.error_with == pytest.approx(1 / 3)  # error rate; accuracy 2/3
    assert e.error_without == pytest.approx(2 / 3)
    assert "accuracy 0.667 -> 0.333" in e.verdict
    assert "class probabilities by 0.200" in e.verdict


def test_elements_weight_each_atom_by_its_crystal_delta():
    delta = np.array([1.0, 3.0])
    atom_crystal = np.array([0, 0, 1, 1, 1])
    z = np.array([8, 14, 8, 8, 26])
    by = {e.symbol: e for e in element_effects(delta, atom_crystal, z)}
    assert by["O"].count == 3 and by["O"].mean_abs_delta == pytest.approx((1 + 3 + 3) / 3)
    assert by["Si"].mean_abs_delta == 1.0 and by["Fe"].mean_abs_delta == 3.0
    assert [e.symbol for e in element_effects(delta, atom_crystal, z)][0] == "Fe"


def test_ranking_and_document():
    delta = np.array([0.25, 0.75, np.nan, 0.25, 0.125])
    most, least = ranked_crystals(delta, 3)
    assert most == [1, 0, 3] and least == [4, 0, 3]
    base = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    outputs = {"gate_shut": base + delta.reshape(-1, 1), "mean_text": base}
    effects = text_effects("m.layer_2", False, base, outputs, np.zeros(5))
    doc = effect_document(
        "m.layer_2", False, effects, list("abcde"), np.arange(5), np.array([1, 1, 2, 3, 3])
    )
    assert doc["verdict"].startswith("closing the gate at layer_2")
    shut = doc["conditions"]["gate_shut"]
    assert [r["id"] for r in shut["most_sensitive"]] == ["b", "a", "d", "e"]
    assert shut["mean_abs_delta"] == pytest.approx(np.nanmean(delta))
    assert doc["conditions"]["mean_text"]["mean_abs_delta"] == 0.0
