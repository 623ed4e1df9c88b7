"""The batched crystal graph the network consumes, backend-neutral.

A batch holds B crystals: the atom graph (nodes = atoms, directed edges = bonds to
periodic neighbours) and its line graph (nodes = bonds, edges = bond pairs sharing
an atom, u->v followed by v->w). Graph backends (``model.backends``) turn the index
tensors into message passing; this record is what data hands to the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class GraphBatch:
    atom_features: torch.Tensor  # [N, 92] float32, CGCNN encoding
    src: torch.Tensor  # [E] int64, bond source atom (batch-global index)
    dst: torch.Tensor  # [E] int64, bond destination atom
    bond_r: torch.Tensor  # [E, 3] float32, displacement src -> dst image
    lg_src: torch.Tensor  # [T] int64, line-graph edge from bond lg_src ...
    lg_dst: torch.Tensor  # [T] int64, ... to bond lg_dst (lg_src's dst == lg_dst's src)
    angle_cos: torch.Tensor  # [T] float32, bond-angle cosine in [-1, 1]
    batch_num_nodes: torch.Tensor  # [B] int64 atoms per crystal
    batch_num_edges: torch.Tensor  # [B] int64 bonds per crystal
    text: torch.Tensor  # [B, T_in] float32, text-encoder CLS embedding per crystal
    # Every token's last hidden state, for fine-grained attention only; None when the
    # text came as CLS vectors alone (then that head cannot run, and says so).
    text_tokens: torch.Tensor | None = None  # [B, L, T_in] float32, padded per crystal
    text_token_mask: torch.Tensor | None = None  # [B, L] bool, True for real tokens

    @property
    def num_nodes(self) -> int:
        return int(self.atom_features.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.src.shape[0])

    @property
    def num_crystals(self) -> int:
        return int(self.batch_num_nodes.shape[0])

    def to(self, device: torch.device | str) -> GraphBatch:
        return GraphBatch(
            **{k: None if v is None else v.to(device) for k, v in self.__dict__.items()}
        )
