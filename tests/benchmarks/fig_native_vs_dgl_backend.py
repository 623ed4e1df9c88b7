"""Issue 11 figure 1, DGL lane: native forward time over alpha-tui's DGL backend time.

    DGLBACKEND=pytorch .venv-dgl/bin/python tests/benchmarks/fig_native_vs_dgl_backend.py

Same model object, same batches (the first 128 sample crystals, 64 with --quick), the
backend swapped between alternated rounds; predictions are checked equal first. The
DGL backend runs DGL's fused SpMM/SDDMM kernels (``update_all``/``apply_edges``), the
path the users' own model takes; the faithful users'-forward reference is a separate
figure.
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from tests.benchmarks import harness  # noqa: E402
from tests.benchmarks.forward_common import forward_all, load_model, sample_batches  # noqa: E402

LANE = "dgl"


def figures(quick: bool) -> list[harness.Figure]:
    from alpha_tui.model.backends.native import NativeBackend
    from alpha_tui.model.backends.select import select_backend

    torch.set_num_threads(2)
    crystals, repeat = (64, 3) if quick else (128, 5)
    model = load_model("native")
    native, (dgl_backend, _) = NativeBackend(), select_backend("dgl")

    def run(backend, batches):
        model.backend = backend
        return forward_all(model, batches)

    out = []
    for bs in (16, 64):
        batches = sample_batches(crystals, bs)
        diff = (run(native, batches) - run(dgl_backend, batches)).abs().max().item()
        if diff > 1e-4:
            raise AssertionError(f"native and DGL predictions differ by {diff}")
        t_native, t_dgl = harness.alternate(
            lambda b=batches: run(native, b), lambda b=batches: run(dgl_backend, b), repeat=repeat
        )
        out.append(
            harness.Figure(
                f"native_vs_dgl_backend_b{bs}",
                "ratio",
                harness.ratios(t_native, t_dgl),
                target=1.0,
                note=f"native/DGL forward time, {crystals} sample crystals, 2 threads",
                extra={
                    "native_s": round(statistics.median(t_native), 3),
                    "dgl_s": round(statistics.median(t_dgl), 3),
                    "max_abs_pred_diff": diff,
                },
            )
        )
    return out


if __name__ == "__main__":
    harness.main(figures)
