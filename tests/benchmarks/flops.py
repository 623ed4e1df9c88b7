"""Linear-layer FLOPs of one forward pass, from the model's shapes and a batch's sizes.

Every ``nn.Linear`` costs ``2 * in * out`` per row it is applied to; the row count
depends on where the layer sits: atoms, bonds (atom-graph edges = line-graph nodes),
triplets (line-graph edges) or crystals. Elementwise work, gathers and scatters are
not counted: this is the useful work a matmul peak can be compared with.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import torch
from torch import nn

NODE_LINEARS = ("src_gate", "dst_gate", "src_update", "dst_update")


@dataclass(frozen=True)
class BatchSize:
    crystals: int
    atoms: int
    bonds: int
    triplets: int


def rows_of(name: str, size: BatchSize) -> int:
    """How many rows the Linear called ``name`` (a state_dict module path) multiplies."""
    parts = name.split(".")
    if parts[0] == "atom_embedding":
        return size.atoms
    if parts[0] == "edge_embedding":
        return size.bonds
    if parts[0] == "angle_embedding":
        return size.triplets
    if parts[0] == "alignn_layers":
        # node_update runs on the atom graph, edge_update on the line graph
        nodes, edges = (
            (size.atoms, size.bonds) if parts[2] == "node_update" else (size.bonds, size.triplets)
        )
        return edges if parts[3] == "edge_gate" else nodes
    if parts[0] == "gcn_layers":
        return size.bonds if parts[2] == "edge_gate" else size.atoms
    if parts[0] == "middle_fusion_modules":
        return size.atoms if parts[2] == "gate" else size.crystals
    if parts[0] == "fine_grained_attention":
        raise ValueError("FLOPs of fine-grained attention depend on token counts; not counted")
    return size.crystals  # projections, cross-modal attention, fc1, fc


def linear_flops(model: nn.Module, size: BatchSize) -> int:
    """Total Linear FLOPs of ``model`` (alpha-tui's or the reference) on one batch."""
    total = 0
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear):
            if re.match(r"(alignn_layers\.\d+\.(node|edge)_update|gcn_layers\.\d+)\.", name):
                assert name.rsplit(".", 1)[1] in (*NODE_LINEARS, "edge_gate"), name
            total += 2 * module.in_features * module.out_features * rows_of(name, size)
    return total


def _time_mm(a: torch.Tensor, weight: torch.Tensor) -> float:
    start = time.perf_counter()
    torch.mm(a, weight)
    return time.perf_counter() - start


def matmul_peak(rows: list[int], width: int, repeat: int) -> list[float]:
    """Best GFLOP/s of [n, width] x [width, width] over ``rows``, one value per trial."""
    rates = []
    weight = torch.randn(width, width)
    inputs = [torch.randn(n, width) for n in rows]
    for a in inputs:  # warm the allocator and the BLAS thread pool
        torch.mm(a, weight)
    for _ in range(repeat):
        best = 0.0
        for a in inputs:
            t = min(_time_mm(a, weight) for _ in range(3))
            best = max(best, 2 * a.shape[0] * width * width / t / 1e9)
        rates.append(best)
    return rates
