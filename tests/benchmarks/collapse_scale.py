"""Collapse statistic and Dims figures at the scale of a real dataset (1e6 x 256).

    python tests/benchmarks/collapse_scale.py [--atoms 1000000] [--hidden 256]

Prints wall time of each stage and the peak memory allocated while computing
(tracemalloc, beyond the float32 gate itself), so the chunked float64 accumulation
can be checked to stay bounded.
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from alpha_tui.analysis.collapse import collapse_from_moments
from alpha_tui.analysis.dims import dim_stats
from alpha_tui.analysis.gate_moments import gate_moments


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--atoms", type=int, default=1_000_000)
    parser.add_argument("--hidden", type=int, default=256)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    gates = np.empty((args.atoms, args.hidden), dtype=np.float32)
    latent = rng.normal(size=(args.hidden, 8)).astype(np.float32)
    for start in range(0, args.atoms, 65536):
        stop = min(start + 65536, args.atoms)
        z = rng.normal(size=(stop - start, 8)).astype(np.float32)
        noise = rng.normal(size=(stop - start, args.hidden)).astype(np.float32)
        gates[start:stop] = 1 / (1 + np.exp(-(z @ latent.T + noise)))
    tracemalloc.start()  # numpy reports its buffers to tracemalloc
    t0 = time.perf_counter()
    moments = gate_moments(gates)
    t1 = time.perf_counter()
    diag = collapse_from_moments(moments)
    t2 = time.perf_counter()
    dims = dim_stats(gates, moments)
    t3 = time.perf_counter()
    print(f"gates {args.atoms} x {args.hidden} float32 ({gates.nbytes / 2**20:.0f} MiB)")
    print(f"gate_moments (chunked float64, covariance) {t1 - t0:.2f} s")
    print(f"collapse_from_moments                      {t2 - t1:.3f} s")
    print(f"dim_stats (open/shut counts, spectrum)     {t3 - t2:.2f} s")
    peak = tracemalloc.get_traced_memory()[1]
    print(f"peak memory allocated while computing (beyond the gate): {peak / 2**20:.0f} MiB")
    print(f"N_eff {diag.effective_dims:.1f}, PR {diag.participation_ratio:.1f}, {dims.counts}")


if __name__ == "__main__":
    main()
