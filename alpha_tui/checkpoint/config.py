"""The model configuration alpha-tui needs, independent of the user's pydantic class.

Users pickle an ``ALIGNNConfig`` from a module that does not exist where the
checkpoint is inspected, so we keep our own plain record of the fields that change
the network's shape or behaviour (see ``shared/docs/model-family.md``).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from alpha_tui.errors import UserError

# Names users' configs also give the BERT width (text_input_features).
TEXT_WIDTH_ALIASES: tuple[str, ...] = ("text_embedding_dim", "text_dim", "bert_hidden_size")


# Bounds on what a config may ask the network to be. A file cannot make alpha-tui
# build a 100,000-layer or 10^6-wide network: real ALIGNN configs stay far inside.
MAX_LAYERS = 64
MAX_WIDTH = 16384
MAX_HEADS = 256
_BOUNDED_INTS: dict[str, tuple[int, int]] = {
    "alignn_layers": (0, MAX_LAYERS),
    "gcn_layers": (0, MAX_LAYERS),
    "atom_input_features": (1, MAX_WIDTH),
    "edge_input_features": (1, MAX_WIDTH),
    "triplet_input_features": (1, MAX_WIDTH),
    "embedding_features": (1, MAX_WIDTH),
    "hidden_features": (1, MAX_WIDTH),
    "output_features": (1, MAX_WIDTH),
    "cross_modal_hidden_dim": (1, MAX_WIDTH),
    "cross_modal_num_heads": (1, MAX_HEADS),
    "middle_fusion_hidden_dim": (1, MAX_WIDTH),
    "middle_fusion_num_heads": (1, MAX_HEADS),
    "text_input_features": (1, MAX_WIDTH),
    "projection_dim": (1, MAX_WIDTH),
}
_PROBABILITIES = ("graph_dropout", "middle_fusion_dropout")
_FLAGS = (
    "use_cross_modal_attention",
    "use_middle_fusion",
    "use_fine_grained_attention",
    "classification",
)
LINKS = ("identity", "log", "logit")


class ConfigValueError(UserError):
    """A config field outside its domain: names the field, the value and what is allowed."""

    def __init__(self, name: str, value: Any, allowed: str) -> None:
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        super().__init__(
            f"config field {name}={shown} is invalid: allowed {allowed}; fix the config "
            "(or remove it to have the shapes inferred from the weights)"
        )
        self.field = name


def _layer_index(name: str, item: Any) -> int:
    allowed = f"integer layer indices 0..{MAX_LAYERS - 1}"
    if isinstance(item, bool):
        raise ConfigValueError(name, item, allowed)
    if isinstance(item, str):
        text = item.strip()
        if not re.fullmatch(r"[+]?\d{1,6}", text):
            raise ConfigValueError(name, item, allowed)
        number = int(text)
    elif isinstance(item, int):
        number = item
    elif isinstance(item, float) and math.isfinite(item) and item.is_integer():
        number = int(item)
    else:
        raise ConfigValueError(name, item, allowed)
    if not 0 <= number < MAX_LAYERS:
        raise ConfigValueError(name, item, allowed)
    return number


def parse_fusion_layers(value: Any) -> tuple[int, ...]:
    """Accept "2", "2,3", 2, [2, 3] and return sorted unique 0-based indices.

    Anything else (negative, fractional, infinite, absurd) is a ConfigValueError: the
    indices decide which modules are built, so a guess would silently change the model.
    """
    name = "middle_fusion_layers"
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
        return tuple(sorted({_layer_index(name, p) for p in parts}))
    if isinstance(value, list | tuple | set | frozenset):
        if len(value) > MAX_LAYERS:
            raise ConfigValueError(name, value, f"at most {MAX_LAYERS} layer indices")
        return tuple(sorted({_layer_index(name, v) for v in value}))
    return (_layer_index(name, value),)


def validate_config(config: ModelConfig) -> None:
    """Raise ConfigValueError for the first field outside its domain."""
    for name, (low, high) in _BOUNDED_INTS.items():
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ConfigValueError(name, value, f"an integer in [{low}, {high}]")
    for name in _PROBABILITIES:
        value = getattr(config, name)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise ConfigValueError(name, value, "a number in [0, 1]")
    for name in _FLAGS:
        value = getattr(config, name)
        if not isinstance(value, bool):
            raise ConfigValueError(name, value, "true or false")
    if config.link not in LINKS:
        raise ConfigValueError("link", config.link, " | ".join(LINKS))
    layers = config.middle_fusion_layers
    if not isinstance(layers, tuple) or any(
        isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < MAX_LAYERS for k in layers
    ):
        raise ConfigValueError(
            "middle_fusion_layers", layers, f"integer layer indices 0..{MAX_LAYERS - 1}"
        )


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

    def __post_init__(self) -> None:
        validate_config(self)

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
                kwargs["text_input_features"] = _width(alias, extra[alias])
        return cls(**kwargs, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["middle_fusion_layers"] = list(self.middle_fusion_layers)
        data.pop("extra")
        return data


def _width(name: str, value: Any) -> int:
    allowed = f"an integer in [1, {MAX_WIDTH}]"
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigValueError(name, value, allowed) from None
    if not math.isfinite(number) or not number.is_integer() or not 1 <= number <= MAX_WIDTH:
        raise ConfigValueError(name, value, allowed)
    return int(number)
