"""The small interface a graph backend offers to the network.

EdgeGatedGraphConv needs exactly three operations on a directed graph (u -> v):
add a source and a destination node tensor per edge, sum source-features-times-edge
weights into destinations, and sum edge tensors into destinations. Both the atom
graph and the line graph are built from the index tensors of ``GraphBatch`` and
never recomputed, so every backend sees the same structure.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol

import torch

from alpha_tui.model.graph import GraphBatch


class BackendGraph(Protocol):
    """A directed graph ready for message passing (opaque to the network)."""

    @property
    def num_nodes(self) -> int: ...

    def u_add_v(self, src_feat: torch.Tensor, dst_feat: torch.Tensor) -> torch.Tensor:
        """Per edge u->v: ``src_feat[u] + dst_feat[v]`` -> [E, ...]."""
        ...

    def u_mul_e_sum(self, node_feat: torch.Tensor, edge_feat: torch.Tensor) -> torch.Tensor:
        """Per node v: ``sum over edges u->v of node_feat[u] * edge_feat[e]`` -> [N, ...]."""
        ...

    def copy_e_sum(self, edge_feat: torch.Tensor) -> torch.Tensor:
        """Per node v: ``sum over edges u->v of edge_feat[e]`` -> [N, ...] (0 if none)."""
        ...


class GraphBackend(ABC):
    """Turns index tensors into backend graphs; stateless, so it can be swapped freely."""

    name: str = "abstract"

    @abstractmethod
    def graph(self, src: torch.Tensor, dst: torch.Tensor, num_nodes: int) -> BackendGraph:
        """A graph with edges ``src[i] -> dst[i]`` over ``num_nodes`` nodes."""

    def prepare(self, batch: GraphBatch) -> tuple[BackendGraph, BackendGraph]:
        """The atom graph and its line graph (nodes = bonds) for one batch."""
        g = self.graph(batch.src, batch.dst, batch.num_nodes)
        lg = self.graph(batch.lg_src, batch.lg_dst, batch.num_edges)
        return g, lg

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
