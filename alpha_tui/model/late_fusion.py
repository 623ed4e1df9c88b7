"""The non-concat late-fusion heads of the users' SAGE-2.1 fork (``fusion_module.*``).

Each module maps the (possibly cross-attended) graph and text vectors [B, d] to one
fused vector [B, o] that ``fc`` reads; there is no ``fc1`` in these variants. The
attribute names are the users' state_dict names, so the formulas below are fixed by
their checkpoints (model-family.md, "Late fusion"). Dropout is the config's
``cross_modal_dropout`` in their code and vanishes in eval mode.
"""

from __future__ import annotations

import torch
from torch import nn

from alpha_tui.errors import UserError

LATE_FUSION_MODULES: tuple[str, ...] = ("gated", "bilinear", "adaptive", "tucker")


def _modality_gate(dim: int, dropout: float) -> nn.Sequential:
    """Scalar importance of one modality: Linear(d, d/2), ReLU, Dropout, Linear(d/2, 1), Sigmoid."""
    return nn.Sequential(
        nn.Linear(dim, dim // 2),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(dim // 2, 1),
        nn.Sigmoid(),
    )


class GatedFusion(nn.Module):
    """Per-crystal convex weights of the two modalities, then a shared transform."""

    def __init__(self, graph_dim: int, text_dim: int, output_dim: int, dropout: float = 0.1):
        super().__init__()
        self.gate_graph = _modality_gate(graph_dim, dropout)
        self.gate_text = _modality_gate(text_dim, dropout)
        self.graph_transform = nn.Linear(graph_dim, output_dim)
        self.text_transform = nn.Linear(text_dim, output_dim)
        self.fusion_transform = nn.Sequential(
            nn.Linear(output_dim, output_dim),
            nn.LayerNorm(output_dim),
            nn.ReLU(),
            nn.Dropout(dropout),
        )

    def forward(self, graph: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        wg, wt = self.gate_graph(graph), self.gate_text(text)
        total = wg + wt + 1e-8
        fused = wg / total * self.graph_transform(graph) + wt / total * self.text_transform(text)
        return self.fusion_transform(fused)


class BilinearFusion(nn.Module):
    """Low-rank bilinear pooling: sum over ``rank`` of elementwise products."""

    def __init__(
        self, graph_dim: int, text_dim: int, output_dim: int, rank: int, dropout: float = 0.1
    ):
        super().__init__()
        self.rank = rank
        self.output_dim = output_dim
        self.graph_proj = nn.Linear(graph_dim, rank * output_dim, bias=False)
        self.text_proj = nn.Linear(text_dim, rank * output_dim, bias=False)
        self.layer_norm = nn.LayerNorm(output_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, graph: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        shape = (graph.shape[0], self.rank, self.output_dim)
        product = self.graph_proj(graph).view(shape) * self.text_proj(text).view(shape)
        return self.dropout(self.layer_norm(product.sum(dim=1)))


class AdaptiveFusion(nn.Module):
    """A softmax-weighted mix of sum, product and gated fusion of the aligned vectors."""

    def __init__(self, graph_dim: int, text_dim: int, output_dim: int, dropout: float = 0.1):
        super().__init__()
        self.graph_align = nn.Linear(graph_dim, output_dim)
        self.text_align = nn.Linear(text_dim, output_dim)
        self.fusion_selector = nn.Sequential(
            nn.Linear(2 * output_dim, output_dim),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(output_dim, 3),
            nn.Softmax(dim=-1),
        )
        self.gate_net = nn.Sequential(nn.Linear(2 * output_dim, output_dim), nn.Sigmoid())
        self.layer_norm = nn.LayerNorm(output_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, graph: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        ga, ta = self.graph_align(graph), self.text_align(text)
        both = torch.cat([ga, ta], dim=-1)
        w = self.fusion_selector(both)
        gate = self.gate_net(both)
        fused = w[:, 0:1] * (ga + ta) + w[:, 1:2] * (ga * ta) + w[:, 2:3] * (
            gate * ga + (1 - gate) * ta
        )
        return self.dropout(self.layer_norm(fused))


class TuckerFusion(nn.Module):
    """Outer product of rank-r factors of each modality, projected by a core layer."""

    def __init__(
        self, graph_dim: int, text_dim: int, output_dim: int, rank: int, dropout: float = 0.1
    ):
        super().__init__()
        self.rank = rank
        self.graph_factor = nn.Linear(graph_dim, rank, bias=False)
        self.text_factor = nn.Linear(text_dim, rank, bias=False)
        self.core_factor = nn.Linear(rank * rank, output_dim)
        self.layer_norm = nn.LayerNorm(output_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, graph: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        gc, tc = self.graph_factor(graph), self.text_factor(text)
        core = (gc.unsqueeze(2) * tc.unsqueeze(1)).reshape(graph.shape[0], -1)
        return self.dropout(self.layer_norm(self.core_factor(core)))


def make_fusion_module(
    kind: str, dim: int, output_dim: int, rank: int, dropout: float = 0.1
) -> nn.Module:
    """The ``fusion_module`` of late-fusion type ``kind`` for d=``dim`` inputs."""
    if kind == "gated":
        if dim < 2:
            raise UserError(f"gated late fusion needs a projection width >= 2, got {dim}")
        return GatedFusion(dim, dim, output_dim, dropout)
    if kind == "bilinear":
        return BilinearFusion(dim, dim, output_dim, rank, dropout)
    if kind == "adaptive":
        return AdaptiveFusion(dim, dim, output_dim, dropout)
    if kind == "tucker":
        return TuckerFusion(dim, dim, output_dim, rank, dropout)
    raise UserError(
        f"unknown late_fusion_type {kind!r}; expected concat or one of {LATE_FUSION_MODULES}"
    )
