"""Building blocks of the reference network, named exactly as in the users' state_dicts.

Attribute names are part of the contract: they are the checkpoint keys
(``src_gate.weight``, ``layer.1.running_var``, ``centers`` ...) and the names the
capture layer hooks. Message passing goes through the backend graph object, so the
same module runs on the native torch backend and on DGL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F

from alpha_tui.model.fused_conv import can_fuse, fused_forward

if TYPE_CHECKING:
    from alpha_tui.model.backends.base import BackendGraph


class RBFExpansion(nn.Module):
    """Gaussian basis on a fixed grid; ``centers`` is a persistent buffer as in alignn."""

    def __init__(self, vmin: float = 0.0, vmax: float = 8.0, bins: int = 40) -> None:
        super().__init__()
        self.vmin = float(vmin)
        self.vmax = float(vmax)
        self.bins = int(bins)
        self.register_buffer("centers", torch.linspace(self.vmin, self.vmax, self.bins))
        # alignn fixes gamma at construction from its own float32 grid; loading a
        # checkpoint replaces the centers but not gamma, and we keep that behaviour.
        spacing = torch.diff(self.centers).mean().item() if self.bins > 1 else 1.0
        self.gamma = 1.0 / spacing

    def forward(self, distance: torch.Tensor) -> torch.Tensor:
        return torch.exp(-self.gamma * (distance.unsqueeze(1) - self.centers) ** 2)


class MLPLayer(nn.Module):
    """Linear -> BatchNorm1d -> SiLU under ``.layer`` (keys ``layer.0.*``, ``layer.1.*``)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.layer = nn.Sequential(
            nn.Linear(in_features, out_features),
            nn.BatchNorm1d(out_features),
            nn.SiLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class EdgeGatedGraphConv(nn.Module):
    """Edge-gated convolution of model-family.md: sigmoid edge gates, normalised sum.

    For edge u->v: ``m = src_gate(x)[u] + dst_gate(x)[v] + edge_gate(y)``; nodes get
    ``x + dropout(silu(bn_nodes(src_update(x) + h)))`` with ``h_v`` the gate-weighted
    mean of ``dst_update(x)[u]``; edges get ``y + dropout(silu(bn_edges(m)))``.
    """

    def __init__(self, features: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.src_gate = nn.Linear(features, features)
        self.dst_gate = nn.Linear(features, features)
        self.edge_gate = nn.Linear(features, features)
        self.bn_edges = nn.BatchNorm1d(features)
        self.src_update = nn.Linear(features, features)
        self.dst_update = nn.Linear(features, features)
        self.bn_nodes = nn.BatchNorm1d(features)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self, g: BackendGraph, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if can_fuse(self, g):
            return fused_forward(self, g, x, y)
        return self.plain_forward(g, x, y)

    def plain_forward(
        self, g: BackendGraph, x: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One module call per Linear and the three backend ops (the DGL path, the reference)."""
        m = g.u_add_v(self.src_gate(x), self.dst_gate(x)) + self.edge_gate(y)
        sigma = torch.sigmoid(m)
        sum_sigma_h = g.u_mul_e_sum(self.dst_update(x), sigma)
        sum_sigma = g.copy_e_sum(sigma)
        h = sum_sigma_h / (sum_sigma + 1e-6)
        x_new = x + self.dropout(F.silu(self.bn_nodes(self.src_update(x) + h)))
        y_new = y + self.dropout(F.silu(self.bn_edges(m)))
        return x_new, y_new


class ALIGNNConv(nn.Module):
    """Atom-graph update, then the line-graph update fed with the new bond features."""

    def __init__(self, features: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.node_update = EdgeGatedGraphConv(features, dropout)
        self.edge_update = EdgeGatedGraphConv(features, dropout)

    def forward(
        self,
        g: BackendGraph,
        lg: BackendGraph,
        x: torch.Tensor,
        y: torch.Tensor,
        z: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, m = self.node_update(g, x, y)
        y, z = self.edge_update(lg, m, z)
        return x, y, z


class ProjectionHead(nn.Module):
    """``layer_norm(dropout(fc(gelu(p))) + p)`` with ``p = projection(x)``."""

    def __init__(self, in_features: int, out_features: int = 64, dropout: float = 0.1) -> None:
        super().__init__()
        self.projection = nn.Linear(in_features, out_features)
        self.gelu = nn.GELU()
        self.fc = nn.Linear(out_features, out_features)
        self.dropout = nn.Dropout(dropout)
        self.layer_norm = nn.LayerNorm(out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        projected = self.projection(x)
        return self.layer_norm(self.dropout(self.fc(self.gelu(projected))) + projected)
