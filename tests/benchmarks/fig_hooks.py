"""Issue 11 figure 2: the hooked capture pass vs the same pass without hooks.

    .venv/bin/python tests/benchmarks/fig_hooks.py [--quick]

Both sides collate the same crystals in batches of 16 and run alpha-tui's native
model under ``torch.no_grad``; the hooked side is ``alpha_tui.capture.run.capture``
(gate and layer hooks, text sources, per-atom statistics, the copy to numpy). The
crystals are every 7th of the sample (65), or every 14th with --quick, so one round
stays short; the ratio is per round, A and B alternated.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import torch  # noqa: E402
from sample_inputs import load_sample, windows  # noqa: E402

from alpha_tui.capture.run import CaptureInput, capture  # noqa: E402
from alpha_tui.data.batching import collate  # noqa: E402
from alpha_tui.model.build import build_model  # noqa: E402

LANE = "modern"
BATCH = 16
TARGET = 1.10


def figures(quick: bool) -> list[harness.Figure]:
    sample = load_sample()
    loaded = sample.loaded
    model = build_model(loaded.config, loaded.state_dict, backend="native").model
    picks = list(range(0, len(sample.ids), 14 if quick else 7))
    graphs = [sample.graphs[i] for i in picks]
    text = sample.text[picks]
    data = CaptureInput(
        [sample.ids[i] for i in picks],
        [sample.formulas[i] for i in picks],
        sample.targets[picks],
        graphs,
        text,
    )
    parts = windows(len(picks), BATCH)

    def plain() -> None:
        with torch.no_grad():
            for w in parts:
                model(collate(graphs[w], text[w]))

    def hooked() -> None:
        capture(model, data, batch_size=BATCH)

    t_hooked, t_plain = harness.alternate(hooked, plain, repeat=3 if quick else 7)
    return [
        harness.Figure(
            "hook_overhead_ratio", "x", harness.ratios(t_hooked, t_plain), TARGET, "<=",
            note=f"capture() / plain forward, {len(picks)} sample crystals, batch {BATCH}, "
            "native backend, collate included on both sides",
            extra={
                "crystals": len(picks),
                "hooked_s_median": round(sorted(t_hooked)[len(t_hooked) // 2], 4),
                "plain_s_median": round(sorted(t_plain)[len(t_plain) // 2], 4),
                "threads": torch.get_num_threads(),
            },
        )
    ]  # fmt: skip


if __name__ == "__main__":
    harness.main(figures)
