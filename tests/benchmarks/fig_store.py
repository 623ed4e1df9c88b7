"""Figures for issue 10 (store open) and issue 11 figure 6 (reduction switch), 1e6 atoms.

    .venv/bin/python tests/benchmarks/fig_store.py [--quick]

A synthetic store of 1,000,000 atoms x 256 float32 gate dims (1 GB of gates, 100,000
crystals; ``--quick``: 200,000 atoms) is written by the real ``write_store`` into a
temporary folder (deleted after) by ``store_bench.synthetic_store``, in a subprocess
with one BLAS thread so a shared machine's oversubscription does not stretch it.

* Open, and the cold switches, run in fresh processes: a "cold" switch is the first
  of a new session, right after open, with the background checksum thread running
  (as a user sees it). The store's pages are in the OS page cache then (it was just
  written); the ``*_dropped`` figures ask the kernel to drop them first
  (posix_fadvise DONTNEED on every file; the kernel may keep pages it cannot drop).
* A switch = ``alpha`` + ``stats`` + ``histogram`` of the new reduction, what the
  Overview and alpha panes draw; memoised = switching back to one already shown.
* The floor: ``g.mean(1)`` on the same gates in memory, alternated with a cold mean
  switch in one run (each round a fresh session, opened untimed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import harness
import numpy as np

ROOT = harness.ROOT
BENCH = Path(__file__).resolve().parent
LANE = "modern"
FUSION = "middle_fusion_modules.layer_2"

GENERATE = """
import sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from pathlib import Path
import store_bench
start = time.perf_counter()
store_bench.synthetic_store(Path(sys.argv[3]), int(sys.argv[4]), 256)
print(time.perf_counter() - start)
"""

PROBE = """
import time
t_exec = time.monotonic()
import json, sys
sys.path.insert(0, sys.argv[1])
def rss():
    with open('/proc/self/statm') as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20
from alpha_tui.store.reader import open_store
from alpha_tui.analysis.session import AnalysisSession
before = rss()
t0 = time.monotonic()
cache = open_store(sys.argv[2])
session = AnalysisSession(cache)
t1 = time.monotonic()
grown = rss() - before
fusion = cache.fusion_modules[0]
def switch(name):
    start = time.perf_counter()
    session.alpha(fusion, name)
    session.stats(fusion, name)
    session.histogram(fusion, name)
    return 1e3 * (time.perf_counter() - start)
order = sys.argv[4].split(",")
cold = {name: switch(name) for name in order}
memo = switch(order[0])
print(json.dumps({"open_s": t1 - t0, "exec_s": t1 - float(sys.argv[3]), "rss_mib": grown,
                  "cold": cold, "memo_ms": memo, "rss_after_mib": rss() - before}))
