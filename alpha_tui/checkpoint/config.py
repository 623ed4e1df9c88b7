"""The model configuration alpha-tui needs, independent of the user's pydantic class.

Users pickle an ``ALIGNNConfig`` from a module that does not exist where the
checkpoint is inspected, so we keep our own plain record of the fields that change
the network's shape or behaviour (see ``shared/docs/model-family.md``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

# Names users' configs also give the BERT width (text_input_features).
TEXT_WIDTH_ALIASES: tuple[str, ...] = ("text_embedding_dim", "text_dim", "bert_hidden_size")


def parse_fusion_layers(value: Any) -> tuple[int, ...]:
    """Accept "2", "2,3", 2, [2, 3] and return sorted unique 0-based indices."""
    if value is None or value == "":
        return ()
    if isinstance(value, int):
        return (value,)
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
        return tuple(sorted({int(p) for p in parts}))
    return tuple(sorted({int(v) for v in value}))


@dataclass(frozen=True)
class ModelConfig:
    alignn_layers: int = 4
    gcn_layers: int = 4
    atom_input_features: int = 92
    edge_input_features: int = 80
    triplet_input_features: int = 40
    embedding_features: int = 64
    hidden_features: int = 256
    output_features: int = 1
    graph_dropout: float = 0.0
    use_cross_modal_attention: bool = True
    cross_modal_hidden_dim: int = 256
    cross_modal_num_heads: int = 4
    cross_modal_dropout: float = 0.1
    # SAGE-2.1 late fusion. "" = the config does not say (forks before SAGE-2.1 had no
    # such field and averaged; the weights decide); their own default is "concat".
    late_fusion_type: str = ""
    late_fusion_rank: int = 16
    late_fusion_output_dim: int = 64
    use_middle_fusion: bool = False
    middle_fusion_layers: tuple[int, ...] = (2,)
    middle_fusion_hidden_dim: int = 128
    middle_fusion_dropout: float = 0.1
    middle_fusion_num_heads: int = 2
    middle_fusion_use_gate_norm: bool = False
    middle_fusion_use_learnable_scale: bool = False
    middle_fusion_initial_scale: float = 1.0
    use_fine_grained_attention: bool = False
    fine_grained_hidden_dim: int = 256
    fine_grained_num_heads: int = 8
    fine_grained_dropout: float = 0.1
    fine_grained_use_projection: bool = True
    link: str = "identity"
    classification: bool = False
    text_input_features: int = 768
    projection_dim: int = 64
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def fusion_layers(self) -> tuple[int, ...]:
        """ALIGNN layer indices that carry a middle-fusion module (empty when disabled)."""
        return self.middle_fusion_layers if self.use_middle_fusion else ()

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from any dict-like config; unknown keys are kept in ``extra``."""
        known = {f.name for f in fields(cls)} - {"extra"}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in data.items():
            if key in known:
                kwargs[key] = value
            else:
                extra[key] = value
        if "middle_fusion_layers" in kwargs:
            kwargs["middle_fusion_layers"] = parse_fusion_layers(kwargs["middle_fusion_layers"])
        if "link" in kwargs and kwargs["link"] is not None:
            kwargs["link"] = str(kwargs["link"])
        for alias in TEXT_WIDTH_ALIASES:
            if alias in extra and "text_input_features" not in kwargs:
                kwargs["text_input_features"] = int(extra[alias])
        return cls(**kwargs, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["middle_fusion_layers"] = list(self.middle_fusion_layers)
        data.pop("extra")
        return data
