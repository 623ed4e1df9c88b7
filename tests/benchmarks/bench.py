"""Run every benchmark figure module of one lane and record the figures.

    python tests/benchmarks/bench.py --lane modern [--quick] [--only fig_store fig_frames]

Each ``fig_*.py`` beside this file runs in a fresh interpreter (``harness.main`` prints
its figures on one marked line). The figures of the modules that ran replace their
earlier entries in ``results.json``; figures of the other lane are kept, so ``make
bench`` and ``make bench-dgl`` together fill one table. The Markdown table is written to
``results.md`` and spliced into the README between the bench-table markers.

A module that fails is reported and makes the exit status non-zero; a target that is not
met does not (the table says so; the README explains it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS = HERE / "results.json"
TABLE = HERE / "results.md"
README = ROOT / "README.md"
START, END = "<!-- bench-table:start -->", "<!-- bench-table:end -->"
MARK = "BENCH-FIGURES "
LANE_LINE = re.compile(r'^LANE\s*=\s*["\'](\w+)["\']', re.MULTILINE)


def modules(lane: str, only: list[str]) -> list[Path]:
    """Figure modules of ``lane``, read from their ``LANE =`` line without importing them."""
    found = []
    for path in sorted(HERE.glob("fig_*.py")):
        match = LANE_LINE.search(path.read_text())
        if match and match.group(1) == lane and (not only or path.stem in only):
            found.append(path)
    return found


def machine(lane: str) -> dict:
    probe = (
        "import json, torch; d = {'torch': torch.__version__, 'threads': torch.get_num_threads()}\n"
        "try:\n import dgl; d['dgl'] = dgl.__version__\nexcept Exception: pass\n"
        "import numpy; d['numpy'] = numpy.__version__; print(json.dumps(d))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    versions = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else {}
    model = ""
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    return {
        "lane": lane,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "python": platform.python_version(),
        "cpu": model or platform.processor() or platform.machine(),
        "cores": len(os.sched_getaffinity(0)),
        "load_average_at_start": os.getloadavg()[0],
        **versions,
    }


def run_module(path: Path, quick: bool, timeout: float) -> tuple[list[dict], str | None]:
    cmd = [sys.executable, str(path)] + (["--quick"] if quick else [])
    start = time.perf_counter()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return [], f"timed out after {timeout:.0f} s"
    took = time.perf_counter() - start
    lines = [line for line in out.stdout.splitlines() if line.startswith(MARK)]
    if out.returncode != 0 or not lines:
        tail = " | ".join(out.stderr.strip().splitlines()[-3:])
        return [], f"exit {out.returncode}: {tail}"
    figures = json.loads(lines[-1][len(MARK) :])
    for figure in figures:
        figure["module"] = path.stem
        figure["module_seconds"] = round(took, 1)
        figure["quick"] = quick
    return figures, None


def merge(previous: dict, lane: str, info: dict, ran: list[str], new: list[dict]) -> dict:
    kept = [f for f in previous.get("figures", []) if f.get("module") not in ran]
    for figure in new:
        figure["lane"] = lane
    machines = dict(previous.get("machines", {}))
    machines[lane] = info
    order = {name: i for i, name in enumerate(sorted({f["module"] for f in kept + new}))}
    figures = sorted(kept + new, key=lambda f: (order[f["module"]],))
    return {"machines": machines, "figures": figures}


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def table(results: dict) -> str:
    rows = [
        "| figure | lane | median | min-max | unit | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for f in results["figures"]:
        target = "-" if f.get("target") is None else f"{f['direction']} {_number(f['target'])}"
        met = {True: "yes", False: "**no**", None: "-"}[f.get("met")]
        spread = f"{_number(f.get('min'))}-{_number(f.get('max'))}"
        name = f"`{f['name']}`" + (" (quick)" if f.get("quick") else "")
        rows.append(
            f"| {name} | {f['lane']} | {_number(f.get('median'))} | {spread} "
            f"| {f['unit']} | {target} | {met} |"
        )
    lanes = []
    for lane, info in sorted(results["machines"].items()):
        versions = ", ".join(f"{k} {info[k]}" for k in ("torch", "dgl", "numpy") if k in info)
        lanes.append(
            f"{lane} lane: {info['date']}, commit {info['commit']}, {info['cores']} cores "
            f"({info['cpu']}), {versions}, load {info['load_average_at_start']:.1f} at start"
        )
    return "\n".join(rows) + "\n\n" + "; ".join(lanes) + ".\n"


def splice_readme(text: str) -> bool:
    readme = README.read_text()
    if START not in readme or END not in readme:
        return False
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    README.write_text(f"{head}{START}\n{text}{END}{tail}")
    return True


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lane", choices=["modern", "dgl"], required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", nargs="*", default=[], help="module names, e.g. fig_store")
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds per module (fig_memory: ~20 min)"
    )
    parser.add_argument(
        "--no-write", action="store_true", help="check the modules run; keep results.json"
    )
    args = parser.parse_args()
    paths = modules(args.lane, args.only)
    if not paths:
        print(f"no figure modules for lane {args.lane}", file=sys.stderr)
        return 2
    info = machine(args.lane)
    figures, failed = [], []
    for path in paths:
        print(f"=== {path.stem}", flush=True)
        got, error = run_module(path, args.quick, args.timeout)
        if error:
            failed.append(path.stem)
            print(f"    FAILED: {error}", flush=True)
        for f in got:
            print(
                f"    {f['name']}: {f['median']} {f['unit']} (target {f['target']}, met {f['met']})"
            )
        figures += got
    if not args.no_write:
        previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        if "figures" not in previous:
            previous = {}  # the pre-harness layout: nothing to keep
        ran = [p.stem for p in paths if p.stem not in failed]
        results = merge(previous, args.lane, info, ran, figures)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        text = table(results)
        TABLE.write_text(text)
        where = "README and results.md" if splice_readme(text) else "results.md"
        print(f"wrote {RESULTS.relative_to(ROOT)} and the table into {where}")
    if failed:
        print(f"failed modules: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
