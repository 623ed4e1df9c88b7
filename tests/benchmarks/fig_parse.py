"""Issue 11 figure 4: reading a dataset's CIFs in one process vs two worker processes.

Cold parsing only: no graph cache, so every CIF is parsed, validated and reduced to its
primitive cell. A and B are ``read_dataset`` on the same folder with ``workers=1`` (in
this process) and ``workers=2`` (the parse pool), alternated; the records of the last
A and B runs are checked identical (ids, problems, lattices, coordinates) before any
figure is reported. The bigger set is the sample copied three times under new ids (1,365 CIFs).

The pool's fork server (it imports jarvis once per session) is started and timed
first, so the ratios are of warm sessions; its start-up is its own figure.
"""

from __future__ import annotations

import csv
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import harness
import numpy as np

from alpha_tui.data import parse_pool
from alpha_tui.data.dataset import Dataset, read_dataset
from alpha_tui.data.parse_pool import MIN_POOL_ITEMS, iter_parsed

LANE = "modern"
SAMPLE = harness.ROOT / "sample_checkpoints" / "sample_data" / "bandgap"
QUICK_CRYSTALS = 200
CPU_CRYSTALS = 100
COPIES = 3  # 4 copies would take the module past its 3-minute budget


def _sample_rows() -> tuple[list[str], list[list[str]]]:
    with (SAMPLE / "description.csv").open(newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def _write(folder: Path, header: list[str], rows: list[list[str]]) -> Path:
    with (folder / "description.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return folder


def subset(folder: Path, n: int) -> Path:
    """The first ``n`` sample rows, reading the sample's own cif/ folder."""
    header, rows = _sample_rows()
    folder.mkdir(parents=True)
    (folder / "cif").symlink_to(SAMPLE / "cif")
    return _write(folder, header, rows[:n])


def repeated(folder: Path, copies: int) -> Path:
    """The sample ``copies`` times, each copy's files under new ids (``<id>-r<k>``)."""
    header, rows = _sample_rows()
    cifs = folder / "cif"
    cifs.mkdir(parents=True)
    out = []
    for k in range(copies):
        for row in rows:
            rid = f"{row[0]}-r{k}"
            shutil.copyfile(SAMPLE / "cif" / f"{row[0]}.cif", cifs / f"{rid}.cif")
            out.append([rid, *row[1:]])
    return _write(folder, header, out)


def check_identical(a: Dataset, b: Dataset) -> None:
    if [r.id for r in a.records] != [r.id for r in b.records]:
        raise SystemExit("pool and in-process runs read different crystals")
    if [str(p) for p in a.problems] != [str(p) for p in b.problems]:
        raise SystemExit("pool and in-process runs list different problems")
    for x, y in zip(a.records, b.records, strict=True):
        same = (
            x.atoms.elements == y.atoms.elements
            and np.array_equal(x.atoms.lattice_mat, y.atoms.lattice_mat)
            and np.array_equal(x.atoms.frac_coords, y.atoms.frac_coords)
        )
        if not same:
            raise SystemExit(f"pool and in-process structures differ for {x.id}")


def compare(folder: Path, repeat: int, label: str) -> list[harness.Figure]:
    last: dict[str, Dataset] = {}

    def one() -> None:
        last["a"] = read_dataset(folder, workers=1)

    def pool() -> None:
        last["b"] = read_dataset(folder, workers=2)

    t1, t2 = harness.alternate(one, pool, repeat=repeat, warmup=0)
    check_identical(last["a"], last["b"])
    n = len(last["a"].records) + len(last["a"].problems)
    note = f"{n} CIFs, read_dataset without graph cache, workers=1 vs workers=2"
    figures = [
        harness.Figure(
            name=f"parse_speedup_2workers{label}",
            unit="x",
            samples=harness.ratios(t1, t2),
            target=1.7,
            direction=">=",
            note=note,
            extra={"crystals": n, "median_s_1worker": float(np.median(t1)),
                   "median_s_2workers": float(np.median(t2))},
        )
    ]
    if not label:
        figures.append(
            harness.Figure(
                name="parse_ms_per_crystal_1worker",
                unit="ms",
                samples=[1000 * t / n for t in t1],
                note=f"{n} sample CIFs parsed, validated and reduced in one process",
            )
        )
    return figures


def fork_server_start() -> harness.Figure:
    """First pool use in this interpreter minus a second one: the fork server's start."""
    paths = sorted((SAMPLE / "cif").glob("*.cif"))[:MIN_POOL_ITEMS]
    cold = harness.time_once(lambda: list(iter_parsed(paths, workers=2)))
    warm = harness.time_once(lambda: list(iter_parsed(paths, workers=2)))
    return harness.Figure(
        name="parse_pool_cold_start_s",
        unit="s",
        samples=[cold - warm],
        note="once per session: fork server start and its jarvis import (then each worker "
        "is a fork of it)",
        extra={"first_use_s": cold, "second_use_s": warm},
    )


def _cpu_seconds() -> tuple[float, float]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def cpu_cost(folder: Path, repeat: int) -> harness.Figure:
    """CPU seconds of the pool (this process + workers) over those of one process.

    Wall-clock ratios need two idle cores; on a shared machine the scheduler gives one
    session the same share however many processes it runs, so the speedup cannot show.
    This ratio does not depend on load: at 1.0 the pool does no extra work, and on two
    idle cores the speedup is about 2 / ratio. The workers are forked from this process
    here only so their CPU time is counted (RUSAGE_CHILDREN); the work is the same.
    """
    samples = []
    method = parse_pool.START_METHOD
    parse_pool.START_METHOD = "fork"
    try:
        for _ in range(repeat):
            a = _cpu_seconds()
            read_dataset(folder, workers=1)
            b = _cpu_seconds()
            read_dataset(folder, workers=2)
            c = _cpu_seconds()
            samples.append((c[0] - b[0] + c[1] - b[1]) / (b[0] - a[0] + b[1] - a[1]))
    finally:
        parse_pool.START_METHOD = method
    return harness.Figure(
        name="parse_pool_cpu_ratio",
        unit="x",
        samples=samples,
        note="CPU time of workers=2 (main + workers) / CPU time of workers=1; load-independent",
    )


def figures(quick: bool) -> list[harness.Figure]:
    start = time.perf_counter()
    out = [fork_server_start()]
    with tempfile.TemporaryDirectory(prefix="fig-parse-") as tmp:
        if quick:
            small = subset(Path(tmp) / "sub", QUICK_CRYSTALS)
            out += compare(small, repeat=3, label="")
            out.append(cpu_cost(small, repeat=3))
        else:
            out += compare(SAMPLE, repeat=5, label="")
            out.append(cpu_cost(subset(Path(tmp) / "sub", CPU_CRYSTALS), repeat=3))
            out += compare(repeated(Path(tmp) / "x3", COPIES), repeat=3, label="_3x")
    print(f"fig_parse: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return out


if __name__ == "__main__":
    harness.main(figures)
