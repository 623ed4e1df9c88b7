"""Where an extract's memory goes, stage by stage: the figures behind README's "Extract memory".

    PYTHONPATH=. .venv/bin/python tests/benchmarks/extract_phases.py [--sizes 1000 10000]
        [--unique 448] [--batch-size 16]

fig_memory reports one number per run (the peak over the baseline); this explains it.
Each size runs ``alpha-tui extract`` on a dataset cycled from the sample (the same rows
as fig_memory: ``--unique`` of them; 455, all, shows the uneven last batch) in its own
interpreter, with a thread sampling RSS every 2 ms, and prints per stage:

* the RSS over the baseline when the stage ends and the highest sample inside it;
* what each one-off heap trim gave back (``give_back_heap``: before the capture, after
  the stored reductions), measured as RSS just before and after it;
* the largest batch's triplets (line-graph edges), which set the capture's transient;
* the bytes of the per-atom results (in temporary files since capture/rows.py spills them).

Stages: ``read`` (rows, CIFs from the graph cache, texts), ``trim before capture``,
``capture``, ``reductions`` (precomputed default cycle, then its trim) and ``write``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import harness  # noqa: F401 - puts the repository root on sys.path
import memory_probe
from repeated_dataset import write_repeated_dataset

HERE = Path(__file__).resolve().parent
SAMPLE_EVERY_S = 0.002


class Sampler(threading.Thread):
    """RSS every SAMPLE_EVERY_S, the highest kept per named stage."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stage = "start"
        self.peaks: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            rss = rss_mib()
            stage = self.stage
            if rss > self.peaks.get(stage, 0.0):
                self.peaks[stage] = rss
            time.sleep(SAMPLE_EVERY_S)


def rss_mib() -> float:
    return memory_probe._status_kib("VmRSS") / 1024


def instrument(sampler: Sampler, marks: list[tuple[str, float]], batches: list[int]) -> None:
    """Wrap the stage boundaries of the extract (functions looked up at call time)."""
    import alpha_tui.capture.pipeline as pipeline
    import alpha_tui.capture.run as run
    import alpha_tui.store.writer as writer

    def enter(stage: str) -> None:
        marks.append((f"end of {sampler.stage}", rss_mib()))
        sampler.stage = stage

    def trim_wrapper(original, stage: str, after: str):
        def trim() -> None:
            enter(stage)
            before = rss_mib()
            original()
            marks.append((f"{stage}: gave back", before - rss_mib()))
            sampler.stage = after

        return trim

    pipeline.give_back_heap = trim_wrapper(
        pipeline.give_back_heap, "trim before capture", "capture"
    )
    writer.give_back_heap = trim_wrapper(writer.give_back_heap, "trim after reductions", "write")

    collate = run.collate

    def counted(graphs, *args, **kwargs):
        batch = collate(graphs, *args, **kwargs)
        batches.append(int(len(batch.lg_src)))
        return batch

    run.collate = counted

    from alpha_tui.store import precompute as precompute_module

    compute = precompute_module.precompute

    def reductions(*args, **kwargs):
        enter("reductions")
        return compute(*args, **kwargs)

    precompute_module.precompute = reductions


def one(args: argparse.Namespace) -> dict:
    """One extract in this interpreter (the child side), warmed as fig_memory's probe is."""
    from alpha_tui.cli import main as cli_main

    memory_probe.warm_graph_cache(args.data, args.cache_dir, args.unique)
    from alpha_tui.checkpoint.loader import load_checkpoint
    from alpha_tui.model.build import build_model

    loaded = load_checkpoint(memory_probe.CHECKPOINT)
    build_model(loaded.config, loaded.state_dict, backend="native", device="cpu")
    del loaded
    kept = memory_probe.watch_written()
    sampler = Sampler()
    marks: list[tuple[str, float]] = []
    batches: list[int] = []
    instrument(sampler, marks, batches)
    baseline = memory_probe.start_measuring()
    sampler.stage = "read"
    sampler.start()
    argv = [
        "extract", str(memory_probe.CHECKPOINT), "--data", str(args.data),
        "--text-embeddings", str(args.embeddings), "--out", str(args.out), "--force",
        "--backend", "native", "--device", "cpu", "--batch-size", str(args.batch_size),
        "--cache-dir", str(args.cache_dir),
    ]  # fmt: skip
    code = cli_main(argv)
    marks.append((f"end of {sampler.stage}", rss_mib()))
    sampler.stop.set()
    sampler.join()
    if code not in (0, None):
        raise SystemExit(f"extract failed with exit code {code}")
    return {
        "baseline_mib": baseline,
        "peak_mib": memory_probe.peak_since(baseline),
        "marks": [(name, v if "gave back" in name else v - baseline) for name, v in marks],
        "stage_peaks": {k: v - baseline for k, v in sampler.peaks.items()},
        "largest_batch_triplets": max(batches),
        "batches": len(batches),
        "kept_mib": sum(kept) / 2**20,
    }


def run_size(n: int, unique: int, batch_size: int, work: Path) -> dict:
    data, embeddings = write_repeated_dataset(work / f"data-{n}", n, unique=unique)
    out = subprocess.run(
        [sys.executable, __file__, "--one", "--data", str(data), "--embeddings", str(embeddings),
         "--out", str(work / f"store-{n}"), "--cache-dir", str(work / "cache"),
         "--unique", str(unique), "--batch-size", str(batch_size)],
        capture_output=True, text=True, check=True, cwd=HERE,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(runs: dict[int, dict]) -> None:
    for n, run in runs.items():
        print(f"\n== {n:,} crystals: peak {run['peak_mib']:.1f} MiB over the baseline")
        for name, value in run["marks"]:
            print(f"  {name:<34}{value:8.1f} MiB")
        for stage, peak in run["stage_peaks"].items():
            print(f"  highest during {stage:<19}{peak:8.1f} MiB")
        print(f"  results (temporary files)       {run['kept_mib']:8.1f} MiB")
        print(f"  largest batch                   {run['largest_batch_triplets']:8d} triplets"
              f" ({run['batches']} batches)")  # fmt: skip
    sizes = sorted(runs)
    if len(sizes) > 1:
        small, big = runs[sizes[0]], runs[sizes[-1]]
        print(
            f"\npeak ratio {big['peak_mib'] / small['peak_mib']:.3f}; largest batch ratio "
            f"{big['largest_batch_triplets'] / small['largest_batch_triplets']:.4f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--unique", type=int, default=448, help="rows cycled (448: whole batches)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--embeddings", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        runs = {n: run_size(n, args.unique, args.batch_size, Path(tmp)) for n in args.sizes}
    report(runs)


if __name__ == "__main__":
    main()
