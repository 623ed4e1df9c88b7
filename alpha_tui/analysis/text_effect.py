"""Does the text matter? Statistics of the counterfactual re-runs (capture/patching.py).

Pure numpy. Per condition: how far the outputs move from the unchanged run (|Δ
prediction| for regression; for classification the total-variation distance between
the two probability vectors, which is |Δp| for a binary head), the error with and
without the text, and a paired bootstrap interval for the change in error, so a
small dataset cannot make noise look like "the text helps".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alpha_tui.analysis.elements import element_symbol

CONDITION_LABELS: dict[str, str] = {
    "other_text": "another crystal's text",
    "mean_text": "dataset-mean text",
    "gate_shut": "gate shut (alpha = 0)",
    "gate_mean": "gate = its mean over atoms",
    "text_zeroed": "text zeroed before text_projection",
}
_PHRASES: dict[str, str] = {
    "other_text": "giving {m} another crystal's text",
    "mean_text": "giving {m} the dataset-mean text",
    "gate_shut": "closing the gate at {m}",
    "gate_mean": "replacing the gate at {m} by its mean over atoms",
    "text_zeroed": "zeroing the text into {m}",
}
BOOTSTRAP_SEED = 20240607  # fixed: the interval is the same on every run
BOOTSTRAP_DRAWS = 2000
USED_FRACTION = 0.01  # mean |Δ| below 1 % of the prediction spread: "not used"


@dataclass(frozen=True)
class BootstrapCI:
    low: float
    high: float
    draws: int
    seed: int


@dataclass(frozen=True)
class ConditionEffect:
    condition: str
    label: str
    delta: np.ndarray  # [C] float64, |Δ| per crystal
    mean_abs_delta: float
    median_abs_delta: float
    max_abs_delta: float
    error_with: float | None  # MAE (regression) or accuracy (classification), own text
    error_without: float | None  # the same under the condition
    change_ci: BootstrapCI | None  # of error_without - error_with, paired over crystals
    n_scored: int  # crystals with a finite target
    verdict: str

    def to_dict(self) -> dict:
        ci = self.change_ci
        return {
            "condition": self.condition,
            "label": self.label,
            "mean_abs_delta": self.mean_abs_delta,
            "median_abs_delta": self.median_abs_delta,
            "max_abs_delta": self.max_abs_delta,
            "with_text": self.error_with,
            "without_text": self.error_without,
            "change": None
            if self.error_with is None or self.error_without is None
            else self.error_without - self.error_with,
            "change_ci95": None if ci is None else [ci.low, ci.high],
            "n_scored": self.n_scored,
            "verdict": self.verdict,
        }


def paired_bootstrap_ci(
    per_item: np.ndarray, draws: int = BOOTSTRAP_DRAWS, seed: int = BOOTSTRAP_SEED
) -> BootstrapCI | None:
    """95 % percentile interval of the mean of ``per_item`` over resampled items.

    ``per_item`` is the paired difference per crystal (error without minus with the
    text), so crystals are resampled together with both of their errors.
    """
    d = np.asarray(per_item, dtype=np.float64)
    if d.size < 2:
        return None
    rng = np.random.default_rng(seed)
    # draws in blocks: the same stream as one draw at a time, memory bounded for big sets
    block = max(1, min(draws, 2_000_000 // d.size))
    parts = []
    for start in range(0, draws, block):
        rows = min(block, draws - start)
        parts.append(d[rng.integers(0, d.size, size=(rows, d.size))].mean(axis=1))
    means = np.concatenate(parts)
    low, high = np.percentile(means, [2.5, 97.5])
    return BootstrapCI(float(low), float(high), draws, seed)


def output_delta(base: np.ndarray, changed: np.ndarray, classification: bool) -> np.ndarray:
    """Per-crystal |Δ|: |Δprediction|, or total-variation distance of the probabilities."""
    base, changed = np.asarray(base, np.float64), np.asarray(changed, np.float64)
    if classification:
        return 0.5 * np.abs(changed - base).sum(axis=1)
    return np.abs(changed[:, 0] - base[:, 0])


def per_crystal_error(outputs: np.ndarray, targets: np.ndarray, classification: bool) -> np.ndarray:
    """Absolute error (regression) or 1 - correct (classification), finite targets only."""
    if classification:
        return (np.argmax(outputs, axis=1) != targets.astype(np.int64)).astype(np.float64)
    return np.abs(outputs[:, 0] - targets)


def _num(x: float, sign: bool = False) -> str:
    """Two decimals like the users' figures, significant digits for large targets."""
    spec = "+" if sign else ""
    return f"{x:{spec}.2f}" if abs(x) < 100 else f"{x:{spec}.4g}"


def _verdict(
    condition: str,
    module: str,
    mean_delta: float,
    spread: float,
    with_: float | None,
    without: float | None,
    ci: BootstrapCI | None,
    classification: bool,
) -> str:
    what = _PHRASES[condition].format(m=module)
    if classification:
        head = f"{what} changes class probabilities by {mean_delta:.3f} on average"
        metric = "accuracy"
    else:
        head = f"{what} changes predictions by {_num(mean_delta)} on average"
        metric = "MAE"
    if with_ is not None and without is not None:
        if classification:  # report accuracy, not the error rate
            head += f" ({metric} {1 - with_:.3f} -> {1 - without:.3f}"
        else:
            head += f" ({metric} {_num(with_)} -> {_num(without)}"
        if ci is not None:
            head += f", 95 % CI of the change {ci.low:+.3g} .. {ci.high:+.3g}"
        head += ")"
    if not np.isfinite(spread) or spread == 0.0:
        used = mean_delta > 0.0
    else:
        used = mean_delta >= USED_FRACTION * spread
    if not used:
        return f"{head}: the text is not used here (< 1 % of the prediction spread)"
    if ci is None:
        return f"{head}: the text is used (accuracy effect unknown: too few targets)"
    if ci.low > 0:
        return f"{head}: the text is used and helps accuracy"
    if ci.high < 0:
        return f"{head}: the text is used but hurts accuracy"
    return f"{head}: the text is used; its effect on accuracy is within noise"


