"""Issue 11 figure 1, modern lane: the shipped native forward's rate and share of the roof.

    .venv/bin/python tests/benchmarks/fig_native_forward.py [--quick]

The DGL lane (fig_forward.py) compares native with the users' DGL forward on torch
2.2.1; this module measures the native forward on the torch alpha-tui installs (2.13),
over every 3rd sample crystal (every 7th with --quick) at batch 16 and 64. Each round
times one forward pass and then one matmul-roof measurement (flops.matmul_peak at the
batches' bond and triplet row counts), so both see the same machine load.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import torch  # noqa: E402
from flops import BatchSize, linear_flops, matmul_peak  # noqa: E402
from sample_inputs import batch_counts, load_sample, native_batches  # noqa: E402

from alpha_tui.model.build import build_model  # noqa: E402

LANE = "modern"


def figures(quick: bool) -> list[harness.Figure]:
    stride, repeat = (7, 3) if quick else (3, 5)
    sample = load_sample().every(stride)
    model = build_model(sample.loaded.config, sample.loaded.state_dict, backend="native").model
    width = sample.loaded.config.hidden_features
    threads = torch.get_num_threads()
    out: list[harness.Figure] = []
    for size in (16, 64):
        batches = native_batches(sample, size)
        counts = [batch_counts(b) for b in batches]
        flops = sum(linear_flops(model, BatchSize(*c)) for c in counts)
        rows = [max(c[2] for c in counts), *sorted({c[3] for c in counts})[-3:]]
        peaks: list[float] = []

        def forward(batches=batches) -> None:
            with torch.no_grad():
                for batch in batches:
                    model(batch)

        times, _ = harness.alternate(
            forward, lambda rows=rows, peaks=peaks: peaks.extend(matmul_peak(rows, width, 1)),
            repeat=repeat,
        )  # fmt: skip
        peaks = peaks[-repeat:]
        out.append(
            harness.Figure(
                f"native_forward_crystals_per_s_b{size}", "crystals/s",
                [len(sample.ids) / t for t in times],
                note=f"{len(sample.ids)} sample crystals (every {stride}th), gap_fusion2.pt, "
                f"{threads} threads, no hooks, no_grad",
                extra={"linear_gflop_per_pass": round(flops / 1e9, 3)},
            )
        )  # fmt: skip
        out.append(
            harness.Figure(
                f"native_forward_peak_fraction_b{size}", "fraction",
                [flops / t / 1e9 / p for t, p in zip(times, peaks, strict=True)], 0.40, ">=",
                note="Linear FLOPs (flops.py) / forward time, over the matmul roof measured "
                "right after each pass",
                extra={"matmul_peak_gflops_median": round(sorted(peaks)[len(peaks) // 2], 1)},
            )
        )  # fmt: skip
    out.append(elementwise_per_matmul(rows[-1], width, repeat))
    return out


def elementwise_per_matmul(n: int, width: int, repeat: int) -> harness.Figure:
    """One memory-bound pass over [n, width] (a sigmoid) against the [n, width] x
    [width, width] matmul on the same rows: the conv makes several such passes per
    Linear over the triplets (gathers, the gate, products, scatter, batch norm, SiLU,
    residual), so this ratio bounds the share of the roof an unfused forward can reach."""
    a, w = torch.randn(n, width), torch.randn(width, width)
    t_pass, t_mm = harness.alternate(
        lambda: torch.sigmoid(a), lambda: torch.mm(a, w), repeat=max(repeat, 5)
    )
    return harness.Figure(
        "native_elementwise_per_matmul", "x", harness.ratios(t_pass, t_mm),
        note=f"time of torch.sigmoid on [{n}, {width}] / torch.mm [{n}, {width}] x "
        f"[{width}, {width}] (the largest batch's triplet rows)",
    )  # fmt: skip


if __name__ == "__main__":
    harness.main(figures)
