"""The forward benchmark's Linear FLOP count against a count written out by hand."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "benchmarks"))

from flops import BatchSize, linear_flops  # noqa: E402

from alpha_tui.checkpoint.loader import load_checkpoint  # noqa: E402
from alpha_tui.model.build import build_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def hand_count(b: int, n: int, e: int, t: int, fusion_layers: int) -> int:
    """gap_fusion2-shaped model (H 256, P 64, text 384): 2*in*out per row per Linear."""
    h, p, hh = 256, 64, 2 * 256 * 256
    embed = 2 * 92 * h * n + 2 * (80 * 64 + 64 * h) * e + 2 * (40 * 64 + 64 * h) * t
    alignn = 4 * ((4 * hh * n + hh * e) + (4 * hh * e + hh * t))
    gcn = 4 * (4 * hh * n + hh * e)
    fusion = fusion_layers * (2 * (p * 128 + 128 * h) * b + 2 * (2 * h * h) * n)
    heads = 2 * (384 * p + p * p) * b + 2 * (h * p + p * p) * b
    cross = 6 * 2 * p * 256 * b + 2 * 2 * 256 * p * b
    late = 2 * p * p * b + 2 * p * 1 * b
    return embed + alignn + gcn + fusion + heads + cross + late


def test_linear_flops_match_hand_count() -> None:
    for name, fusion in (("gap_fusion2.pt", 1), ("gap_fusion23_diverse.pt", 2)):
        loaded = load_checkpoint(ROOT / "sample_checkpoints" / name)
        model = build_model(loaded.config, loaded.state_dict, backend="native").model
        # distinct primes, so a Linear counted on the wrong rows changes the total
        size = BatchSize(crystals=3, atoms=11, bonds=101, triplets=1009)
        assert linear_flops(model, size) == hand_count(3, 11, 101, 1009, fusion)