def condition_effect(
    condition: str,
    module: str,
    base: np.ndarray,
    changed: np.ndarray,
    targets: np.ndarray,
    classification: bool,
) -> ConditionEffect:
    delta = output_delta(base, changed, classification)
    t = np.asarray(targets, dtype=np.float64)
    scored = np.isfinite(t) & np.isfinite(delta)
    with_ = without = None
    ci = None
    if scored.any():
        e_with = per_crystal_error(base[scored], t[scored], classification)
        e_without = per_crystal_error(changed[scored], t[scored], classification)
        with_, without = float(e_with.mean()), float(e_without.mean())
        ci = paired_bootstrap_ci(e_without - e_with)
    finite = delta[np.isfinite(delta)]
    spread = 1.0 if classification else float(np.std(np.asarray(base)[:, 0]))
    mean_delta = float(finite.mean()) if finite.size else float("nan")
    return ConditionEffect(
        condition=condition,
        label=CONDITION_LABELS[condition],
        delta=delta,
        mean_abs_delta=mean_delta,
        median_abs_delta=float(np.median(finite)) if finite.size else float("nan"),
        max_abs_delta=float(finite.max()) if finite.size else float("nan"),
        error_with=with_,
        error_without=without,
        change_ci=ci,
        n_scored=int(scored.sum()),
        verdict=_verdict(
            condition, module, mean_delta, spread, with_, without, ci, classification
        ),
    )


@dataclass(frozen=True)
class ElementEffect:
    symbol: str
    z: int
    count: int  # atoms
    mean_abs_delta: float  # over atoms: each atom carries its crystal's |Δ|

    def to_dict(self) -> dict:
        return {
            "symbol": self.symbol,
            "z": self.z,
            "count": self.count,
            "mean": self.mean_abs_delta,
        }


def element_effects(
    delta: np.ndarray, atom_crystal: np.ndarray, atomic_numbers: np.ndarray
) -> list[ElementEffect]:
    """Mean |Δ| of the crystals an element occurs in, weighted by its atoms there."""
    per_atom = np.asarray(delta, np.float64)[np.asarray(atom_crystal)]
    z = np.asarray(atomic_numbers).astype(np.int64)
    ok = np.isfinite(per_atom)
    out = []
    for zi in np.unique(z[ok]):
        sel = per_atom[ok & (z == zi)]
        symbol = element_symbol(int(zi))
        out.append(ElementEffect(symbol, int(zi), int(sel.size), float(sel.mean())))
    return sorted(out, key=lambda e: -e.mean_abs_delta)


def ranked_crystals(delta: np.ndarray, n: int = 10) -> tuple[list[int], list[int]]:
    """Indices of the ``n`` most and least sensitive crystals (ties by index)."""
    d = np.asarray(delta, np.float64)
    idx = np.flatnonzero(np.isfinite(d))
    order = idx[np.lexsort((idx, -d[idx]))]
    least = idx[np.lexsort((idx, d[idx]))]
    return [int(i) for i in order[:n]], [int(i) for i in least[:n]]


def short_module(fusion: str) -> str:
    return fusion.rsplit(".", 1)[-1]


def text_effects(
    fusion: str,
    classification: bool,
    baseline: np.ndarray,
    outputs: dict[str, np.ndarray],
    targets: np.ndarray,
) -> list[ConditionEffect]:
    """One ConditionEffect per condition, in the order of ``outputs``."""
    module = short_module(fusion)
    return [
        condition_effect(c, module, baseline, changed, targets, classification)
        for c, changed in outputs.items()
    ]


def headline(effects: list[ConditionEffect]) -> str:
    """The pane's one line: the gate-shut verdict (the direct "does the text matter")."""
    for effect in effects:
        if effect.condition == "gate_shut":
            return effect.verdict
    return effects[0].verdict if effects else "no counterfactual run"


def effect_document(
    fusion: str,
    classification: bool,
    effects: list[ConditionEffect],
    crystal_ids: list[str],
    atom_crystal: np.ndarray,
    atomic_numbers: np.ndarray,
    seconds: float | None = None,
    n: int = 10,
) -> dict:
    """The ``text_effect[fusion]`` entry of ``report --json`` (documented in the README)."""
    conditions = {}
    for effect in effects:
        entry = effect.to_dict()
        most, least = ranked_crystals(effect.delta, n)
        entry["most_sensitive"] = [
            {"id": crystal_ids[i], "index": i, "abs_delta": float(effect.delta[i])} for i in most
        ]
        entry["least_sensitive"] = [
            {"id": crystal_ids[i], "index": i, "abs_delta": float(effect.delta[i])} for i in least
        ]
        entry["elements"] = [
            e.to_dict() for e in element_effects(effect.delta, atom_crystal, atomic_numbers)
        ]
        conditions[effect.condition] = entry
    return {
        "kind": "classification" if classification else "regression",
        "delta": "total-variation distance of class probabilities"
        if classification
        else "absolute change of the prediction (target units)",
        "metric": "accuracy" if classification else "MAE",
        "seconds": seconds,
        "verdict": headline(effects),
        "conditions": conditions,
    }
