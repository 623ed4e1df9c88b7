"""Many crystal graphs -> one ``GraphBatch`` (what ``dgl.batch`` does for ALIGNN).

Node indices of crystal k are shifted by the atoms of crystals 0..k-1 and line-graph
indices (which point at bonds) by their bonds, so one disjoint graph carries the
whole batch and ``batch_num_nodes`` / ``batch_num_edges`` recover the crystals.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from alpha_tui.data.graphs import CrystalGraph
from alpha_tui.model.graph import GraphBatch


def collate(graphs: Sequence[CrystalGraph], text: np.ndarray) -> GraphBatch:
    """Batch ``graphs`` with one text-embedding row per crystal (``text`` is [B, T_in])."""
    if len(graphs) == 0:
        raise ValueError("collate needs at least one graph")
    text = np.asarray(text, dtype=np.float32)
    if text.ndim != 2 or text.shape[0] != len(graphs):
        raise ValueError(f"text must be [{len(graphs)}, T_in], got {list(text.shape)}")

    num_nodes = np.array([g.num_nodes for g in graphs], dtype=np.int64)
    num_edges = np.array([g.num_edges for g in graphs], dtype=np.int64)
    node_offset = np.concatenate(([0], np.cumsum(num_nodes)[:-1]))
    edge_offset = np.concatenate(([0], np.cumsum(num_edges)[:-1]))

    def cat(parts: list[np.ndarray], dtype: type) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(np.concatenate(parts).astype(dtype)))

    return GraphBatch(
        atom_features=cat([g.atom_features for g in graphs], np.float32),
        src=cat([g.src + o for g, o in zip(graphs, node_offset, strict=True)], np.int64),
        dst=cat([g.dst + o for g, o in zip(graphs, node_offset, strict=True)], np.int64),
        bond_r=cat([g.r.reshape(-1, 3) for g in graphs], np.float32),
        lg_src=cat([g.lg_src + o for g, o in zip(graphs, edge_offset, strict=True)], np.int64),
        lg_dst=cat([g.lg_dst + o for g, o in zip(graphs, edge_offset, strict=True)], np.int64),
        angle_cos=cat([g.angle_cos for g in graphs], np.float32),
        batch_num_nodes=torch.from_numpy(num_nodes),
        batch_num_edges=torch.from_numpy(num_edges),
        text=torch.from_numpy(np.ascontiguousarray(text)),
    )
