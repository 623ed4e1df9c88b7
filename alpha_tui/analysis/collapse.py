"""Is a narrow mean-reduced alpha the model, or the averaging?

If the H gate dims of an atom were independent with the same spread, the mean over
them would have std gate_std / sqrt(H) (central limit theorem): with H = 256 a
per-entry std of 0.27 becomes ~0.017, which is how the users' stored alphas ended up
at std 0.029 with every element "the same". The ratio

    effective_dims = (gate_std / mean_reduced_std) ** 2

is the number of independent dims that would produce the observed shrinkage: ~H for
independent dims, ~1 when all dims of an atom move together (then the mean loses
nothing).

Verdict rule (documented thresholds):
  * artefact when effective_dims > ARTEFACT_MIN_EFFECTIVE_DIMS (= 4), i.e. the mean
    shrinks the spread more than 2x (mean_reduced_std < 0.5 * gate_std). Both
    conditions of the rule are the same inequality; 2x is where the mean has thrown
    away at least three quarters of the variance, so per-dimension reductions
    (max, pc1, dim:K) show structure the mean hides.
  * otherwise the mean keeps most of the spread and a narrow alpha is real.
  * degenerate cases (fewer than 2 atoms, all gate entries equal) get their own
    verdict and is_artefact False.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from alpha_tui.analysis.reductions import iter_chunks

ARTEFACT_MIN_EFFECTIVE_DIMS = 4.0


@dataclass(frozen=True)
class CollapseDiagnostic:
    hidden: int
    gate_std: float  # std over all A*H gate entries (ddof=0)
    mean_reduced_std: float  # std over atoms of the per-atom mean (ddof=0)
    expected_std: float  # gate_std / sqrt(H): the independent-dims expectation
    effective_dims: float  # (gate_std / mean_reduced_std) ** 2; inf if the mean is constant
    is_artefact: bool
    verdict: str
    n_atoms: int = 0
    per_dim_atom_std: float = math.nan  # mean over dims of the std across atoms of one dim

    def to_dict(self) -> dict:
        return asdict(self)


def collapse_diagnostic(gates: np.ndarray) -> CollapseDiagnostic:
    g = np.asarray(gates)
    if g.ndim != 2:
        raise ValueError(f"gates must be [A, H], got shape {g.shape}")
    n, h = g.shape
    total = n * h
    if total == 0:
        return CollapseDiagnostic(
            h, math.nan, math.nan, math.nan, math.nan, False, "no gate values captured", n
        )
    # Two passes in float64 chunks: exact enough and no full float64 copy.
    col_sum = np.zeros(h, dtype=np.float64)
    for sl in iter_chunks(n):
        col_sum += np.asarray(g[sl], dtype=np.float64).sum(axis=0)
    grand_mean = col_sum.sum() / total
    col_mean = col_sum / n
    sq = 0.0
    col_sq = np.zeros(h, dtype=np.float64)
    row_means = np.empty(n, dtype=np.float64)
    for sl in iter_chunks(n):
        x = np.asarray(g[sl], dtype=np.float64)
        sq += float(((x - grand_mean) ** 2).sum())
        col_sq += ((x - col_mean) ** 2).sum(axis=0)
        row_means[sl] = x.mean(axis=1)
    gate_std = math.sqrt(sq / total)
    mean_std = float(row_means.std())
    per_dim = float(np.sqrt(col_sq / n).mean())
    expected = gate_std / math.sqrt(h)

    if n < 2:
        return CollapseDiagnostic(
            h, gate_std, mean_std, expected, math.nan, False,
            f"only {n} atom captured: too few to judge whether the mean collapses alpha",
            n, per_dim,
        )  # fmt: skip
    if gate_std == 0:
        return CollapseDiagnostic(
            h, 0.0, mean_std, 0.0, math.nan, False,
            "every gate entry is identical (std 0): alpha carries no per-atom information",
            n, per_dim,
        )  # fmt: skip
    eff = (gate_std / mean_std) ** 2 if mean_std > 0 else math.inf
    shrink = gate_std / mean_std if mean_std > 0 else math.inf
    is_artefact = eff > ARTEFACT_MIN_EFFECTIVE_DIMS
    if is_artefact:
        verdict = (
            f"mean over {h} dims shrinks spread {shrink:.1f}x ({gate_std:.2g} -> {mean_std:.2g}, "
            f"~{eff:.0f} independent dims): narrow alpha is an averaging artefact; "
            "use max/pc1/dim:K"
        )
    else:
        verdict = (
            f"mean-reduced alpha keeps most of the per-dimension spread ({gate_std:.2g} -> "
            f"{mean_std:.2g}, ~{eff:.1f} independent dims of {h}): narrow values are real"
        )
    return CollapseDiagnostic(
        hidden=h,
        gate_std=gate_std,
        mean_reduced_std=mean_std,
        expected_std=expected,
        effective_dims=eff,
        is_artefact=is_artefact,
        verdict=verdict,
        n_atoms=n,
        per_dim_atom_std=per_dim,
    )
