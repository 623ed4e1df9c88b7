"""Is a narrow mean-reduced alpha the model, or the averaging?

Only variation *across atoms* can make atoms look different, so every figure here is
built from v_d, the variance over atoms of gate dimension d, and from the users'
mean-reduced alpha ᾱ (per-atom mean over the H dims). Pooling all A x H entries (the
report/1 ``gate_std``) also counts dims that are constant over atoms but differ from
each other, which no reduction can turn into atom diversity.

    independence expectation   std(ᾱ) = sqrt(mean_d v_d / H)
    effective dims             N_eff  = mean_d v_d / Var(ᾱ)
                                      = H for independent dims, 1 when all move together
                                        (> H only when dims are anti-correlated)
    participation ratio        PR     = (Σλ)² / Σλ² of the [H, H] covariance over atoms
    between-dim share          Var_d(mean_d) / (pooled entry variance)

Verdict rule (documented thresholds):
  * "no per-atom variation" when every dim's std over atoms is <= NO_VARIATION_STD
    (1e-6): far above float32 rounding of values in (0, 1) (~6e-8) and far below any
    spread a 4-decimal reduction could show. Then no reduction can tell atoms apart.
  * "averaging artefact" when N_eff > ARTEFACT_MIN_EFFECTIVE_DIMS (4): the mean keeps
    less than a quarter of the per-dimension variance (std shrinks more than 2x), so
    per-dimension reductions (max, pc1, dim:K) show structure the mean hides.
  * otherwise the narrow values are real: the mean keeps most of the spread.
  * fewer than 2 atoms: undetermined.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from alpha_tui.analysis.gate_moments import GateMoments, gate_moments, participation_ratio

ARTEFACT_MIN_EFFECTIVE_DIMS = 4.0
NO_VARIATION_STD = 1e-6

NO_VARIATION = "no-variation"
ARTEFACT = "artefact"
REAL = "real"
UNDETERMINED = "undetermined"


@dataclass(frozen=True)
class CollapseDiagnostic:
    hidden: int
    n_atoms: int
    gate_std: float  # pooled std over all A*H entries (ddof=0); kept for comparison only
    atom_var_mean: float  # mean_d v_d
    atom_std: float  # sqrt(mean_d v_d): typical std of one dim across atoms
    per_dim_atom_std: float  # mean_d sqrt(v_d)
    max_dim_std: float  # max_d sqrt(v_d), what the no-variation tolerance is checked on
    mean_reduced_std: float  # std over atoms of ᾱ (ddof=0)
    expected_std: float  # sqrt(mean_d v_d / H): std(ᾱ) if the dims were independent
    effective_dims: float  # N_eff = mean_d v_d / Var(ᾱ); inf when ᾱ is constant
    participation_ratio: float  # (Σλ)²/Σλ² of the covariance over atoms
    between_dim_share: float  # share of the pooled entry variance that is between dims
    verdict_kind: str  # no-variation | artefact | real | undetermined
    is_artefact: bool
    verdict: str

    def to_dict(self) -> dict:
        return asdict(self)


def collapse_diagnostic(gates: np.ndarray) -> CollapseDiagnostic:
    return collapse_from_moments(gate_moments(gates))


def collapse_from_moments(m: GateMoments) -> CollapseDiagnostic:
    n, h = m.n_atoms, m.hidden
    if n == 0 or h == 0:
        nan = math.nan
        return CollapseDiagnostic(
            h, n, nan, nan, nan, nan, nan, nan, nan, nan, nan, nan,
            UNDETERMINED, False, "no gate values captured",
        )  # fmt: skip
    v = m.col_var
    v_mean = float(v.mean())
    between = float(m.col_mean.var())
    pooled = v_mean + between  # law of total variance over the A*H entries
    mean_var = float(m.row_mean.var())
    figures = dict(
        hidden=h,
        n_atoms=n,
        gate_std=math.sqrt(pooled),
        atom_var_mean=v_mean,
        atom_std=math.sqrt(v_mean),
        per_dim_atom_std=float(np.sqrt(v).mean()),
        max_dim_std=float(np.sqrt(v.max())),
        mean_reduced_std=math.sqrt(mean_var),
        expected_std=math.sqrt(v_mean / h),
        effective_dims=_ratio(v_mean, mean_var),
        participation_ratio=participation_ratio(m.cov),
        between_dim_share=between / pooled if pooled > 0 else math.nan,
    )
    kind, text = _verdict(figures)
    return CollapseDiagnostic(
        **figures, verdict_kind=kind, is_artefact=kind == ARTEFACT, verdict=text
    )


def _ratio(v_mean: float, mean_var: float) -> float:
    """N_eff; inf when the per-atom mean is constant although single dims vary."""
    if mean_var > 0:
        return v_mean / mean_var
    return math.inf if v_mean > 0 else math.nan


def _verdict(f: dict) -> tuple[str, str]:
    h, n = f["hidden"], f["n_atoms"]
    if n < 2:
        return UNDETERMINED, (
            f"only {n} atom captured: too few to judge whether the mean collapses alpha"
        )
    if f["max_dim_std"] <= NO_VARIATION_STD:
        return NO_VARIATION, (
            f"no per-atom variation: all {h} gate dims are constant across atoms (largest "
            f"std {f['max_dim_std']:.1e} <= {NO_VARIATION_STD:g}); no reduction can tell "
            "atoms apart"
        )
    eff = f["effective_dims"]
    spread = f"({f['atom_std']:.2g} -> {f['mean_reduced_std']:.2g}, N_eff {eff:.1f} of {h})"
    if eff > ARTEFACT_MIN_EFFECTIVE_DIMS:
        shrink = math.sqrt(eff)
        return ARTEFACT, (
            f"mean over {h} dims shrinks the spread across atoms {shrink:.1f}x {spread}: "
            "narrow alpha is an averaging artefact; use max/pc1/dim:K"
        )
    return REAL, (
        f"mean-reduced alpha keeps most of the spread across atoms {spread}: "
        "the narrow values are real"
    )
