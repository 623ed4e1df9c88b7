"""Atom-token attention (``fine_grained_attention.*``) of the users' SAGE-2.1 fork.

It runs after the GCN layers, before pooling: every atom attends over every text
token of its own crystal (padded tokens masked), every token over the atoms (padded
atoms masked), each side gets ``layer_norm(original + context)``. Only the atoms go
on to the prediction; the enhanced tokens are computed too because the users' module
computes them and hooks may want them. Names are the users' state_dict names.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from alpha_tui.errors import UserError


def pad_per_crystal(
    x: torch.Tensor, batch_num_nodes: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """[N, H] atom rows -> ([B, max_atoms, H] zero-padded, [B, max_atoms] bool mask)."""
    counts = batch_num_nodes.to(device=x.device, dtype=torch.long)
    batch, width = int(counts.shape[0]), int(counts.max().item()) if counts.numel() else 0
    mask = torch.arange(width, device=x.device).unsqueeze(0) < counts.unsqueeze(1)
    padded = x.new_zeros((batch, width, x.shape[1]))
    padded[mask] = x  # row-major order of the mask is the batch's atom order
    return padded, mask


class FineGrainedAttention(nn.Module):
    """Bidirectional multi-head attention between atoms and text tokens."""

    def __init__(
        self,
        node_dim: int,
        token_dim: int,
        hidden_dim: int = 256,
        num_heads: int = 8,
        dropout: float = 0.1,
        use_projection: bool = True,
    ) -> None:
        super().__init__()
        if num_heads < 1 or hidden_dim % num_heads:
            raise UserError(
                f"fine_grained_hidden_dim {hidden_dim} is not divisible by "
                f"fine_grained_num_heads {num_heads}; check the config"
            )
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.head_dim = hidden_dim // num_heads
        self.scale = self.head_dim**-0.5
        self.token_dim = token_dim
        self.use_projection = use_projection
        node_in = hidden_dim if use_projection else node_dim
        token_in = hidden_dim if use_projection else token_dim
        if use_projection:
            self.node_proj_in = nn.Linear(node_dim, hidden_dim)
            self.token_proj_in = nn.Linear(token_dim, hidden_dim)
        self.a2t_query = nn.Linear(node_in, hidden_dim)
        self.a2t_key = nn.Linear(token_in, hidden_dim)
        self.a2t_value = nn.Linear(token_in, hidden_dim)
        self.t2a_query = nn.Linear(token_in, hidden_dim)
        self.t2a_key = nn.Linear(node_in, hidden_dim)
        self.t2a_value = nn.Linear(node_in, hidden_dim)
        self.node_output = nn.Linear(hidden_dim, node_dim)
        self.token_output = nn.Linear(hidden_dim, token_dim)
        self.dropout = nn.Dropout(dropout)
        self.layer_norm_node = nn.LayerNorm(node_dim)
        self.layer_norm_token = nn.LayerNorm(token_dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, _ = x.shape
        return x.view(batch, seq, self.num_heads, self.head_dim).permute(0, 2, 1, 3)

    def _attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor
    ) -> torch.Tensor:
        scores = torch.matmul(self._heads(q), self._heads(k).transpose(-2, -1)) * self.scale
        scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        context = torch.matmul(self.dropout(F.softmax(scores, dim=-1)), self._heads(v))
        batch, _, seq, _ = context.shape
        return context.permute(0, 2, 1, 3).reshape(batch, seq, self.hidden_dim)

    def forward(
        self,
        nodes: torch.Tensor,
        tokens: torch.Tensor,
        node_mask: torch.Tensor,
        token_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """nodes [B, A, node_dim], tokens [B, L, token_dim], masks True for real rows."""
        n, t = nodes, tokens
        if self.use_projection:
            n, t = self.node_proj_in(nodes), self.token_proj_in(tokens)
        a2t = self._attend(self.a2t_query(n), self.a2t_key(t), self.a2t_value(t), token_mask)
        t2a = self._attend(self.t2a_query(t), self.t2a_key(n), self.t2a_value(n), node_mask)
        enhanced_nodes = self.layer_norm_node(nodes + self.node_output(a2t))
        enhanced_tokens = self.layer_norm_token(tokens + self.token_output(t2a))
        return enhanced_nodes, enhanced_tokens
