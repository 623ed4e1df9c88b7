"""Figures for the activation store, run by command, not by pytest.

    .venv/bin/python tests/benchmarks/store_bench.py [--atoms 1000000] [--hidden 256]

1. The bundled sample: ``alpha-tui report --json`` from a fresh capture against the
   same command served from the automatic store (wall time of the whole process).
2. A synthetic store of ``--atoms`` x ``--hidden`` float32 gates: time and resident
   memory growth to open it (size checks only, and with SHA-256 verification), in a
   fresh process, then one reduction switch (``max``) on the memory-mapped gates.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

OPEN_PROBE = """
import json, sys, time
t0 = time.perf_counter()
def rss():
    with open('/proc/self/statm') as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20
from alpha_tui.store.reader import open_store
from alpha_tui.analysis.session import AnalysisSession
before = rss()
t1 = time.perf_counter()
cache = open_store(sys.argv[1], checksums=sys.argv[2] == '1')
session = AnalysisSession(cache)
t2 = time.perf_counter()
grown = rss() - before
fusion = cache.fusion_modules[0]
t3 = time.perf_counter()
session.stats(fusion, 'max')
t4 = time.perf_counter()
print(json.dumps({'open_s': t2 - t1, 'rss_growth_mib': grown, 'reduction_s': t4 - t3,
                  'imports_s': t1 - t0, 'torch': 'torch' in sys.modules}))
"""


def run(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def sample_figures(cache_dir: Path) -> dict[str, float]:
    report = [sys.executable, "-m", "alpha_tui", "report", "--json", "--cache-dir", str(cache_dir)]
    capture = run([*report, "--recapture"])
    reopen = min(run(report) for _ in range(3))
    return {"capture_s": capture, "reopen_s": reopen, "speedup": capture / reopen}


def synthetic_store(path: Path, atoms: int, hidden: int) -> None:
    from alpha_tui.capture.cache import ActivationCache
    from alpha_tui.store.writer import write_store

    rng = np.random.default_rng(0)
    counts = np.full(atoms // 10, 10, dtype=np.int64)
    n = len(counts)
    fusion = "middle_fusion_modules.layer_2"
    gates = np.empty((atoms, hidden), np.float32)
    for start in range(0, atoms, 65536):  # chunked: no float64 temporary of 2 GB
        stop = min(start + 65536, atoms)
        gates[start:stop] = rng.random((stop - start, hidden), dtype=np.float32)
    cache = ActivationCache(
        crystal_ids=[f"c{i}" for i in range(n)],
        formulas=["X"] * n,
        targets=rng.normal(size=n),
        atom_counts=counts,
        text_projection=rng.normal(size=(n, 64)).astype(np.float32),
        atom_crystal=np.repeat(np.arange(n, dtype=np.int32), counts),
        atomic_numbers=rng.integers(1, 90, atoms).astype(np.int16),
        fusion_modules=[fusion],
        gates={fusion: gates},
        text_transform={fusion: rng.normal(size=(n, hidden)).astype(np.float32)},
        fusion_input_norm={fusion: rng.random(atoms, dtype=np.float32)},
        layers=[],
        layer_norms={},
        text_sources=[],
        flows={},
        null_permutation=None,
        predictions=rng.normal(size=n),
        meta={"device": "synthetic"},
    )
    write_store(cache, path, tables=False)


def open_figures(path: Path, checksums: bool) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", OPEN_PROBE, str(path), "1" if checksums else "0"],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    return json.loads(out)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--atoms", type=int, default=1_000_000)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--skip-sample", action="store_true")
    args = parser.parse_args()
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_sample:
            results["sample"] = sample_figures(Path(tmp) / "cache")
        store = Path(tmp) / "synthetic"
        start = time.perf_counter()
        synthetic_store(store, args.atoms, args.hidden)
        results["synthetic_write_s"] = time.perf_counter() - start
        results["synthetic_open"] = open_figures(store, checksums=False)
        results["synthetic_open_verified"] = open_figures(store, checksums=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
