"""The multimodal ALIGNN network of model-family.md, backend-neutral.

Module attributes carry the users' state_dict names so their checkpoints load with
``load_state_dict``; ``backend`` is a plain attribute (not a submodule) so it can be
swapped between calls without touching the weights.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from alpha_tui.checkpoint.config import ModelConfig
from alpha_tui.errors import UserError
from alpha_tui.model.backends.base import GraphBackend
from alpha_tui.model.backends.native import NativeBackend
from alpha_tui.model.fine_grained import FineGrainedAttention, pad_per_crystal
from alpha_tui.model.fusion import CrossModalAttention, MiddleFusionModule
from alpha_tui.model.graph import GraphBatch
from alpha_tui.model.late_fusion import LATE_FUSION_MODULES, make_fusion_module
from alpha_tui.model.layers import (
    ALIGNNConv,
    EdgeGatedGraphConv,
    MLPLayer,
    ProjectionHead,
    RBFExpansion,
)

LINKS: tuple[str, ...] = ("identity", "log", "logit")
LATE_FUSIONS: tuple[str, ...] = ("average", "concat", "none", *LATE_FUSION_MODULES)
TOKENS_REASON = (
    "fine-grained attention needs every token's hidden state: give --text-encoder DIR "
    "or a token-level embeddings file"
)


@dataclass(frozen=True)
class NetworkVariant:
    """Differences between forks of the users' code, as read from the weights.

    ``late_fusion``: "average" ((g+t)/2 into fc1 of width P; the d412350 fork and
    model-family.md's original), "concat" (cat(g, t) into fc1 of width 2P; SAGE-2.1),
    "gated"/"bilinear"/"adaptive"/"tucker" (SAGE-2.1 ``fusion_module``, no fc1), "none"
    (a head we do not implement; no fc1). ``None`` in any field means "from the config".
    ``fc_bias_scalar``: the log link's constructor stores ``fc.bias`` as a 0-d tensor.
    ``unimplemented`` names the checkpoint groups we cannot run; when non-empty the
    layers still run but ``forward`` returns None.
    """

    late_fusion: str | None = None
    late_fusion_rank: int | None = None
    late_fusion_output_dim: int | None = None
    fc_in_features: int | None = None
    fc_bias_scalar: bool | None = None
    fusion_text_scale: bool | None = None
    fusion_gate_norm: bool | None = None
    fine_grained: bool | None = None
    fine_grained_hidden_dim: int | None = None
    fine_grained_use_projection: bool | None = None
    fine_grained_token_dim: int | None = None
    unimplemented: tuple[str, ...] = ()


def setting(config: ModelConfig, name: str, default: Any) -> Any:
    """A config field whether typed on ModelConfig or kept in ``extra`` (untyped)."""
    if hasattr(config, name):
        return getattr(config, name)
    value = config.extra.get(name)
    return default if value is None else value


def fusion_flags(config: ModelConfig, variant: NetworkVariant) -> tuple[bool, bool]:
    """(text_scale, gate_norm) of the middle-fusion modules: weights first, then config.

    SAGE-2.1's module always registers ``text_scale`` (a buffer, or a Parameter when
    learnable), so a config that states a SAGE-2.1 ``late_fusion_type`` implies the
    key; older forks have neither.
    """
    scale = variant.fusion_text_scale
    if scale is None:
        learnable = bool(setting(config, "middle_fusion_use_learnable_scale", False))
        scale = learnable or bool(str(setting(config, "late_fusion_type", "") or ""))
    norm = variant.fusion_gate_norm
    if norm is None:
        norm = bool(setting(config, "middle_fusion_use_gate_norm", False))
    return bool(scale), bool(norm)


def default_late_fusion(config: ModelConfig) -> str:
    """The head the config describes: SAGE-2.1 ``late_fusion_type``, else the older forks'.

    Forks without ``late_fusion_type`` averaged the cross-attended vectors (d412350)
    or named the choice ``fusion_strategy`` (150bb67); without cross-modal attention
    every fork concatenates.
    """
    declared = str(setting(config, "late_fusion_type", "") or "").lower()
    if declared:
        return declared
    strategy = str(setting(config, "fusion_strategy", "") or "").lower()
    if strategy in ("average", "concat"):
        return strategy
    return "average" if config.use_cross_modal_attention else "concat"


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
        text_scale, gate_norm = fusion_flags(config, variant)
        self.middle_fusion_modules = nn.ModuleDict(
            {
                f"layer_{k}": MiddleFusionModule(
                    hidden,
                    proj,
                    config.middle_fusion_hidden_dim,
                    config.middle_fusion_dropout,
                    use_text_scale=text_scale,
                    use_gate_norm=gate_norm,
                )
                for k in self.fusion_layer_indices
            }
        )

        dropout = float(setting(config, "cross_modal_dropout", 0.1))
        self.cross_modal_attention: CrossModalAttention | None = None
        if config.use_cross_modal_attention:
            self.cross_modal_attention = CrossModalAttention(
                proj,
                proj,
                config.cross_modal_hidden_dim,
                config.cross_modal_num_heads,
                dropout=dropout,
            )
        self.fine_grained_attention = self._fine_grained(config, variant)
        self._build_head(config, variant, dropout)

        self.link_name = config.link
        self.classification = config.classification
        self.unimplemented: tuple[str, ...] = tuple(variant.unimplemented)
        # Why the last forward returned no prediction (None when it returned one).
        self.unavailable_reason: str | None = None

    @staticmethod
    def _fine_grained(config: ModelConfig, variant: NetworkVariant) -> FineGrainedAttention | None:
        enabled = variant.fine_grained
        if enabled is None:
            enabled = config.use_fine_grained_attention
        if not enabled:
            return None
        use_projection = variant.fine_grained_use_projection
        if use_projection is None:
            use_projection = bool(setting(config, "fine_grained_use_projection", True))
        return FineGrainedAttention(
            config.hidden_features,
            variant.fine_grained_token_dim or config.text_input_features,
            variant.fine_grained_hidden_dim or int(setting(config, "fine_grained_hidden_dim", 256)),
            int(setting(config, "fine_grained_num_heads", 8)),
            dropout=float(setting(config, "fine_grained_dropout", 0.1)),
            use_projection=use_projection,
        )

    def _build_head(self, config: ModelConfig, variant: NetworkVariant, dropout: float) -> None:
        """fc1 + fc (average, concat), fusion_module + fc (SAGE-2.1 heads) or fc alone."""
        proj = config.projection_dim
        self.late_fusion = variant.late_fusion or default_late_fusion(config)
        if self.late_fusion not in LATE_FUSIONS:
            raise UserError(
                f"unknown late_fusion_type {self.late_fusion!r} in the config; expected one of "
                f"{LATE_FUSIONS[1:]}"
            )
        self.fc1: nn.Linear | None = None
        self.fusion_module: nn.Module | None = None
        fc_in = proj
        if self.late_fusion == "average":
            self.fc1 = nn.Linear(proj, proj)
        elif self.late_fusion == "concat":
            self.fc1 = nn.Linear(2 * proj, proj)
        elif self.late_fusion == "none":
            fc_in = variant.fc_in_features or proj
        else:
            fc_in = variant.late_fusion_output_dim or int(
                setting(config, "late_fusion_output_dim", 64)
            )
            rank = variant.late_fusion_rank or int(setting(config, "late_fusion_rank", 16))
            self.fusion_module = make_fusion_module(self.late_fusion, proj, fc_in, rank, dropout)
        self.fc = nn.Linear(fc_in, config.output_features)
        scalar = variant.fc_bias_scalar
        if scalar is None:
            scalar = config.link == "log"
        if scalar:
            # What the users' log-link constructor leaves behind: a 0-d bias (shape []).
            self.fc.bias = nn.Parameter(torch.tensor(math.log(0.7)))

    @property
    def needs_text_tokens(self) -> bool:
        """True when predictions need every token's hidden state (fine-grained attention)."""
        return self.fine_grained_attention is not None

    @property
    def prediction_available(self) -> bool:
        """Whether the head can run at all; a fine-grained model also needs token states."""
        return not self.unimplemented and self.late_fusion != "none"

    def _link(self, out: torch.Tensor) -> torch.Tensor:
        # The users' forward: link, then a sigmoid for classification (after the link,
        # whatever the number of outputs).
        if self.link_name == "log":
            out = torch.exp(out)
        elif self.link_name == "logit":
            out = torch.sigmoid(out)
        if self.classification:
            out = torch.sigmoid(out)
        return out

    def _head(self, graph64: torch.Tensor, text64: torch.Tensor) -> torch.Tensor:
        if self.cross_modal_attention is not None:
            graph64, text64 = self.cross_modal_attention(graph64, text64)
        if self.fusion_module is not None:
            return self.fc(self.fusion_module(graph64, text64))
        assert self.fc1 is not None
        if self.late_fusion == "average":
            h = (graph64 + text64) / 2
        else:
            h = torch.cat([graph64, text64], dim=1)
        return self.fc(F.relu(self.fc1(h)))

    def _attend_tokens(self, x: torch.Tensor, batch: GraphBatch) -> torch.Tensor:
        assert self.fine_grained_attention is not None and batch.text_tokens is not None
        tokens = batch.text_tokens.to(x.dtype)
        mask = batch.text_token_mask
        if mask is None:
            mask = torch.ones(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
        width = self.fine_grained_attention.token_dim
        if tokens.ndim != 3 or tokens.shape[0] != batch.num_crystals or tokens.shape[2] != width:
            raise UserError(
                f"token states are {list(tokens.shape)} but fine_grained_attention reads "
                f"[{batch.num_crystals}, tokens, {width}]; encode the text with the model's encoder"
            )
        if not bool(mask.any(dim=1).all()):
            raise UserError("a crystal has no text token (empty description); check the text")
        nodes, node_mask = pad_per_crystal(x, batch.batch_num_nodes)
        enhanced, _ = self.fine_grained_attention(nodes, tokens, node_mask, mask.bool())
        return enhanced[node_mask]

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
            self.unavailable_reason = (
                f"{', '.join(self.unimplemented) or 'the late-fusion head'} is not implemented"
            )
            return None
        if self.fine_grained_attention is not None:
            if batch.text_tokens is None:
                self.unavailable_reason = TOKENS_REASON
                return None
            x = self._attend_tokens(x, batch)
        self.unavailable_reason = None
        out = self._link(self._head(self.graph_projection(mean_pool(x, counts)), text64))
        return out[:, 0] if out.shape[1] == 1 else out


def init_like_alignn(network: MultimodalALIGNN) -> None:
    """alignn starts the ``log`` link at the mean band gap (fc bias = log 0.7)."""
    if network.link_name == "log":
        with torch.no_grad():
            network.fc.bias.fill_(math.log(0.7))
