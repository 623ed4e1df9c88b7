"""Structure parsing in worker processes: same records as in-process, crashes isolated."""

from __future__ import annotations

import csv
import json
import multiprocessing
import shutil
import signal
from pathlib import Path

import numpy as np
import parse_crash
import pytest

from alpha_tui.cli import build_report_parser, run_options
from alpha_tui.data import parse_pool
from alpha_tui.data.dataset import read_dataset
from alpha_tui.data.graph_cache import GraphCache
from alpha_tui.data.parse_pool import MIN_POOL_ITEMS, death_reason, iter_parsed
from alpha_tui.errors import UserError

SAMPLE = Path(__file__).resolve().parents[1] / "sample_checkpoints" / "sample_data" / "bandgap"
N_GOOD = MIN_POOL_ITEMS + 12  # enough for the pool to start


def _dataset(root: Path, extra: dict[str, Path | str] | None = None) -> tuple[Path, list[str]]:
    """The first N_GOOD sample crystals, then ``extra`` ids (a CIF to copy or a text)."""
    cifs = root / "cif"
    cifs.mkdir(parents=True)
    with (SAMPLE / "description.csv").open(newline="") as handle:
        sample_rows = list(csv.reader(handle))[1 : N_GOOD + 1]
    rows = []
    for rid, formula, target, text, _ in sample_rows:
        shutil.copy(SAMPLE / "cif" / f"{rid}.cif", cifs / f"{rid}.cif")
        rows.append([rid, formula, target, text])
    for rid, content in (extra or {}).items():
        if isinstance(content, Path):
            shutil.copy(content, cifs / f"{rid}.cif")
        else:
            (cifs / f"{rid}.cif").write_text(content)
        rows.append([rid, "X", "1.0", f"{rid} is a test crystal."])
    rows.insert(N_GOOD // 2, ["missing-1", "X", "1.0", "no file for this one"])
    with (root / "description.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "formula", "target", "text"])
        writer.writerows(rows)
    return root, [r[0] for r in sample_rows]


def _same_structures(a, b) -> None:
    assert [r.id for r in a.records] == [r.id for r in b.records]
    assert [str(p) for p in a.problems] == [str(p) for p in b.problems]
    assert a.rows_read == b.rows_read
    for x, y in zip(a.records, b.records, strict=True):
        assert x.n_atoms == y.n_atoms and x.path == y.path and x.text == y.text
        assert x.atoms.elements == y.atoms.elements
        assert np.array_equal(np.asarray(x.atoms.lattice_mat), np.asarray(y.atoms.lattice_mat))
        assert np.array_equal(np.asarray(x.atoms.frac_coords), np.asarray(y.atoms.frac_coords))
        assert np.array_equal(np.asarray(x.atoms.cart_coords), np.asarray(y.atoms.cart_coords))


def test_pool_gives_the_in_process_structures_in_order(tmp_path: Path, monkeypatch) -> None:
    root, good = _dataset(tmp_path / "d", {"nan-site": _nan_cif()})
    alone = read_dataset(root, workers=1)
    monkeypatch.setattr(parse_pool, "read_structure", parse_crash.only_in_a_worker)
    steps: list[tuple[int, int]] = []
    pooled = read_dataset(root, workers=2, progress=lambda d, t: steps.append((d, t)))
    _same_structures(alone, pooled)
    assert [r.id for r in pooled.records] == good
    reasons = {p.id: p.reason for p in pooled.problems}
    assert reasons["missing-1"] == f"row {N_GOOD // 2 + 2}: CIF missing (cif/missing-1.cif)"
    assert reasons["nan-site"] == (
        f"row {N_GOOD + 3}: atomic coordinates are missing or not finite (NaN or inf)"
    )
    total = N_GOOD + 2
    assert steps == [(i, total) for i in range(1, total + 1)]
    assert multiprocessing.active_children() == []


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("crystal-SEGV", "parser process died (signal 11, SIGSEGV) on crystal-SEGV.cif"),
        ("crystal-ABRT", "parser process died (signal 6, SIGABRT) on crystal-ABRT.cif"),
        (
            "crystal-KILL",
            "parser process died (signal 9, SIGKILL, often the kernel's out-of-memory killer) "
            "on crystal-KILL.cif",
        ),
        ("crystal-EXIT", "parser process exited with code 3 on crystal-EXIT.cif"),
    ],
)
def test_a_parser_that_dies_costs_one_row(tmp_path: Path, monkeypatch, name, expected) -> None:
    valid = SAMPLE / "cif" / "Si-diamond.cif"
    root, good = _dataset(tmp_path / "d", {name: valid, "after-it": valid})
    monkeypatch.setattr(parse_pool, "read_structure", parse_crash.crash_by_name)
    data = read_dataset(root, workers=2)
    assert [r.id for r in data.records] == [*good, "after-it"]
    row = N_GOOD + 3  # header, the missing row, then the crashing one
    assert [str(p) for p in data.problems if p.id == name] == [
        f"[skipped-row] {name}: row {row}: {expected}"
    ]
    assert multiprocessing.active_children() == []


def test_a_crash_early_in_a_chunk_keeps_the_rest_of_the_chunk(monkeypatch) -> None:
    cifs = sorted((SAMPLE / "cif").glob("*.cif"))[:MIN_POOL_ITEMS]
    crashing = Path(__file__).parent / "fixtures" / "no-such-dir" / "x-SEGV.cif"
    paths = [cifs[0], crashing, *cifs[1:], None, cifs[0]]
    out = list(iter_parsed(paths, workers=2, parse=parse_crash.crash_by_name))
    assert len(out) == len(paths)
    assert out[1].atoms is None and out[1].reason == death_reason(-signal.SIGSEGV, crashing)
    assert out[-2] == parse_pool.NOT_NEEDED
    assert all(o.atoms is not None for i, o in enumerate(out) if i not in (1, len(out) - 2))
    assert out[0].atoms.elements == out[-1].atoms.elements


