"""Pure-torch message passing: ``index_select`` gathers and ``index_add_`` scatters.

Works wherever torch does (CPU, CUDA) and is the fallback when DGL is missing or
broken, which is common: DGL wheels pin narrow torch versions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from alpha_tui.model.backends.base import GraphBackend


@dataclass(frozen=True)
class NativeGraph:
    src: torch.Tensor  # [E] int64
    dst: torch.Tensor  # [E] int64
    n_nodes: int

    @property
    def num_nodes(self) -> int:
        return self.n_nodes

    def u_add_v(self, src_feat: torch.Tensor, dst_feat: torch.Tensor) -> torch.Tensor:
        return src_feat.index_select(0, self.src) + dst_feat.index_select(0, self.dst)

    def _sum_to_dst(self, per_edge: torch.Tensor) -> torch.Tensor:
        out = per_edge.new_zeros((self.n_nodes, *per_edge.shape[1:]))
        return out.index_add_(0, self.dst, per_edge)

    def u_mul_e_sum(self, node_feat: torch.Tensor, edge_feat: torch.Tensor) -> torch.Tensor:
        return self._sum_to_dst(node_feat.index_select(0, self.src) * edge_feat)

    def copy_e_sum(self, edge_feat: torch.Tensor) -> torch.Tensor:
        return self._sum_to_dst(edge_feat)


class NativeBackend(GraphBackend):
    name = "native"

    def graph(self, src: torch.Tensor, dst: torch.Tensor, num_nodes: int) -> NativeGraph:
        return NativeGraph(src.long(), dst.long(), int(num_nodes))
