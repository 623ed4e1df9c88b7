"""How far predictions move when the text is normalized as in training (issue 8, part 4).

Usage: PYTHONPATH=. python tests/benchmarks/text_normalization_shift.py VOCAB_MAPPINGS [CKPT ...]
Encodes the bundled sample's descriptions with the bundled MiniLM twice, raw
(``--text-normalize none``) and with the users' normalization (``sage``), and prints
max / mean / median |prediction difference| per checkpoint. A figure, not a test.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from alpha_tui.capture.pipeline import RunOptions, run_pipeline
from alpha_tui.data.text_embeddings import bundled_minilm_dir

REPO = Path(__file__).resolve().parents[2]
DEFAULT = ["gap_fusion2.pt", "gap_fusion23_diverse.pt"]


def shift(checkpoint: Path, mappings: Path, cache_dir: Path) -> np.ndarray:
    preds = []
    for mode in ("none", "sage"):
        options = RunOptions(
            checkpoint=checkpoint,
            text_encoder=bundled_minilm_dir(),
            text_normalize=mode,
            vocab_mappings=mappings,
            cache_dir=cache_dir,
        )
        preds.append(run_pipeline(options).predictions)
    return np.abs(preds[0] - preds[1])


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    mappings = Path(argv[0])
    names = argv[1:] or DEFAULT
    with tempfile.TemporaryDirectory() as cache_dir:
        for name in names:
            d = shift(REPO / "sample_checkpoints" / name, mappings, Path(cache_dir))
            print(
                f"{name}: n={d.size} max={d.max():.4f} mean={d.mean():.4f} "
                f"median={np.median(d):.4f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
