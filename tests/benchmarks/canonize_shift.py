"""How far the numbers move between canonized and uncanonized graphs (README, graphs).

Usage: PYTHONPATH=. python tests/benchmarks/canonize_shift.py [CKPT ...]
Captures the bundled sample twice, with jarvis ``use_canonize=True`` (as the users
trained) and ``False`` (as their extraction scripts built graphs), and prints, per fusion
module, the largest change of a single gate value and of a per-atom mean alpha, and the
prediction changes (max, median, largest relative change where |prediction| > 0.5).
A figure, not a test.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from alpha_tui.capture.pipeline import RunOptions, run_pipeline

REPO = Path(__file__).resolve().parents[2]
DEFAULT = ["gap_fusion2.pt"]


def report(checkpoint: Path, cache_dir: Path) -> list[str]:
    on, off = (
        run_pipeline(RunOptions(checkpoint=checkpoint, graph_canonize=c, cache_dir=cache_dir))
        for c in (True, False)
    )
    # the graphs differ, never the atoms: rows line up one to one
    assert on.crystal_ids == off.crystal_ids
    assert np.array_equal(on.atomic_numbers, off.atomic_numbers)
    lines = [f"{checkpoint.name}: {len(on.crystal_ids)} crystals, {len(on.atomic_numbers)} atoms"]
    for fusion in on.fusion_modules:
        a, b = on.gates[fusion].astype(np.float64), off.gates[fusion].astype(np.float64)
        lines.append(
            f"  {fusion}: single gate value max |d| {np.abs(a - b).max():.4f}, "
            f"per-atom mean alpha max |d| {np.abs(a.mean(1) - b.mean(1)).max():.4f}"
        )
    if on.predictions is not None and off.predictions is not None:
        d = np.abs(on.predictions - off.predictions)
        big = np.abs(on.predictions) > 0.5
        rel = (d[big] / np.abs(on.predictions[big])).max() if big.any() else float("nan")
        lines.append(
            f"  predictions: max |d| {d.max():.4f}, median {np.median(d):.5f}, "
            f"max relative where |prediction| > 0.5: {rel:.1%}"
        )
    return lines


def main(argv: list[str]) -> int:
    names = argv or DEFAULT
    with tempfile.TemporaryDirectory() as cache_dir:
        for name in names:
            print("\n".join(report(REPO / "sample_checkpoints" / name, Path(cache_dir))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
