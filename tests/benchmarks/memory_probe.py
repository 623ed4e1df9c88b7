"""One measured run for fig_memory.py, in its own interpreter so no earlier run shapes the heap.

    python memory_probe.py capture --base N --copies K [--cache-dir DIR]
    python memory_probe.py extract --data DIR --embeddings FILE --out STORE [--cache-dir DIR]

Capture feeds every copy its own graph objects loaded from the graph cache (streamed per
batch where the capture streams), so holding graphs costs what it costs in a real run.
Prints one JSON line: ``seconds`` of the measured step, ``peak_mib`` (VmHWM after the
step minus VmRSS at its start; the high-water mark is reset just before the step through
/proc/self/clear_refs, so transients of imports and loading do not count) and, for
capture, ``kept_bytes`` (what the returned ActivationCache holds in numpy arrays; for
extract, the one it writes).
The baseline is taken after imports, model load and (capture) the graphs, so the peak is
what the step itself adds.
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CHECKPOINT = ROOT / "sample_checkpoints" / "gap_fusion2.pt"
STATUS = Path("/proc/self/status")


def _status_kib(field: str) -> int:
    match = re.search(rf"^{field}:\s+(\d+) kB", STATUS.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no {field} in {STATUS}; this probe needs Linux")
    return int(match.group(1))


def start_measuring() -> float:
    """Collect, give freed heap back, reset the high-water mark; returns RSS in MiB."""
    from alpha_tui.capture.memory import _malloc_trim

    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS") / 1024


def peak_since(baseline_mib: float) -> float:
    return _status_kib("VmHWM") / 1024 - baseline_mib


def array_bytes(value: object) -> int:
    """numpy bytes reachable from an ActivationCache field (dicts and LayerFlows included)."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(array_bytes(v) for v in value.values())
    if hasattr(value, "__dataclass_fields__"):
        return sum(array_bytes(getattr(value, f)) for f in value.__dataclass_fields__)
    return 0


def capture_graphs(records: list, cache, copies: int):
    """Each copy's own graphs, streamed from the graph cache per batch as a run reads them."""
    from alpha_tui.data.graph_source import GraphSource

    source = GraphSource(cache)
    for _copy in range(copies):
        for record in records:
            source.add_cached(record.cache_key, record.path, record.n_atoms)
    return source


