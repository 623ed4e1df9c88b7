"""Does batching crystals of similar triplet counts raise the forward's share of the roof?

    PYTHONPATH=. .venv/bin/python tests/benchmarks/triplet_batching_probe.py [--stride 3]

Same crystals, same batch size, two orders: the sample's order and sorted by triplet
count (so each batch holds crystals of similar line-graph size). Linear FLOPs are a
sum over rows, so both orders do the same FLOPs and the time ratio is the ratio of
peak fractions. The two orders are alternated in one run (harness.alternate). A probe
for the closing note, not a figure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402
import torch  # noqa: E402
from sample_inputs import load_sample, windows  # noqa: E402

from alpha_tui.data.batching import collate  # noqa: E402
from alpha_tui.model.build import build_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stride", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    sample = load_sample()
    keep = list(range(0, len(sample.ids), args.stride))
    triplets = {i: int(sample.graphs[i].lg_src.shape[0]) for i in keep}
    by_size = sorted(keep, key=triplets.__getitem__)
    model = build_model(sample.loaded.config, sample.loaded.state_dict, backend="native").model

    def batches(order: list[int]):
        return [
            collate([sample.graphs[i] for i in order[w]], sample.text[order[w]])
            for w in windows(len(order), args.batch)
        ]

    plain, grouped = batches(keep), batches(by_size)

    def run(parts):
        def forward() -> None:
            with torch.no_grad():
                for batch in parts:
                    model(batch)

        return forward

    t_plain, t_grouped = harness.alternate(run(plain), run(grouped), repeat=args.repeat)
    spread = [max(b.lg_src.shape[0] for b in p) / min(b.lg_src.shape[0] for b in p)
              for p in (plain, grouped)]  # fmt: skip
    print(json.dumps({
        "crystals": len(keep), "batch": args.batch, "threads": torch.get_num_threads(),
        "plain_s": statistics.median(t_plain), "grouped_s": statistics.median(t_grouped),
        "speedup_grouped": statistics.median(harness.ratios(t_plain, t_grouped)),
        "batch_triplets_max_over_min": {"plain": spread[0], "grouped": spread[1]},
    }))  # fmt: skip


if __name__ == "__main__":
    main()
