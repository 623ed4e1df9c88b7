"""DGL message passing (``dgl.function`` built-ins) on graphs built from our indices.

Only ``select_backend`` imports this module, after setting ``DGLBACKEND``; importing
it anywhere else would make ``import alpha_tui.model`` fail on machines whose DGL
does not match torch.
"""

from __future__ import annotations

import os

os.environ.setdefault("DGLBACKEND", "pytorch")

import dgl  # noqa: E402
import dgl.function as fn  # noqa: E402
import torch  # noqa: E402

from alpha_tui.model.backends.base import GraphBackend  # noqa: E402


class DGLBackendGraph:
    """A ``dgl.DGLGraph`` behind the BackendGraph operations; ``dgl_graph`` is public."""

    def __init__(self, graph: dgl.DGLGraph) -> None:
        self.dgl_graph = graph

    @property
    def num_nodes(self) -> int:
        return int(self.dgl_graph.num_nodes())

    def u_add_v(self, src_feat: torch.Tensor, dst_feat: torch.Tensor) -> torch.Tensor:
        g = self.dgl_graph
        with g.local_scope():
            g.ndata["_src"] = src_feat
            g.ndata["_dst"] = dst_feat
            g.apply_edges(fn.u_add_v("_src", "_dst", "_out"))
            return g.edata["_out"]

    def u_mul_e_sum(self, node_feat: torch.Tensor, edge_feat: torch.Tensor) -> torch.Tensor:
        g = self.dgl_graph
        with g.local_scope():
            g.ndata["_h"] = node_feat
            g.edata["_w"] = edge_feat
            g.update_all(fn.u_mul_e("_h", "_w", "_m"), fn.sum("_m", "_out"))
            return g.ndata["_out"]

    def copy_e_sum(self, edge_feat: torch.Tensor) -> torch.Tensor:
        g = self.dgl_graph
        with g.local_scope():
            g.edata["_w"] = edge_feat
            g.update_all(fn.copy_e("_w", "_m"), fn.sum("_m", "_out"))
            return g.ndata["_out"]


class DGLBackend(GraphBackend):
    name = "dgl"

    def graph(self, src: torch.Tensor, dst: torch.Tensor, num_nodes: int) -> DGLBackendGraph:
        graph = dgl.graph(
            (src.long(), dst.long()),
            num_nodes=int(num_nodes),
            idtype=torch.int64,
            device=src.device,
        )
        return DGLBackendGraph(graph)
