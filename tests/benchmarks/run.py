"""Speed and memory of the main job on the bundled sample, run by command, not by pytest.

    .venv/bin/python tests/benchmarks/run.py [--checkpoint CKPT] [--repeat 3]

Measures, on this machine: graph building rate, the hooked capture pass against the
same forward pass without hooks (hook overhead), the memory the activation cache keeps,
and the latency of every alpha reduction and the views a key press recomputes. Prints
a table and writes tests/benchmarks/results.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from alpha_tui.analysis.reductions import DEFAULT_CYCLE  # noqa: E402
from alpha_tui.analysis.session import AnalysisSession  # noqa: E402
from alpha_tui.capture.pipeline import bundled_inputs  # noqa: E402
from alpha_tui.capture.run import CaptureInput, capture  # noqa: E402
from alpha_tui.checkpoint.loader import load_checkpoint  # noqa: E402
from alpha_tui.data.batching import collate  # noqa: E402
from alpha_tui.data.dataset import read_dataset  # noqa: E402
from alpha_tui.data.graphs import build_graph  # noqa: E402
from alpha_tui.data.text_embeddings import load_embeddings_file  # noqa: E402
from alpha_tui.model.build import build_model  # noqa: E402


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def resident_mib() -> float:
    """Current resident set size (Linux), to see whether capture keeps memory."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20


def cache_bytes(cache) -> int:
    total = 0
    for value in cache.__dict__.values():
        if isinstance(value, np.ndarray):
            total += value.nbytes
        elif isinstance(value, dict):
            for item in value.values():
                if isinstance(item, np.ndarray):
                    total += item.nbytes
                for attr in ("cos", "null_cos"):
                    arr = getattr(item, attr, None)
                    if isinstance(arr, np.ndarray):
                        total += arr.nbytes
    return total


def pipeline_growth(checkpoint: Path, trim: bool) -> float:
    """RSS growth over the capture stage of ``run_pipeline``, as ``alpha-tui`` runs it.

    Each measurement runs in a fresh interpreter so earlier passes do not shape the heap.
    """
    import subprocess

    flag = "--probe-trim" if trim else "--probe-notrim"
    out = subprocess.run(
        [sys.executable, __file__, "--checkpoint", str(checkpoint), flag],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return float(out.strip().splitlines()[-1])


def probe_pipeline(checkpoint: Path, trim: bool) -> int:
    import alpha_tui.capture.run as capture_run
    from alpha_tui.capture.pipeline import RunOptions, run_pipeline

    if not trim:

        class NoTrim:
            def __call__(self) -> None:
                pass

        capture_run.HeapTrimmer = NoTrim  # type: ignore[assignment,misc]
    marks: dict[str, float] = {}

    def progress(done: int, total: int, stage: str) -> None:
        if stage == "capture":
            marks.setdefault("start", resident_mib())
            marks["end"] = resident_mib()

    run_pipeline(RunOptions(checkpoint, backend="native"), progress)
    print(round(marks["end"] - marks["start"], 1))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--checkpoint", type=Path, default=ROOT / "sample_checkpoints/gap_fusion2.pt"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--probe-trim", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--probe-notrim", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(2)
    if args.probe_trim or args.probe_notrim:
        return probe_pipeline(args.checkpoint, trim=args.probe_trim)

    loaded = load_checkpoint(args.checkpoint)
    built = build_model(loaded.config, loaded.state_dict, backend="native")
    data_dir, emb_path = bundled_inputs(args.checkpoint)
    dataset = read_dataset(data_dir)
    records = dataset.records
    ids = [r.id for r in records]
    text = load_embeddings_file(emb_path, ids, loaded.config.text_input_features)

    t_graphs, graphs = timed(lambda: [build_graph(r.atoms) for r in records], args.repeat)
    data = CaptureInput(
        ids, [r.formula for r in records], np.array([r.target for r in records]), graphs, text
    )

    def plain() -> None:
        with torch.no_grad():
            for i in range(0, len(graphs), args.batch_size):
                built.model(collate(graphs[i : i + args.batch_size], text[i : i + args.batch_size]))

    def hooked():
        return capture(built.model, data, batch_size=args.batch_size)

    before = resident_mib()
    hooked()
    rss_growth = resident_mib() - before
    plain()  # warm-up: allocator and kernel caches, so the first timed pass is not penalised
    hooked()
    plain_times, capture_times, cache = [], [], None
    for _ in range(args.repeat):  # interleaved, so drifting machine load hits both alike
        plain_times.append(timed(plain, 1)[0])
        t, cache = timed(hooked, 1)
        capture_times.append(t)
    t_plain, t_capture = statistics.median(plain_times), statistics.median(capture_times)
    n_atoms = cache.n_atoms
    session = AnalysisSession(cache)
    fusion = session.fusion_modules[0]
    reductions = {}
    for name in DEFAULT_CYCLE:
        fresh = AnalysisSession(cache)
        t, _ = timed(lambda fresh=fresh, name=name: fresh.stats(fusion, name), 1)
        reductions[name] = round(t * 1000, 2)
    views = {}
    for label, fn in {
        "elements": lambda: AnalysisSession(cache).elements(fusion, "max"),
        "crystals": lambda: AnalysisSession(cache).crystals(fusion, "max"),
        "correlation": lambda: AnalysisSession(cache).correlation(fusion, "max"),
        "layer_flow": lambda: AnalysisSession(cache).layer_flow(),
        "collapse": lambda: AnalysisSession(cache).collapse(fusion),
    }.items():
        t, _ = timed(fn, args.repeat)
        views[label] = round(t * 1000, 2)

    results = {
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "processor": platform.processor() or platform.machine(),
        },
        "checkpoint": str(args.checkpoint.relative_to(ROOT)),
        "crystals": len(records),
        "atoms": n_atoms,
        "graph_build_s": round(t_graphs, 3),
        "graph_build_crystals_per_s": round(len(records) / t_graphs, 1),
        "forward_no_hooks_s": round(t_plain, 3),
        "capture_with_hooks_s": round(t_capture, 3),
        "hook_overhead_pct": round(100 * (t_capture - t_plain) / t_plain, 1),
        "capture_crystals_per_s": round(len(records) / t_capture, 1),
        "cache_mib": round(cache_bytes(cache) / 2**20, 2),
        "first_capture_rss_growth_mib": round(rss_growth, 1),
        "pipeline_capture_rss_growth_mib": pipeline_growth(args.checkpoint, trim=True),
        "pipeline_capture_rss_growth_untrimmed_mib": pipeline_growth(args.checkpoint, trim=False),
        "cache_bytes_per_atom": round(cache_bytes(cache) / n_atoms, 1),
        "reduction_ms_cold": reductions,
        "view_ms_cold": views,
    }
    out = Path(__file__).with_name("results.json")
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