def probe_capture(base: int, copies: int, cache_dir: Path | None) -> dict[str, float]:
    import numpy as np

    from alpha_tui.capture.pipeline import bundled_inputs
    from alpha_tui.capture.run import CaptureInput, capture
    from alpha_tui.checkpoint.loader import load_checkpoint
    from alpha_tui.data.text_embeddings import load_embeddings_file
    from alpha_tui.model.build import build_model

    data, embeddings = bundled_inputs(CHECKPOINT)
    loaded = load_checkpoint(CHECKPOINT)
    built = build_model(loaded.config, loaded.state_dict, backend="native", device="cpu")
    cache_root = cache_dir if cache_dir is not None else Path.home() / ".cache" / "alpha-tui"
    cache, records = warm_graph_cache(data, cache_root, None)
    records = records[:: max(1, len(records) // base)][:base]  # spread over the sample's sizes
    ids = [r.id for r in records]
    text = load_embeddings_file(embeddings, ids, loaded.config.text_input_features)
    data_in = CaptureInput(
        ids=[f"{i}#{k}" for k in range(copies) for i in ids],
        formulas=[r.formula for r in records] * copies,
        targets=np.tile(np.array([r.target for r in records]), copies),
        graphs=capture_graphs(records, cache, copies),
        text=np.tile(text, (copies, 1)),
    )
    del records
    baseline = start_measuring()
    start = time.perf_counter()
    result = capture(built.model, data_in, batch_size=16)
    seconds = time.perf_counter() - start
    peak = peak_since(baseline)
    kept = sum(array_bytes(getattr(result, f)) for f in result.__dataclass_fields__)
    return {
        "seconds": seconds,
        "peak_mib": peak,
        "kept_bytes": kept,
        "atoms": result.n_atoms,
        "crystals": result.n_crystals,
    }


def warm_graph_cache(data: Path, cache_dir: Path, unique: int | None):
    """Parse the first ``unique`` rows (every distinct CIF) once, outside the measurement.

    Returns (cache, records of a second read, all cached).
    """
    from alpha_tui.data.dataset import read_dataset
    from alpha_tui.data.graph_cache import GraphCache
    from alpha_tui.data.graphs import build_graph

    cache = GraphCache(cache_dir / "graphs")
    for record in read_dataset(data, limit=unique, graph_cache=cache).records:
        if record.atoms is not None and record.cache_key is not None:
            cache.store(record.cache_key, build_graph(record.atoms, canonize=cache.canonize))
    return cache, read_dataset(data, limit=unique, graph_cache=cache).records


def probe_extract(
    data: Path, embeddings: Path, out: Path, cache_dir: Path, batch_size: int, unique: int
) -> dict[str, float]:
    from alpha_tui.checkpoint.loader import load_checkpoint
    from alpha_tui.cli import main as cli_main
    from alpha_tui.model.build import build_model

    warm_graph_cache(data, cache_dir, unique)
    # warm the imports the extract will need, so the baseline holds them
    loaded = load_checkpoint(CHECKPOINT)
    build_model(loaded.config, loaded.state_dict, backend="native", device="cpu")
    del loaded
    argv = [
        "extract", str(CHECKPOINT), "--data", str(data), "--text-embeddings", str(embeddings),
        "--out", str(out), "--force", "--backend", "native", "--device", "cpu",
        "--batch-size", str(batch_size), "--cache-dir", str(cache_dir),
    ]  # fmt: skip
    kept = watch_written()
    baseline = start_measuring()
    start = time.perf_counter()
    code = cli_main(argv)
    seconds = time.perf_counter() - start
    if code not in (0, None):
        raise SystemExit(f"extract failed with exit code {code}")
    return {"seconds": seconds, "peak_mib": peak_since(baseline), "kept_bytes": sum(kept)}


def watch_written() -> list[int]:
    """numpy bytes of the ActivationCache the extract hands to write_store (filled later)."""
    import alpha_tui.store.writer as writer

    kept: list[int] = []
    write_store = writer.write_store

    def watched(cache, *args, **kwargs):
        kept.append(sum(array_bytes(getattr(cache, f)) for f in cache.__dataclass_fields__))
        return write_store(cache, *args, **kwargs)

    writer.write_store = watched
    return kept


def watch_trimmers(slack: float | None) -> list:
    """The capture's HeapTrimmer objects, to report their trims (and a fixed-slack what-if)."""
    import alpha_tui.capture.run as capture_run
    from alpha_tui.capture.memory import HeapTrimmer

    made: list = []

    def make(*args, **kwargs):
        if slack is not None:
            kwargs["slack_mib"] = slack
        trimmer = HeapTrimmer(*args, **kwargs)
        made.append(trimmer)
        return trimmer

    capture_run.HeapTrimmer = make
    return made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("capture", "extract"))
    parser.add_argument("--base", type=int, default=64)
    parser.add_argument("--copies", type=int, default=1)
    parser.add_argument("--cache-dir", type=Path)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--embeddings", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--unique", type=int, default=455, help="distinct rows to pre-parse")
    parser.add_argument("--trim-slack", type=float, help="HeapTrimmer slack in MiB (a what-if)")
    args = parser.parse_args()
    trimmers = watch_trimmers(args.trim_slack)
    if args.mode == "capture":
        result = probe_capture(args.base, args.copies, args.cache_dir)
    else:
        result = probe_extract(args.data, args.embeddings, args.out, args.cache_dir,
                               args.batch_size, args.unique)  # fmt: skip
    if trimmers:
        result["trims"] = sum(t.trims for t in trimmers)
        result["largest_batch_rise_mib"] = max(t.largest_rise for t in trimmers)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
