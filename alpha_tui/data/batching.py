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


def pad_tokens(states: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Ragged per-crystal token states [L_i, T] -> ([B, L, T] float32, [B, L] bool mask).

    Padded to the longest text of this batch with zeros, as the users' tokenizer pads
    each batch; the mask is True exactly on real tokens.
    """
    width = int(states[0].shape[1])
    length = max(int(s.shape[0]) for s in states)
    tokens = np.zeros((len(states), length, width), dtype=np.float32)
    mask = np.zeros((len(states), length), dtype=bool)
    for i, s in enumerate(states):
        if s.ndim != 2 or s.shape[1] != width:
            raise ValueError(f"token states must be [L, {width}], got {list(s.shape)}")
        tokens[i, : s.shape[0]] = s
        mask[i, : s.shape[0]] = True
    return torch.from_numpy(tokens), torch.from_numpy(mask)


def collate(
    graphs: Sequence[CrystalGraph],
    text: np.ndarray,
    text_tokens: Sequence[np.ndarray] | None = None,
) -> GraphBatch:
    """Batch ``graphs`` with one text-embedding row per crystal (``text`` is [B, T_in]).

    ``text_tokens`` (one [L_i, T_in] array per crystal) is only given for models with
    fine-grained attention; it becomes the padded ``text_tokens`` / ``text_token_mask``.
    """
    if len(graphs) == 0:
        raise ValueError("collate needs at least one graph")
    text = np.asarray(text, dtype=np.float32)
    if text.ndim != 2 or text.shape[0] != len(graphs):
        raise ValueError(f"text must be [{len(graphs)}, T_in], got {list(text.shape)}")

    num_nodes = np.array([g.num_nodes for g in graphs], dtype=np.int64)
    num_edges = np.array([g.num_edges for g in graphs], dtype=np.int64)
    node_offset = np.concatenate(([0], np.cumsum(num_nodes)[:-1]))
    edge_offset = np.concatenate(([0], np.cumsum(num_edges)[:-1]))

    tokens = mask = None
    if text_tokens is not None:
        if len(text_tokens) != len(graphs):
            raise ValueError(f"{len(text_tokens)} token arrays for {len(graphs)} graphs")
        tokens, mask = pad_tokens(text_tokens)

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
        text_tokens=tokens,
        text_token_mask=mask,
    )
