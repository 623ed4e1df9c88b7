"""Text fusion: the mid-network sigmoid gate ("alpha") and the late cross-modal attention.

``MiddleFusionModule`` calls ``self.text_transform`` and ``self.gate`` as submodules on
purpose: the capture layer reads the full ``[N_atoms, H]`` gate and the ``[B, H]``
transformed text from forward hooks on them, instead of the users' ``stored_alphas``
(a per-atom mean over H that collapses the variance; see the seed report).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from alpha_tui.errors import UserError


def broadcast_to_atoms(per_crystal: torch.Tensor, batch_num_nodes: torch.Tensor) -> torch.Tensor:
    """Repeat row c of ``per_crystal`` once per atom of crystal c ([B, H] -> [N, H])."""
    counts = batch_num_nodes.to(device=per_crystal.device, dtype=torch.long)
    total = int(counts.sum().item()) if counts.numel() else 0
    return torch.repeat_interleave(per_crystal, counts, dim=0, output_size=total)


class MiddleFusionModule(nn.Module):
    """Gated injection of the projected text into the atom features of one ALIGNN layer.

    ``text_scale`` and ``gate_norm`` exist only in later forks of the users' code
    (a scalar buffer/parameter multiplying the transformed text, and a LayerNorm on the
    gate input); they are created only when the checkpoint carries them.
    """

    def __init__(
        self,
        node_dim: int,
        text_dim: int = 64,
        hidden_dim: int = 128,
        dropout: float = 0.1,
        *,
        use_text_scale: bool = False,
        use_gate_norm: bool = False,
    ) -> None:
        super().__init__()
        self.text_transform = nn.Sequential(
            nn.Linear(text_dim, hidden_dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden_dim, node_dim),
        )
        if use_text_scale:
            self.register_buffer("text_scale", torch.tensor(1.0))
        else:
            self.text_scale = None
        self.gate_norm = nn.LayerNorm(2 * node_dim) if use_gate_norm else None
        self.gate = nn.Sequential(nn.Linear(2 * node_dim, node_dim), nn.Sigmoid())
        self.layer_norm = nn.LayerNorm(node_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, text: torch.Tensor, batch_num_nodes: torch.Tensor
    ) -> torch.Tensor:
        t = self.text_transform(text)
        if self.text_scale is not None:
            t = t * self.text_scale
        t_b = broadcast_to_atoms(t, batch_num_nodes)
        gate_input = torch.cat([x, t_b], dim=-1)
        if self.gate_norm is not None:
            gate_input = self.gate_norm(gate_input)
        alpha = self.gate(gate_input)
        return self.dropout(self.layer_norm(x + alpha * t_b))


class CrossModalAttention(nn.Module):
    """Bidirectional multi-head attention between the pooled graph and the text vector.

    Follows the users' fork: queries/keys/values per direction, scaled dot product,
    softmax over keys, output projection, residual + LayerNorm. With one graph vector
    and one text vector per crystal the softmax is over a single key, so each context
    equals its value projection; the general formula is kept so hooks see real scores.
    """

    def __init__(
        self,
        graph_dim: int = 64,
        text_dim: int = 64,
        hidden_dim: int = 256,
        num_heads: int = 4,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        if num_heads < 1 or hidden_dim % num_heads:
            raise UserError(
                f"cross_modal_hidden_dim {hidden_dim} is not divisible by cross_modal_num_heads "
                f"{num_heads}; check the config"
            )
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.head_dim = hidden_dim // num_heads
        self.scale = self.head_dim**-0.5
        self.g2t_query = nn.Linear(graph_dim, hidden_dim)
        self.g2t_key = nn.Linear(text_dim, hidden_dim)
        self.g2t_value = nn.Linear(text_dim, hidden_dim)
        self.t2g_query = nn.Linear(text_dim, hidden_dim)
        self.t2g_key = nn.Linear(graph_dim, hidden_dim)
        self.t2g_value = nn.Linear(graph_dim, hidden_dim)
        self.graph_output = nn.Linear(hidden_dim, graph_dim)
        self.text_output = nn.Linear(hidden_dim, text_dim)
        self.dropout = nn.Dropout(dropout)
        self.layer_norm_graph = nn.LayerNorm(graph_dim)
        self.layer_norm_text = nn.LayerNorm(text_dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, _ = x.shape
        return x.view(batch, seq, self.num_heads, self.head_dim).permute(0, 2, 1, 3)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q, k, v = self._heads(q), self._heads(k), self._heads(v)
        weights = F.softmax(torch.matmul(q, k.transpose(-2, -1)) * self.scale, dim=-1)
        context = torch.matmul(self.dropout(weights), v)  # [B, heads, Sq, head_dim]
        batch, _, seq, _ = context.shape
        return context.permute(0, 2, 1, 3).reshape(batch, seq, self.hidden_dim)

    def forward(
        self, graph_feat: torch.Tensor, text_feat: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        g = graph_feat.unsqueeze(1)
        t = text_feat.unsqueeze(1)
        g2t = self._attend(self.g2t_query(g), self.g2t_key(t), self.g2t_value(t))
        t2g = self._attend(self.t2g_query(t), self.t2g_key(g), self.t2g_value(g))
        enhanced_graph = self.layer_norm_graph(graph_feat + self.graph_output(g2t).squeeze(1))
        enhanced_text = self.layer_norm_text(text_feat + self.text_output(t2g).squeeze(1))
        return enhanced_graph, enhanced_text