def test_no_pool_for_a_small_or_cached_dataset(tmp_path: Path, monkeypatch) -> None:
    root, _ = _dataset(tmp_path / "d")
    cache = GraphCache(tmp_path / "graphs")
    first = read_dataset(root, graph_cache=cache, workers=2)
    for record in first.records:
        cache.get_or_build(record.path, record.atoms)

    class NoPool:
        def __init__(self, *args, **kwargs) -> None:
            raise AssertionError("a parser pool was started")

    monkeypatch.setattr(parse_pool, "_Pool", NoPool)
    again = read_dataset(root, graph_cache=cache, workers=2)
    assert [r.id for r in again.records] == [r.id for r in first.records]
    assert all(r.cache_key is not None and r.atoms is None for r in again.records)
    small = read_dataset(root, workers=2, limit=3)  # three structures: not worth a pool
    assert len(small.records) == 3


def test_limit_stops_the_workers_early(tmp_path: Path) -> None:
    root, good = _dataset(tmp_path / "d")
    data = read_dataset(root, workers=2, limit=MIN_POOL_ITEMS + 1)
    assert [r.id for r in data.records] == good[: MIN_POOL_ITEMS + 1]
    assert data.rows_read == MIN_POOL_ITEMS + 2  # the missing row counts as read
    assert multiprocessing.active_children() == []


def test_workers_flag_is_checked(tmp_path: Path) -> None:
    checkpoint = tmp_path / "x.pt"
    checkpoint.write_bytes(b"")
    parser = build_report_parser()
    assert run_options(parser.parse_args([str(checkpoint), "--workers", "3"])).workers == 3
    assert run_options(parser.parse_args([str(checkpoint)])).workers is None
    with pytest.raises(UserError, match=r"^--workers 0: give 1 or more processes$"):
        run_options(parser.parse_args([str(checkpoint), "--workers", "0"]))


def test_usable_cores_follows_the_affinity_mask() -> None:
    import os

    assert parse_pool.usable_cores() == len(os.sched_getaffinity(0))


def _nan_cif() -> str:
    """A CIF the validation refuses before spglib sees it (in the worker, as in-process)."""
    text = (SAMPLE / "cif" / "Si-diamond.cif").read_text()
    site = "  Si  Si2  1  0.250000  0.250000  0.250000  1"
    assert site in text
    return text.replace(site, "  Si  Si2  1  nan  0.250000  0.250000  1")


def test_workers_that_cannot_start_leave_the_parsing_to_this_process(
    tmp_path: Path, monkeypatch
) -> None:
    import sys
    import types

    from alpha_tui.data.structures import read_structure

    # a parser the workers cannot unpickle: its module exists only in this process, so
    # every worker dies while starting, before it could be blamed on a structure
    ghost = types.ModuleType("ghost_parser_module")
    exec("def parse(path):\n    return READ(path)\n", ghost.__dict__)
    ghost.READ = read_structure
    ghost.parse.__module__ = "ghost_parser_module"
    monkeypatch.setitem(sys.modules, "ghost_parser_module", ghost)
    monkeypatch.setattr(parse_pool, "read_structure", ghost.parse)
    root, good = _dataset(tmp_path / "d")
    data = read_dataset(root, workers=2)
    assert [r.id for r in data.records] == good
    assert [str(p) for p in data.problems if p.kind == "parse-workers"] == [
        "[parse-workers]: parser processes could not start (exit code 1); the remaining "
        "structures were parsed in the main process, without crash isolation"
    ]
    assert multiprocessing.active_children() == []


def test_the_pool_starts_where_stderr_has_no_descriptor(tmp_path: Path) -> None:
    # under a running Textual app sys.stderr is its print capture, fileno() -1; the
    # resource tracker passed that to its new process and every pool start failed.
    # A fresh interpreter, so no tracker from an earlier test is already running.
    import subprocess
    import sys

    root, good = _dataset(tmp_path / "d")
    script = f"""
import io, json, sys, threading
sys.path[:0] = [{str(Path(__file__).parents[1])!r}, {str(Path(__file__).parent)!r}]
from alpha_tui.data import parse_pool
import parse_crash

class Capture(io.TextIOBase):
    def write(self, text): return len(text)
    def fileno(self): return -1

parse_pool.read_structure = parse_crash.only_in_a_worker
from alpha_tui.data.dataset import read_dataset
out = {{}}
def load():
  try:
    data = read_dataset({str(root)!r}, workers=2)
    out["ids"] = [r.id for r in data.records]
    out["problems"] = [str(p) for p in data.problems]
  except BaseException as exc:
    import traceback; out["error"] = traceback.format_exc()
if __name__ == "__main__":
    sys.stderr = Capture()
    thread = threading.Thread(target=load)  # the explorer's loader thread
    thread.start(); thread.join()
    sys.stderr = sys.__stderr__
    print(json.dumps(out))
"""
    path = tmp_path / "load.py"
    path.write_text(script)
    done = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert "error" not in out, out["error"]
    assert out["ids"] == good
    assert len(out["problems"]) == 1 and "missing-1" in out["problems"][0]
