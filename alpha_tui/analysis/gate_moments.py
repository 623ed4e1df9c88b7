"""First and second moments of the gate over atoms, in one chunked float64 pass.

The collapse statistic and the Dims pane both need the per-dimension means, the
per-dimension variances across atoms and the [H, H] covariance of the gate over
atoms. On a real dataset the gate is [1e6, 256] float32 (1 GB): it is never copied
to float64 whole; rows are read in chunks and the covariance is accumulated as a
sum of chunk products (centred on the exact column means from a first pass, so the
sums do not cancel catastrophically).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alpha_tui.analysis.reductions import iter_chunks


@dataclass(frozen=True)
class GateMoments:
    n_atoms: int
    hidden: int
    col_mean: np.ndarray  # [H] mean over atoms of each dim
    col_var: np.ndarray  # [H] v_d: variance over atoms of each dim (ddof=0)
    row_mean: np.ndarray  # [A] per-atom mean over dims (the users' mean-reduced alpha)
    cov: np.ndarray  # [H, H] covariance over atoms (ddof=0); diag == col_var


def gate_moments(gates: np.ndarray, chunk: int | None = None) -> GateMoments:
    g = np.asarray(gates)
    if g.ndim != 2:
        raise ValueError(f"gates must be [A, H], got shape {g.shape}")
    n, h = g.shape
    col_sum = np.zeros(h, dtype=np.float64)
    for sl in iter_chunks(n, chunk):
        col_sum += np.asarray(g[sl], dtype=np.float64).sum(axis=0)
    col_mean = col_sum / n if n else np.full(h, np.nan)
    cov_sum = np.zeros((h, h), dtype=np.float64)
    row_mean = np.empty(n, dtype=np.float64)
    for sl in iter_chunks(n, chunk):
        x = np.asarray(g[sl], dtype=np.float64)
        row_mean[sl] = x.mean(axis=1)
        x -= col_mean
        cov_sum += x.T @ x
    cov = cov_sum / n if n else np.full((h, h), np.nan)
    col_var = np.diag(cov).copy()
    for arr in (col_mean, col_var, row_mean, cov):
        arr.setflags(write=False)
    return GateMoments(n, h, col_mean, col_var, row_mean, cov)


def covariance_spectrum(moments: GateMoments) -> np.ndarray:
    """Eigenvalues of the covariance, largest first, clipped at 0 (rounding gives -1e-17)."""
    if moments.n_atoms == 0:
        return np.zeros(0)
    if not np.all(np.isfinite(moments.cov)):
        # non-finite gates (NaN weights) have no spectrum; LAPACK would not converge
        return np.full(moments.hidden, np.nan)
    values = np.linalg.eigvalsh(moments.cov)[::-1]
    return np.clip(values, 0.0, None)


def participation_ratio(cov: np.ndarray) -> float:
    """(Σλ)² / Σλ² = tr(C)² / ||C||_F², without an eigendecomposition (C is symmetric)."""
    frob = float(np.sum(cov * cov))
    if frob == 0.0 or not np.isfinite(frob):
        return float("nan")
    return float(np.trace(cov)) ** 2 / frob
