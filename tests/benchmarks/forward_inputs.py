"""The bundled sample as ready-to-run batches, for the forward-pass figures.

Parsing 455 CIFs costs seconds; the figures time the forward, not the parser. So the
graphs (built by alpha-tui's own builder), ids and text rows are built once and kept
as one ``.npz`` of concatenated arrays under the system temp directory, keyed by the
sample's files, and both lanes (modern venv, DGL venv) time the very same batches.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.benchmarks.harness import ROOT

CHECKPOINT = ROOT / "sample_checkpoints" / "gap_fusion2.pt"
FORMAT = "1"


@dataclass
class SampleInputs:
    ids: list[str]
    graphs: list  # list[CrystalGraph]
    text: np.ndarray  # [N, T] float32


def _cache_path(data_dir: Path, emb_path: Path) -> Path:
    from alpha_tui.data.graphs import GRAPH_FORMAT_VERSION

    parts = [FORMAT, str(GRAPH_FORMAT_VERSION)]
    for f in (data_dir / "description.csv", emb_path):
        stat = f.stat()
        parts.append(f"{f.resolve()} {stat.st_size} {stat.st_mtime_ns}")
    key = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"alpha-tui-fwd-{key}.npz"


def _save(path: Path, inputs: SampleInputs) -> None:
    arrays: dict[str, np.ndarray] = {}
    for name in inputs.graphs[0].arrays():
        parts = [getattr(g, name) for g in inputs.graphs]
        arrays[name] = np.concatenate(parts)
        arrays[f"{name}_len"] = np.array([len(p) for p in parts], dtype=np.int64)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, ids=np.array(inputs.ids), text=inputs.text, **arrays)
    tmp.replace(path)


def _load(path: Path) -> SampleInputs:
    from alpha_tui.data.graphs import CrystalGraph

    with np.load(path, allow_pickle=False) as z:
        names = [k for k in z.files if k not in ("ids", "text") and not k.endswith("_len")]
        split = {
            n: np.split(z[n], np.cumsum(z[f"{n}_len"])[:-1]) for n in names
        }
        graphs = [CrystalGraph(**{n: split[n][i] for n in names}) for i in range(len(z["ids"]))]
        return SampleInputs([str(i) for i in z["ids"]], graphs, z["text"].astype(np.float32))


def sample_inputs(checkpoint: Path = CHECKPOINT, text_width: int = 384) -> SampleInputs:
    """Every crystal of the checkpoint's bundled dataset, with its text row."""
    from alpha_tui.capture.pipeline import bundled_inputs

    data_dir, emb_path = bundled_inputs(checkpoint)
    cache = _cache_path(Path(data_dir), Path(emb_path))
    if cache.is_file():
        return _load(cache)
    from alpha_tui.data.dataset import read_dataset
    from alpha_tui.data.graphs import build_graph
    from alpha_tui.data.text_embeddings import load_embeddings_file

    records = read_dataset(data_dir).records
    ids = [r.id for r in records]
    text = np.asarray(load_embeddings_file(emb_path, ids, text_width), dtype=np.float32)
    inputs = SampleInputs(ids, [build_graph(r.atoms) for r in records], text)
    _save(cache, inputs)
    return inputs
