"""Issue 11 figure 1: alpha-tui's native forward vs the users' DGL forward, and % of peak.

    DGLBACKEND=pytorch .venv-dgl/bin/python tests/benchmarks/fig_forward.py [--quick]

Both sides get the same crystals with the same weights (gap_fusion2.pt), graphs built
once and collated once per side (alpha-tui's ``collate`` / ``dgl.batch``), eval mode,
``torch.no_grad``, no hooks. Before any timing the two forwards must agree on every
prediction and every gate of the sample (all 455 crystals; the timed subset with
--quick), else the module exits non-zero. The timed subset is every 7th sample
crystal, 64 of them (one batch of 64, four of 16), so a round stays a few seconds;
--quick takes 32 (its "b64" figures are then one batch of all 32, said in the note).
GFLOP/s counts Linear FLOPs only (flops.py) against the best ``torch.mm`` rate at the
batch's bond and triplet row counts x [256, 256] on this process's threads.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import torch  # noqa: E402
from dgl_reference import dgl_batch  # noqa: E402
from flops import BatchSize, linear_flops, matmul_peak  # noqa: E402
from reference_check import compare, model_pair  # noqa: E402
from sample_inputs import SampleInputs, batch_counts, load_sample, windows  # noqa: E402

from alpha_tui.data.batching import collate  # noqa: E402

LANE = "dgl"
STRIDE, TIMED, QUICK_TIMED = 7, 64, 32
PEAK_TARGET = 0.40


def check_agreement(sample: SampleInputs) -> str:
    found = compare(sample)
    line = (
        f"{found.crystals} crystals: prediction |diff| {found.pred_abs:.1e} "
        f"({found.pred_range_rel:.1e} of the largest |prediction|, {found.pred_rel:.1e} "
        f"per-crystal relative), gate |diff| {found.gate_abs:.1e} over {found.gates_compared}"
    )
    if not found.ok:
        raise SystemExit(f"native and DGL reference disagree, not timing: {line}")
    return line


def figures(quick: bool) -> list[harness.Figure]:
    sample = load_sample()
    timed = sample.every(STRIDE, QUICK_TIMED if quick else TIMED)
    agreement = check_agreement(timed if quick else sample)
    loaded = sample.loaded
    native, reference = model_pair(loaded)
    repeat = 3 if quick else 5
    threads = torch.get_num_threads()
    out: list[harness.Figure] = []
    bonds: list[int] = []
    triplets: list[int] = []
    per_size = {}
    for size in (16, 64):
        parts = windows(len(timed.ids), size)
        ours = [collate(timed.graphs[w], timed.text[w]) for w in parts]
        theirs = [(*dgl_batch(timed.graphs[w]), torch.from_numpy(timed.text[w])) for w in parts]
        flops = sum(linear_flops(native, BatchSize(*batch_counts(b))) for b in ours)
        bonds += [b.num_edges for b in ours]
        triplets += [batch_counts(b)[3] for b in ours]

        def run_native(ours=ours) -> None:
            with torch.no_grad():
                for batch in ours:
                    native(batch)

        def run_dgl(theirs=theirs) -> None:
            with torch.no_grad():
                for g, lg, text in theirs:
                    reference(g, lg, text)

        t_native, t_dgl = harness.alternate(run_native, run_dgl, repeat=repeat)
        per_size[size] = (flops, t_native, t_dgl, len(ours), max(b.num_crystals for b in ours))
    rows = [max(bonds), *sorted(set(triplets))[-3:]]
    peak = matmul_peak(rows, loaded.config.hidden_features, repeat)
    best_peak = max(peak)
    out.append(
        harness.Figure(
            "forward_matmul_peak", "GFLOP/s", peak,
            note=f"torch.mm [n,256]x[256,256], n in {rows} (the timed batches' largest bond "
            f"count and triplet counts), best of 3 per trial, {threads} threads",
        )
    )  # fmt: skip
    for size, (flops, t_native, t_dgl, n_batches, largest) in per_size.items():
        extra = {
            "crystals": len(timed.ids),
            "batches": n_batches,
            "linear_gflop_per_pass": round(flops / 1e9, 3),
            "native_s_median": round(sorted(t_native)[len(t_native) // 2], 4),
            "dgl_s_median": round(sorted(t_dgl)[len(t_dgl) // 2], 4),
            "threads": threads,
        }
        out.append(
            harness.Figure(
                f"forward_ratio_b{size}", "x", harness.ratios(t_native, t_dgl), 1.0, "<=",
                note=f"native / DGL reference time, batch {size} ({n_batches} of <= {largest}), "
                f"{len(timed.ids)} sample crystals, no hooks, no_grad; agreement checked "
                f"first on {agreement}",
                extra=extra,
            )
        )  # fmt: skip
        gflops = [flops / t / 1e9 for t in t_native]
        out.append(
            harness.Figure(
                f"forward_gflops_b{size}", "GFLOP/s", gflops,
                note="native forward, Linear FLOPs over atoms, bonds and triplets / time",
                extra={"linear_gflop_per_pass": extra["linear_gflop_per_pass"]},
            )
        )  # fmt: skip
        out.append(
            harness.Figure(
                f"forward_peak_fraction_b{size}", "fraction", [r / best_peak for r in gflops],
                PEAK_TARGET, ">=",
                note=f"forward_gflops_b{size} / forward_matmul_peak ({best_peak:.1f} GFLOP/s)",
            )
        )  # fmt: skip
    return out


if __name__ == "__main__":
    harness.main(figures)
