"""Issue 11 figure 1, modern lane: native forward rate and its share of the matmul roof.

    .venv/bin/python tests/benchmarks/fig_native_forward.py [--quick]

Rates are over the first crystals of the bundled sample (192, or 64 with --quick) at
batch 16 and 64, with torch on 2 threads. The peak fraction alternates one forward pass
with a matmul-roof measurement, round by round, so both see the same machine load.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from tests.benchmarks import harness  # noqa: E402
from tests.benchmarks.forward_common import (  # noqa: E402
    conv_flops,
    forward_all,
    load_model,
    matmul_peak,
    sample_batches,
)

LANE = "modern"


def figures(quick: bool) -> list[harness.Figure]:
    torch.set_num_threads(2)
    crystals, repeat = (64, 3) if quick else (192, 5)
    model = load_model("native")
    cfg = model.config
    out: list[harness.Figure] = []
    for bs in (16, 64):
        batches = sample_batches(crystals, bs)
        count = sum(b.num_crystals for b in batches)
        flops = conv_flops(batches, cfg.hidden_features, cfg.alignn_layers, cfg.gcn_layers)
        peaks: list[float] = []
        times, _ = harness.alternate(
            lambda batches=batches: forward_all(model, batches),
            lambda peaks=peaks: peaks.append(matmul_peak()),
            repeat=repeat,
        )
        peaks = peaks[-repeat:]
        out.append(
            harness.Figure(
                f"native_forward_crystals_per_s_b{bs}",
                "crystals/s",
                [count / t for t in times],
                note=f"first {count} sample crystals, gap_fusion2.pt, 2 threads, no hooks",
                extra={"gflop_per_pass": round(flops / 1e9, 2)},
            )
        )
        if bs == 64:
            out.append(
                harness.Figure(
                    "native_forward_peak_fraction_b64",
                    "fraction",
                    [flops / t / 1e9 / p for t, p in zip(times, peaks, strict=True)],
                    target=0.40,
                    direction=">=",
                    note="conv Linear FLOPs / forward time, over a 2048^3 float32 matmul rate",
                    extra={"matmul_peak_gflops": round(sorted(peaks)[len(peaks) // 2], 1)},
                )
            )
    return out


if __name__ == "__main__":
    harness.main(figures)