"""


def generate(folder: Path, atoms: int) -> float:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    argv = [sys.executable, "-c", GENERATE, str(ROOT), str(BENCH), str(folder), str(atoms)]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def drop_pages(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def probe(store: Path, order: list[str]) -> dict:
    argv = [sys.executable, "-c", PROBE, str(ROOT), str(store)]
    spawned = time.monotonic()
    out = subprocess.run(
        [*argv, repr(spawned), ",".join(order)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def fresh_switch_vs_floor(store: Path, repeat: int) -> tuple[list[float], list[float]]:
    """(cold mean switch s, g.mean(1) s) per round, the two run back to back, order swapped."""
    from alpha_tui.analysis.session import AnalysisSession
    from alpha_tui.store.reader import open_store

    gates = np.load(store / f"arrays/gates.{FUSION}.npy")  # in memory: the floor's input
    gates.mean(1)  # warm
    switch_s, floor_s = [], []
    for i in range(repeat):
        cache = open_store(store)
        session = AnalysisSession(cache)

        def switch(s=session) -> None:
            s.alpha(FUSION, "mean")
            s.stats(FUSION, "mean")
            s.histogram(FUSION, "mean")

        if i % 2 == 0:
            switch_s.append(harness.time_once(switch))
            cache.checks.wait()  # the background pass must not share the floor's cores
            floor_s.append(harness.time_once(lambda: gates.mean(1)))
        else:
            cache.checks.wait()
            floor_s.append(harness.time_once(lambda: gates.mean(1)))
            cache = open_store(store)
            session = AnalysisSession(cache)
            switch_s.append(harness.time_once(lambda s=session: (
                s.alpha(FUSION, "mean"), s.stats(FUSION, "mean"), s.histogram(FUSION, "mean")
            )))  # fmt: skip
            cache.checks.wait()
    return switch_s, floor_s


def computed_max(store: Path, repeat: int) -> list[float]:
    """The switch without precomputed values: chunked 2-thread pass over the mapped gates."""
    from dataclasses import replace

    from alpha_tui.analysis.session import AnalysisSession
    from alpha_tui.store.reader import open_store

    cache = open_store(store)
    cache.checks.wait()  # verified and in the page cache: the pass alone is timed
    times = []
    for _ in range(repeat):
        session = AnalysisSession(replace(cache, precomputed=None))
        times.append(harness.time_once(lambda s=session: s.stats(FUSION, "max")))
    return times


def hist_stats(values: np.ndarray, repeat: int) -> tuple[list[float], list[float]]:
    """(ms of the one-sort statistics + histogram, ratios to numpy's own calls, alternated).

    numpy's own: np.percentile for the five percentiles and np.histogram, with the
    same mean, std, min, max and shares (what alpha_stats did before the sort).
    """
    from alpha_tui.analysis.statistics import PERCENTILES, alpha_stats, histogram, sorted_values

    def one_sort() -> None:
        sv = sorted_values(values)
        alpha_stats(sv)
        histogram(sv, 40, (0.0, 1.0))

    def numpy_calls() -> None:
        v = values[np.isfinite(values)]
        np.percentile(v, PERCENTILES, method="linear")
        v.mean(), v.std(), v.min(), v.max(), (v < 0.3).mean(), (v > 0.7).mean()
        np.histogram(v, bins=40, range=(0.0, 1.0))

    ours, theirs = harness.alternate(one_sort, numpy_calls, repeat=repeat)
    return [1e3 * t for t in ours], harness.ratios(ours, theirs)


def figures(quick: bool) -> list[harness.Figure]:
    atoms = 200_000 if quick else 1_000_000
    repeat = 3 if quick else 5
    size = f"{atoms:,} atoms x 256"
    with tempfile.TemporaryDirectory(prefix="alpha-tui-fig-store-") as tmp:
        store = Path(tmp) / "synthetic"
        write_s = generate(store, atoms)
        orders = [["mean", "max"] if i % 2 == 0 else ["max", "mean"] for i in range(repeat)]
        warm = [probe(store, order) for order in orders]
        dropped = []
        for order in orders:
            drop_pages(store)
            dropped.append(probe(store, order))
        switch_s, floor_s = fresh_switch_vs_floor(store, repeat)
        computed = computed_max(store, max(2, repeat - 2))
        from alpha_tui.store.reader import open_store

        back = open_store(store, checksums=False)
        alpha_max = np.array(back.precomputed.values[FUSION]["max"])
        stats_ms, stats_ratio = hist_stats(alpha_max, repeat + 2)
    cache_note = "pages in the OS page cache (store just written)"
    drop_note = "pages dropped first (posix_fadvise DONTNEED, advisory)"
    return [
        harness.Figure(
            "store_open_s", "s", [w["open_s"] for w in warm], 1.0,
            note=f"open_store + AnalysisSession, fresh process, {size}; {cache_note}; "
            "index arrays hashed at open, the rest in a background thread",
            extra={"write_s": round(write_s, 1)},
        ),
        harness.Figure(
            "store_open_exec_s", "s", [w["exec_s"] for w in warm],
            note="from the parent's exec of python to open_store returned (imports included)",
        ),
        harness.Figure(
            "store_open_dropped_s", "s", [d["open_s"] for d in dropped], note=drop_note
        ),
        harness.Figure(
            "store_open_rss_mib", "MiB", [w["rss_mib"] for w in warm], 200.0,
            note="resident memory growth over open (after imports)",
            extra={"after_two_switches_mib": round(max(w["rss_after_mib"] for w in warm), 1)},
        ),
        harness.Figure(
            "reduction_cold_ms_mean", "ms", [w["cold"]["mean"] for w in warm], 150.0,
            note=f"first switch of a fresh session (alpha+stats+histogram); {cache_note}; "
            "read from the precomputed file, its SHA-256 checked first",
        ),
        harness.Figure(
            "reduction_cold_ms_max", "ms", [w["cold"]["max"] for w in warm], 150.0,
            note=f"as the mean; {cache_note}",
        ),
        harness.Figure(
            "reduction_cold_dropped_ms_mean", "ms", [d["cold"]["mean"] for d in dropped],
            note=drop_note,
        ),
        harness.Figure(
            "reduction_cold_dropped_ms_max", "ms", [d["cold"]["max"] for d in dropped],
            note=drop_note,
        ),
        harness.Figure(
            "reduction_memo_ms", "ms", [w["memo_ms"] for w in warm], 10.0,
            note="switching back to a reduction already shown (memoised)",
        ),
        harness.Figure(
            "hist_stats_ms", "ms", stats_ms, 50.0,
            note="alpha_stats + 40-bin histogram of a 1e6 float64 vector (one sort)"
            if not quick
            else "alpha_stats + histogram of a 2e5 vector (quick)",
        ),
        harness.Figure(
            "hist_stats_ratio_to_numpy", "x", stats_ratio,
            note="the same statistics and histogram via np.percentile + np.histogram, "
            "alternated in one run",
        ),
        harness.Figure(
            "reduction_ratio_to_numpy_mean", "x", harness.ratios(switch_s, floor_s),
            note="cold mean switch / numpy g.mean(1) on the same gates in memory, "
            "alternated in one run",
            extra={"floor_ms": round(1e3 * float(np.median(floor_s)), 1)},
        ),
        harness.Figure(
            "reduction_computed_ms_max", "ms", [1e3 * t for t in computed],
            note="max computed from the mapped gates (no precomputed file), 2 threads, "
            "pages cached and verified",
        ),
    ]  # fmt: skip


if __name__ == "__main__":
    harness.main(figures)
