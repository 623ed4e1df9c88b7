"""Where the forward time goes: torch.profiler top ops, native vs the DGL reference.

    DGLBACKEND=pytorch .venv-dgl/bin/python tests/benchmarks/profile_forward.py [--batch 64]
    .venv/bin/python tests/benchmarks/profile_forward.py --side native   # no DGL needed

Profiles one no_grad forward of fig_forward's timed crystals (every 7th of the
sample, 64) in batches of ``--batch``, after a warm-up pass, and prints each side's
top operators by self CPU time with their share of that side's total. Not a figure:
a guide for optimising the native forward.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("DGLBACKEND", "pytorch")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402, F401  (puts the repository root on sys.path)
import torch  # noqa: E402
from sample_inputs import load_sample, windows  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from alpha_tui.data.batching import collate  # noqa: E402
from alpha_tui.model.build import build_model  # noqa: E402

STRIDE, TIMED = 7, 64


def top_ops(run, rows: int) -> tuple[float, list[tuple[str, float, int]]]:
    """(total self CPU ms, [(op, share of total, calls)]) of one profiled ``run()``."""
    run()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        run()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    top = [(e.key, e.self_cpu_time_total / total, e.count) for e in events[:rows]]
    return total / 1000, top


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--side", choices=("native", "dgl", "both"), default="both")
    parser.add_argument("--rows", type=int, default=12)
    args = parser.parse_args()
    sample = load_sample()
    picks = list(range(0, len(sample.ids), STRIDE))[:TIMED]
    graphs, text = [sample.graphs[i] for i in picks], sample.text[picks]
    parts = windows(len(picks), args.batch)
    loaded = sample.loaded
    sides = {}
    if args.side in ("native", "both"):
        model = build_model(loaded.config, loaded.state_dict, backend="native").model
        ours = [collate(graphs[w], text[w]) for w in parts]

        def native() -> None:
            with torch.no_grad():
                for batch in ours:
                    model(batch)

        sides["native"] = native
    if args.side in ("dgl", "both"):
        from dgl_reference import dgl_batch, load_reference

        reference = load_reference(loaded.state_dict)
        theirs = [(*dgl_batch(graphs[w]), torch.from_numpy(text[w])) for w in parts]

        def dgl_side() -> None:
            with torch.no_grad():
                for g, lg, t in theirs:
                    reference(g, lg, t)

        sides["dgl"] = dgl_side
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}")
    for name, run in sides.items():
        total, top = top_ops(run, args.rows)
        print(f"\n{name}: {total:.0f} ms self CPU")
        for op, share, calls in top:
            print(f"  {share * 100:5.1f}%  {calls:6d}  {op}")


if __name__ == "__main__":
    main()
