"""Cost of the text-effect re-runs against one capture pass, run by command, not pytest.

    .venv/bin/python tests/benchmarks/text_effect.py [--checkpoint CKPT] [--limit N]

Times, in one process on the same model and graphs: the hooked capture pass, and the
five counterfactual conditions at each fusion module (prefix once per batch, suffix per
condition). Counts the FLOPs of the prefix and of the suffix on every batch with
torch's FlopCounterMode: the suffix share s is the floor of this design, whose cost
is (1 - s) + 5 s of an unhooked forward pass.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from alpha_tui.capture.patching import (  # noqa: E402
    ModelHandle,
    fusion_index,
    run_prefix,
    run_suffix,
    run_text_effect,
)
from alpha_tui.capture.pipeline import RunOptions, run_pipeline  # noqa: E402
from alpha_tui.capture.run import capture  # noqa: E402
from alpha_tui.data.batching import collate  # noqa: E402


def flops(fn) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return int(counter.get_total_flops())


def suffix_share(handle: ModelHandle, fusion: str) -> float:
    """FLOPs after the fusion point / FLOPs of the whole forward, over every batch."""
    model, data = handle.model, handle.data
    k = fusion_index(model, fusion)
    prefix_total = suffix_total = 0
    with torch.no_grad():
        for start in range(0, len(data.ids), handle.batch_size):
            stop = start + handle.batch_size
            batch = collate(data.graphs[start:stop], data.text[start:stop])
            holder: dict = {}

            def prefix(b=batch, h=holder) -> None:
                h["state"] = run_prefix(model, b, k)

            def suffix(h=holder) -> None:
                run_suffix(model, h["state"], k, h["state"].text64)

            prefix_total += flops(prefix)
            suffix_total += flops(suffix)
    return suffix_total / (prefix_total + suffix_total)


def main() -> int:
    parser = argparse.ArgumentParser()
    default = ROOT / "sample_checkpoints" / "gap_fusion2.pt"
    parser.add_argument("--checkpoint", type=Path, default=default)
    parser.add_argument("--limit", type=int)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    handles: list[ModelHandle] = []
    options = RunOptions(checkpoint=args.checkpoint, limit=args.limit, batch_size=args.batch_size)
    cache = run_pipeline(options, on_model=handles.append)
    handle = handles[0]
    started = time.perf_counter()
    capture(handle.model, handle.data, batch_size=args.batch_size, device=handle.device)
    capture_s = time.perf_counter() - started
    print(f"{args.checkpoint.name}: {cache.n_crystals} crystals, capture pass {capture_s:.1f} s")
    for fusion in cache.fusion_modules:
        run = run_text_effect(handle, cache, fusion)
        share = suffix_share(handle, fusion)
        floor = (1 - share) + 5 * share
        print(
            f"  {fusion}: 5 conditions {run.seconds:.1f} s = {run.seconds / capture_s:.2f}x "
            f"capture; suffix FLOP share {share:.3f} (design floor {floor:.2f}x a forward)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
