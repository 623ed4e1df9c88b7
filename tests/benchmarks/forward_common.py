"""What the forward figures share: the sample model, its batches, and the FLOP count.

The FLOPs are those of the graph convolutions' Linears (issue 11: "count the Linear
FLOPs over nodes, edges and triplets"): each EdgeGatedGraphConv on a graph of n nodes
and e edges runs four H->H Linears over the nodes and one over the edges,
2*H*H*(4n + e) multiply-adds counted as two FLOPs. The embeddings, fusion and head
are left out (under 1 % of the total on the sample), so the rate is a lower bound.
"""

from __future__ import annotations

import time

import torch

from tests.benchmarks.forward_inputs import CHECKPOINT, sample_inputs


def conv_flops(batches: list, hidden: int, alignn_layers: int, gcn_layers: int) -> float:
    per_pass = 0.0
    for b in batches:
        n, e, t = b.num_nodes, b.num_edges, int(b.lg_src.shape[0])
        atom = 2.0 * hidden * hidden * (4 * n + e)
        line = 2.0 * hidden * hidden * (4 * e + t)
        per_pass += alignn_layers * (atom + line) + gcn_layers * atom
    return per_pass


def load_model(backend: str = "native"):
    from alpha_tui.checkpoint.loader import load_checkpoint
    from alpha_tui.model.build import build_model

    loaded = load_checkpoint(CHECKPOINT)
    return build_model(loaded.config, loaded.state_dict, backend=backend).model.eval()


def sample_batches(crystals: int, batch_size: int) -> list:
    from alpha_tui.data.batching import collate

    inputs = sample_inputs()
    n = min(crystals, len(inputs.graphs))
    return [
        collate(inputs.graphs[i : min(i + batch_size, n)], inputs.text[i : min(i + batch_size, n)])
        for i in range(0, n, batch_size)
    ]


def forward_all(model, batches: list) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat([model(b) for b in batches])


def matmul_peak(seconds: float = 0.3, size: int = 2048) -> float:
    """GFLOP/s of float32 square matmuls on this machine right now (the roof)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or done < 2:
        a @ b
        done += 1
    return 2.0 * size**3 * done / (time.perf_counter() - start) / 1e9
