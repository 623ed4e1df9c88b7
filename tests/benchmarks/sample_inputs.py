"""The bundled sample as the forward benchmarks use it: model, graphs, text, batches.

Graphs go through alpha-tui's builder and its on-disk graph cache (the default
``~/.cache/alpha-tui/graphs``, as ``alpha-tui`` itself uses), so a second run skips
CIF parsing. Imports neither textual nor DGL, so both lanes can use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from alpha_tui.capture.pipeline import bundled_inputs, stream_graphs
from alpha_tui.checkpoint.loader import LoadedCheckpoint, load_checkpoint
from alpha_tui.data.batching import collate
from alpha_tui.data.dataset import read_dataset
from alpha_tui.data.graph_cache import GraphCache
from alpha_tui.data.graphs import CrystalGraph
from alpha_tui.data.text_embeddings import load_embeddings_file
from alpha_tui.model.graph import GraphBatch

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_checkpoints" / "gap_fusion2.pt"


@dataclass
class SampleInputs:
    loaded: LoadedCheckpoint
    ids: list[str]
    formulas: list[str]
    targets: np.ndarray
    graphs: list[CrystalGraph]
    text: np.ndarray  # [C, T_in]

    def every(self, stride: int, count: int | None = None) -> SampleInputs:
        """Every ``stride``-th crystal (a spread over the sample, small to large), the
        first ``count`` of them when given."""
        keep = list(range(0, len(self.ids), stride))[:count]
        return SampleInputs(
            self.loaded,
            [self.ids[i] for i in keep],
            [self.formulas[i] for i in keep],
            self.targets[keep],
            [self.graphs[i] for i in keep],
            self.text[keep],
        )


def load_sample(checkpoint: Path = SAMPLE, limit: int | None = None) -> SampleInputs:
    loaded = load_checkpoint(checkpoint)
    data_dir, emb_path = bundled_inputs(checkpoint)
    assert data_dir is not None and emb_path is not None, f"{checkpoint} has no sidecar"
    cache = GraphCache()
    records = read_dataset(data_dir, graph_cache=cache, limit=limit).records
    # the capture's own path: graphs built once into the cache, read back from it
    source, records = stream_graphs(records, cache, problems=[], report=lambda *_: None)
    graphs = list(source)
    ids = [r.id for r in records]
    text = load_embeddings_file(emb_path, ids, loaded.config.text_input_features)
    return SampleInputs(
        loaded,
        ids,
        [r.formula for r in records],
        np.array([r.target for r in records]),
        graphs,
        np.asarray(text, np.float32),
    )


def windows(n: int, batch_size: int) -> list[slice]:
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


def native_batches(sample: SampleInputs, batch_size: int) -> list[GraphBatch]:
    return [collate(sample.graphs[w], sample.text[w]) for w in windows(len(sample.ids), batch_size)]


def batch_counts(batch: GraphBatch) -> tuple[int, int, int, int]:
    """(crystals, atoms, bonds, triplets) of one collated batch."""
    return batch.num_crystals, batch.num_nodes, batch.num_edges, int(batch.lg_src.shape[0])


def gate_hooks(model: torch.nn.Module, names: list[str], seen: dict[str, list[torch.Tensor]]):
    """Forward hooks appending each ``...gate`` output to ``seen[name]``; returns the handles."""
    handles = []
    for name in names:

        def hook(module, inputs, output, name=name):
            seen.setdefault(name, []).append(output.detach().clone())

        handles.append(model.get_submodule(name).register_forward_hook(hook))
    return handles
