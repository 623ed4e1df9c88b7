"""Scale balance at a fusion module: how big is the text next to the node features?

The module computes ``out = LN(x + alpha ⊙ t)``. If ||t|| is tiny next to ||x|| the
gate can open fully and still change little, whatever alpha shows; the users' own
diagnostics call a graph/text ratio above 3x "dominated by the larger modality" and
their later fork multiplies t by a text scale they chose by hand. Per atom:

    x_norm          ||x||, node features entering the module (captured)
    t_norm          ||t||, the injected text (text_transform output x text_scale) of the
                    atom's crystal
    injected_norm   ||alpha ⊙ t||
    norm_ratio      ||x|| / ||t||
    injection_ratio ||alpha ⊙ t|| / ||x|| (the ``injection`` reduction)
    ln_change       ||out - LN(x)||, what the text changed after the LayerNorm

The text scale that would equalise norms is ``s * median(||x|| / ||t||)`` where s is
the checkpoint's current text_scale (1 when it has none, which is then said).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alpha_tui.analysis.reductions import iter_chunks

QUANTITIES: tuple[tuple[str, str], ...] = (
    ("x_norm", "||x|| nodes in"),
    ("t_norm", "||t|| text in"),
    ("injected_norm", "||α⊙t||"),
    ("norm_ratio", "||x||/||t||"),
    ("injection_ratio", "||α⊙t||/||x||"),
    ("ln_change", "||out−LN(x)||"),
)


@dataclass(frozen=True)
class Distribution:
    count: int  # finite values
    mean: float
    median: float
    p5: float
    p95: float

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("count", "mean", "median", "p5", "p95")}


@dataclass(frozen=True)
class ScaleBalance:
    values: dict[str, np.ndarray]  # quantity -> [A] float64 (ln_change absent if not captured)
    text_scale: float | None  # the checkpoint's, None when the module has none
    equalising_scale: float  # text scale that would make median ||x|| == ||t||

    def distribution(self, name: str) -> Distribution | None:
        values = self.values.get(name)
        return None if values is None else distribution(values)

    def to_dict(self) -> dict:
        out: dict = {
            "text_scale": self.text_scale,
            "equalising_text_scale": self.equalising_scale,
        }
        for name, _ in QUANTITIES:
            dist = self.distribution(name)
            out[name] = None if dist is None else dist.to_dict()
        return out


def distribution(values: np.ndarray) -> Distribution:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        nan = float("nan")
        return Distribution(0, nan, nan, nan, nan)
    p5, p50, p95 = np.percentile(v, [5, 50, 95])
    return Distribution(int(v.size), float(v.mean()), float(p50), float(p5), float(p95))


def _divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = a / b
    out[~np.isfinite(out)] = np.nan  # a zero norm has no ratio: left out, counted
    return out


def scale_balance(
    gates: np.ndarray,
    text_per_crystal: np.ndarray,
    atom_crystal: np.ndarray,
    x_norm: np.ndarray,
    ln_change: np.ndarray | None = None,
    text_scale: float | None = None,
) -> ScaleBalance:
    g = np.asarray(gates)
    text = np.asarray(text_per_crystal, dtype=np.float64)
    crystal = np.asarray(atom_crystal)
    t_norm = np.linalg.norm(text, axis=1)[crystal]
    injected = np.empty(g.shape[0], dtype=np.float64)
    for sl in iter_chunks(g.shape[0]):
        gt = np.asarray(g[sl], dtype=np.float64) * text[crystal[sl]]
        injected[sl] = np.sqrt(np.einsum("ij,ij->i", gt, gt))
    x = np.asarray(x_norm, dtype=np.float64)
    values = {
        "x_norm": x,
        "t_norm": t_norm,
        "injected_norm": injected,
        "norm_ratio": _divide(x, t_norm),
        "injection_ratio": _divide(injected, x),
    }
    if ln_change is not None:
        values["ln_change"] = np.asarray(ln_change, dtype=np.float64)
    for v in values.values():
        v.setflags(write=False)
    ratio = values["norm_ratio"]
    finite = ratio[np.isfinite(ratio)]
    median = float(np.median(finite)) if finite.size else float("nan")
    current = 1.0 if text_scale is None else float(text_scale)
    return ScaleBalance(values, text_scale, current * median)
