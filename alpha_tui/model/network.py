"""The multimodal ALIGNN network of model-family.md, backend-neutral.

Module attributes carry the users' state_dict names so their checkpoints load with
``load_state_dict``; ``backend`` is a plain attribute (not a submodule) so it can be
swapped between calls without touching the weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from alpha_tui.checkpoint.config import ModelConfig
from alpha_tui.errors import UserError
from alpha_tui.model.backends.base import GraphBackend
from alpha_tui.model.backends.native import NativeBackend
from alpha_tui.model.fusion import CrossModalAttention, MiddleFusionModule
from alpha_tui.model.graph import GraphBatch
from alpha_tui.model.layers import (
    ALIGNNConv,
    EdgeGatedGraphConv,
    MLPLayer,
    ProjectionHead,
    RBFExpansion,
)

LINKS: tuple[str, ...] = ("identity", "log", "logit")
LATE_FUSIONS: tuple[str, ...] = ("average", "concat", "none")


@dataclass(frozen=True)
class NetworkVariant:
    """Differences between forks of the users' code that only the state_dict reveals.

    ``late_fusion``: "average" ((g+t)/2 into fc1 of width P, model-family.md),
    "concat" (cat(g, t) into fc1 of width 2P, a later fork), "none" (a head we do not
    implement; no fc1). None means the config default. ``unimplemented`` names the
    checkpoint groups we cannot run (e.g. "fine_grained_attention"); when non-empty
    the layers still run but ``forward`` returns None.
    """

    late_fusion: str | None = None
    fc_in_features: int | None = None
    fusion_text_scale: bool = False
    fusion_gate_norm: bool = False
    unimplemented: tuple[str, ...] = ()


def default_late_fusion(config: ModelConfig) -> str:
    if not config.use_cross_modal_attention:
        return "concat"
    declared = str(config.extra.get("late_fusion_type", "") or "").lower()
    return "concat" if declared == "concat" else "average"


def mean_pool(x: torch.Tensor, batch_num_nodes: torch.Tensor) -> torch.Tensor:
    """Mean of the atom rows of each crystal ([N, H] -> [B, H]), like dgl AvgPooling."""
    counts = batch_num_nodes.to(device=x.device, dtype=torch.long)
    crystal = torch.arange(counts.shape[0], device=x.device)
    segment = torch.repeat_interleave(crystal, counts, output_size=x.shape[0])
    sums = x.new_zeros((counts.shape[0], x.shape[1])).index_add_(0, segment, x)
    return sums / counts.clamp(min=1).to(x.dtype).unsqueeze(1)


class MultimodalALIGNN(nn.Module):
    def __init__(
        self,
        config: ModelConfig,
        backend: GraphBackend | None = None,
        variant: NetworkVariant | None = None,
    ) -> None:
        super().__init__()
        variant = variant or NetworkVariant()
        if config.link not in LINKS:
            raise UserError(f"unknown link {config.link!r} in the config; expected one of {LINKS}")
        hidden, proj, emb = config.hidden_features, config.projection_dim, config.embedding_features
        self.config = config
        self.backend: GraphBackend = backend if backend is not None else NativeBackend()

        self.atom_embedding = MLPLayer(config.atom_input_features, hidden)
        self.edge_embedding = nn.Sequential(
            RBFExpansion(0.0, 8.0, config.edge_input_features),
            MLPLayer(config.edge_input_features, emb),
            MLPLayer(emb, hidden),
        )
        self.angle_embedding = nn.Sequential(
            RBFExpansion(-1.0, 1.0, config.triplet_input_features),
            MLPLayer(config.triplet_input_features, emb),
            MLPLayer(emb, hidden),
        )
        self.alignn_layers = nn.ModuleList(
            [ALIGNNConv(hidden, config.graph_dropout) for _ in range(config.alignn_layers)]
        )
        self.gcn_layers = nn.ModuleList(
            [EdgeGatedGraphConv(hidden, config.graph_dropout) for _ in range(config.gcn_layers)]
        )
        self.graph_projection = ProjectionHead(hidden, proj)
        self.text_projection = ProjectionHead(config.text_input_features, proj)

        self.fusion_layer_indices: tuple[int, ...] = tuple(config.fusion_layers)
        self.middle_fusion_modules = nn.ModuleDict(
            {
                f"layer_{k}": MiddleFusionModule(
                    hidden,
                    proj,
                    config.middle_fusion_hidden_dim,
                    config.middle_fusion_dropout,
                    use_text_scale=variant.fusion_text_scale,
                    use_gate_norm=variant.fusion_gate_norm,
                )
                for k in self.fusion_layer_indices
            }
        )

        self.cross_modal_attention: CrossModalAttention | None = None
        if config.use_cross_modal_attention:
            self.cross_modal_attention = CrossModalAttention(
                proj,
                proj,
                config.cross_modal_hidden_dim,
                config.cross_modal_num_heads,
                dropout=float(config.extra.get("cross_modal_dropout", 0.1)),
            )

        self.late_fusion = variant.late_fusion or default_late_fusion(config)
        if self.late_fusion not in LATE_FUSIONS:
            raise ValueError(f"late_fusion must be one of {LATE_FUSIONS}")
        self.fc1: nn.Linear | None = None
        if self.late_fusion == "average":
            self.fc1 = nn.Linear(proj, proj)
        elif self.late_fusion == "concat":
            self.fc1 = nn.Linear(2 * proj, proj)
        fc_in = variant.fc_in_features if self.late_fusion == "none" else None
        self.fc = nn.Linear(fc_in or proj, config.output_features)

        self.link_name = config.link
        self.classification = config.classification
        self.unimplemented: tuple[str, ...] = tuple(variant.unimplemented)

    @property
    def prediction_available(self) -> bool:
        return not self.unimplemented and self.fc1 is not None

    def _link(self, out: torch.Tensor) -> torch.Tensor:
        if self.link_name == "log":
            out = torch.exp(out)
        elif self.link_name == "logit":
            out = torch.sigmoid(out)
        if self.classification:
            # alignn: LogSoftmax over class logits; a single-logit head (later fork) is
            # binary and uses a sigmoid, since a softmax over one logit is constant.
            out = F.log_softmax(out, dim=1) if out.shape[1] > 1 else torch.sigmoid(out)
        return out

    def _head(self, graph64: torch.Tensor, text64: torch.Tensor) -> torch.Tensor:
        assert self.fc1 is not None
        if self.cross_modal_attention is not None:
            graph64, text64 = self.cross_modal_attention(graph64, text64)
        if self.late_fusion == "average":
            h = (graph64 + text64) / 2
        else:
            h = torch.cat([graph64, text64], dim=1)
        return self.fc(F.relu(self.fc1(h)))

    def forward(self, batch: GraphBatch) -> torch.Tensor | None:
        g, lg = self.backend.prepare(batch)
        counts = batch.batch_num_nodes
        z = self.angle_embedding(batch.angle_cos) if len(self.alignn_layers) else None
        text64 = self.text_projection(batch.text)
        x = self.atom_embedding(batch.atom_features)
        y = self.edge_embedding(torch.norm(batch.bond_r, dim=1))
        for i, layer in enumerate(self.alignn_layers):
            x, y, z = layer(g, lg, x, y, z)
            if i in self.fusion_layer_indices:
                x = self.middle_fusion_modules[f"layer_{i}"](x, text64, counts)
        for layer in self.gcn_layers:
            x, y = layer(g, x, y)
        if not self.prediction_available:
            return None
        out = self._link(self._head(self.graph_projection(mean_pool(x, counts)), text64))
        return out[:, 0] if out.shape[1] == 1 else out


def init_like_alignn(network: MultimodalALIGNN) -> None:
    """alignn starts the ``log`` link at the mean band gap (fc bias = log 0.7)."""
    if network.link_name == "log":
        with torch.no_grad():
            network.fc.bias.fill_(math.log(0.7))
