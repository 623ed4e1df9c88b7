"""``torchrun --nproc_per_node=2 -m alpha_tui extract`` (gloo, CPU) equals one process, bit for bit.

Both runs use one BLAS thread per process (torchrun sets OMP_NUM_THREADS=1): matmul
results depend on the thread split, so a bitwise comparison needs equal thread counts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_checkpoints" / "gap_fusion2.pt"
TORCHRUN = Path(sys.executable).parent / "torchrun"
ARGS = ["extract", str(SAMPLE), "--limit", "12", "--batch-size", "4", "--backend", "native"]

pytestmark = [
    pytest.mark.skipif(not SAMPLE.is_file(), reason="bundled sample checkpoint absent"),
    pytest.mark.skipif(shutil.which(str(TORCHRUN)) is None, reason="torchrun not installed"),
]


def test_two_process_extract_equals_one_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cache = ["--cache-dir", str(tmp_path / "cache")]
    one, two = tmp_path / "one", tmp_path / "two"
    subprocess.run(
        [sys.executable, "-m", "alpha_tui", *ARGS, *cache, "--out", str(one)],
        env=env, cwd=ROOT, check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    done = subprocess.run(
        [str(TORCHRUN), "--standalone", "--nproc_per_node=2", "-m", "alpha_tui", *ARGS, *cache,
         "--out", str(two)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("wrote ") == 1  # rank 0 alone writes the store
    assert not list(tmp_path.glob(".shards-*")) and not list(tmp_path.glob(".partial-*"))
    ma = json.loads((one / "manifest.json").read_text())
    mb = json.loads((two / "manifest.json").read_text())
    assert sorted(ma["files"]) == sorted(mb["files"])
    arrays = [n for n in ma["files"] if n.endswith(".npy")]
    assert len(arrays) > 20
    for name in arrays:
        a, b = np.load(one / name), np.load(two / name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert a.tobytes() == b.tobytes(), name  # bit for bit, same order
    meta_a, meta_b = ma["fields"].pop("meta"), mb["fields"].pop("meta")
    assert ma["fields"] == mb["fields"]  # ids, formulas, layers, sources, flows' widths
    assert meta_b["notes"] == [*meta_a["notes"], meta_b["notes"][-1]]
    assert "2 processes" in meta_b["notes"][-1]
    assert {k: v for k, v in meta_a.items() if k != "notes"} == {
        k: v for k, v in meta_b.items() if k != "notes"
    }
    assert ma["counts"] == mb["counts"] and ma["counts"]["crystals"] == 12
