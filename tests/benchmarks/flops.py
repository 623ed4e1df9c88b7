"""Linear-layer FLOPs of one forward pass, from the model's shapes and a batch's sizes.

Every ``nn.Linear`` costs ``2 * in * out`` per row it is applied to; the row count
depends on where the layer sits: atoms, bonds (atom-graph edges = line-graph nodes),
triplets (line-graph edges) or crystals. Elementwise work, gathers and scatters are
not counted: this is the useful work a matmul peak can be compared with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
