"""Strict loading of a user's state_dict into the reference network.

A silently half-loaded network gives plausible but wrong alphas, so every key we
implement must be present with the right shape and every key present must be ours,
except for groups we know and deliberately do not run (then the prediction is
reported unavailable, while the layers before them still run for inspection).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from alpha_tui.checkpoint.config import ModelConfig
from alpha_tui.checkpoint.infer import (
    infer_fine_grained,
    infer_late_fusion_head,
    strip_wrapper_prefix,
)
from alpha_tui.errors import UserError
from alpha_tui.model.backends.select import select_backend
from alpha_tui.model.network import (
    MultimodalALIGNN,
    NetworkVariant,
    default_late_fusion,
    init_like_alignn,
    setting,
)
from alpha_tui.warning_notes import folded_warnings

# Checkpoint groups of the users' forks that alpha-tui does not run (150bb67's heads).
UNIMPLEMENTED_GROUPS: tuple[str, ...] = ("gated_fusion", "gated_cross_attention")
# Containers whose children are reported one by one ("alignn_layers.3").
_INDEXED = ("alignn_layers", "gcn_layers", "middle_fusion_modules")
_BENIGN_MISSING = re.compile(r"\.num_batches_tracked$")
_HINT = "check the config (hidden size, layer counts) or report the architecture"


@dataclass
class BuiltModel:
    model: MultimodalALIGNN
    backend_name: str
    prediction_available: bool
    unimplemented: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _group(key: str) -> str:
    parts = key.split(".")
    if parts[0] in _INDEXED and len(parts) > 2:
        return ".".join(parts[:2])
    return parts[0]


def _describe(keys: Iterable[str], limit: int = 6) -> str:
    counts: dict[str, int] = {}
    for key in sorted(keys):
        counts[_group(key)] = counts.get(_group(key), 0) + 1
    items = [f"{g}.* ({n} key{'s' if n != 1 else ''})" for g, n in counts.items()]
    if len(items) > limit:
        items = items[:limit] + [f"and {len(items) - limit} more groups"]
    return ", ".join(items)


def _fusion_flags(sd: Mapping[str, Any], notes: list[str]) -> tuple[bool, bool]:
    fusion_keys = [k for k in sd if k.startswith("middle_fusion_modules.")]
    text_scale = any(k.endswith(".text_scale") for k in fusion_keys)
    gate_norm = any(".gate_norm." in k for k in fusion_keys)
    if text_scale:
        values = sorted(
            {
                round(float(torch.as_tensor(sd[k]).item()), 4)
                for k in fusion_keys
                if k.endswith(".text_scale")
            }
        )
        notes.append(
            f"fusion text_scale present (values {values}); the gate multiplies the "
            "scaled text_transform output"
        )
    if gate_norm:
        notes.append("fusion gate_norm present: LayerNorm on the gate input")
    return text_scale, gate_norm


def _late_fusion(
    config: ModelConfig,
    sd: dict[str, Any],
    unimplemented: dict[str, list[str]],
    notes: list[str],
) -> dict[str, Any]:
    """The head the weights hold; the config only where the weights hold none."""
    head = infer_late_fusion_head(sd)
    stated = any(setting(config, n, None) for n in ("late_fusion_type", "fusion_strategy"))
    declared = default_late_fusion(config)
    if head is None:
        return {}
    if head.kind == "unknown":
        keys = [k for k in sd if k.startswith("fusion_module.")]
        if keys:
            unimplemented["fusion_module"] = keys
            for key in keys:
                del sd[key]
            notes.append(
                f"fusion_module ({len(keys)} keys) is a late-fusion head alpha-tui does not "
                f"know ({head.evidence}): prediction unavailable"
            )
            fc = sd.get("fc.weight")
            width = int(fc.shape[1]) if fc is not None and getattr(fc, "ndim", 0) == 2 else None
            return {"late_fusion": "none", "fc_in_features": width}
        return {}
    if head.kind != declared and stated:
        notes.append(
            f"config implies late fusion {declared!r} but the weights hold {head.kind!r} "
            f"({head.evidence}); using the weights"
        )
    else:
        notes.append(f"late fusion {head.kind!r} ({head.evidence})")
    found = {"late_fusion_rank": head.rank, "late_fusion_output_dim": head.output_dim}
    for name, value in found.items():
        said = setting(config, name, None)
        if value is not None and said is not None and int(said) != value and head.kind == declared:
            notes.append(
                f"config says {name}={said} but the weights have {value}; using the weights"
            )
    return {
        "late_fusion": head.kind,
        "late_fusion_rank": head.rank,
        "late_fusion_output_dim": head.output_dim,
    }


def _fine_grained(
    config: ModelConfig,
    sd: Mapping[str, Any],
    unimplemented: dict[str, list[str]],
    notes: list[str],
) -> dict[str, Any]:
    shape = infer_fine_grained(sd)
    if shape is None:
        if any(k.startswith("fine_grained_attention.") for k in sd):
            return {}  # a partial group: the strict fit names what is missing
        if config.use_fine_grained_attention:
            unimplemented["fine_grained_attention"] = []
            notes.append(
                "config enables fine-grained attention but the checkpoint has no weights for it"
            )
        return {"fine_grained": False}
    # The head count is the config's (or its default): no shape reveals it; the
    # loader's assumptions list says when no config stated it.
    heads = int(setting(config, "fine_grained_num_heads", 8))
    notes.append(
        f"fine-grained attention: hidden {shape.hidden_dim}, projection "
        f"{'on' if shape.use_projection else 'off'} (from the weights), {heads} heads (config "
        "value or default; the weights cannot tell); predictions need every token's hidden "
        "state (--text-encoder DIR or a token-level embeddings file)"
    )
    return {
        "fine_grained": True,
        "fine_grained_hidden_dim": shape.hidden_dim,
        "fine_grained_use_projection": shape.use_projection,
        "fine_grained_token_dim": shape.token_dim,
    }


def _infer_variant(
    config: ModelConfig,
    sd: dict[str, Any],
    unimplemented: dict[str, list[str]],
    notes: list[str],
) -> NetworkVariant:
    text_scale, gate_norm = _fusion_flags(sd, notes)
    fields: dict[str, Any] = {}
    fields.update(_late_fusion(config, sd, unimplemented, notes))
    fields.update(_fine_grained(config, sd, unimplemented, notes))
    bias = sd.get("fc.bias")
    if bias is not None and hasattr(bias, "shape"):
        fields["fc_bias_scalar"] = tuple(bias.shape) == ()
        if fields["fc_bias_scalar"] and config.link != "log":
            notes.append(
                f"fc.bias is a 0-d tensor (a log-link checkpoint) but predictions use "
                f"link={config.link!r} from the config"
            )
    return NetworkVariant(
        fusion_text_scale=text_scale,
        fusion_gate_norm=gate_norm,
        unimplemented=tuple(sorted(unimplemented)),
        **fields,
    )


def _check_fit(model: torch.nn.Module, sd: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Raise UserError unless ``sd`` fits ``model`` key for key and shape for shape."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in sd and not _BENIGN_MISSING.search(k)]
    unexpected = [k for k in sd if k not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {_describe(missing)}")
        if unexpected:
            parts.append(f"unexpected {_describe(unexpected)}")
        raise UserError(f"checkpoint does not fit the reference model: {', '.join(parts)}; {_HINT}")
    loaded: dict[str, torch.Tensor] = {}
    mismatched: list[str] = []
    for key, want in expected.items():
        if key not in sd:
            loaded[key] = want  # a missing BatchNorm counter: keep ours
            continue
        value = sd[key]
        if not isinstance(value, torch.Tensor):
            try:
                value = torch.as_tensor(value)
            except Exception as exc:
                raise UserError(
                    f"checkpoint entry {key} is not a tensor ({type(value).__name__}); {_HINT}"
                ) from exc
        if tuple(value.shape) != tuple(want.shape):
            mismatched.append(f"{key} expected {list(want.shape)} found {list(value.shape)}")
        loaded[key] = value
    if mismatched:
        more = f" (and {len(mismatched) - 1} more)" if len(mismatched) > 1 else ""
        raise UserError(
            f"checkpoint does not fit the reference model: {mismatched[0]}{more}; {_HINT}"
        )
    return loaded


def resolve_device(name: str | torch.device) -> torch.device:
    """The one place a device request is checked, so a bad one fails before any work."""
    if isinstance(name, str) and name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    text = str(name)
    if text not in ("cpu", "cuda") and not text.startswith("cuda:"):
        raise UserError(f"unknown --device {text!r}; use auto, cpu or cuda")
    try:
        dev = torch.device(text)
    except (RuntimeError, TypeError):
        raise UserError(f"unknown --device {text!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(
            f"--device {text} asked for, but torch sees no CUDA device; use --device cpu"
        )
    return dev


def build_model(
    config: ModelConfig,
    state_dict: Mapping[str, Any],
    *,
    backend: str = "auto",
    device: str | torch.device = "cpu",
) -> BuiltModel:
    """The reference network with the user's weights, in eval mode, on ``device``.

    A ``torch.device`` is taken as already resolved (see :func:`resolve_device`); a
    string is resolved here, for callers that skip the pipeline. Warnings raised while
    building (torch's, a backend's) become notes, not stderr lines.
    """
    with folded_warnings("building the model") as warned:
        built = _build(config, state_dict, backend=backend, device=device)
    built.notes.extend(warned)
    return built


def _build(
    config: ModelConfig,
    state_dict: Mapping[str, Any],
    *,
    backend: str,
    device: str | torch.device,
) -> BuiltModel:
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    # The loader strips wrapper prefixes already; a raw state_dict passed here may not be.
    sd, notes = strip_wrapper_prefix(state_dict)
    unimplemented: dict[str, list[str]] = {}
    for key in list(sd):
        top = key.split(".", 1)[0]
        if top in UNIMPLEMENTED_GROUPS:
            unimplemented.setdefault(top, []).append(key)
            del sd[key]
    for group, keys in unimplemented.items():
        if keys:
            notes.append(f"{group} ({len(keys)} keys) is not implemented: prediction unavailable")
    variant = _infer_variant(config, sd, unimplemented, notes)
    graph_backend, diagnostic = select_backend(backend, device=dev)
    if diagnostic:
        notes.append(diagnostic)
    model = MultimodalALIGNN(config, backend=graph_backend, variant=variant)
    loaded = _check_fit(model, sd)
    model.load_state_dict(loaded, strict=True)
    model.to(dev).eval()
    return BuiltModel(
        model=model,
        backend_name=graph_backend.name,
        prediction_available=model.prediction_available,
        unimplemented={k: sorted(v) for k, v in unimplemented.items()},
        notes=notes,
    )


def build_untrained(config: ModelConfig, backend: str = "native") -> MultimodalALIGNN:
    """A freshly initialised network (train mode), e.g. to train the sample checkpoints."""
    graph_backend, _ = select_backend(backend)
    network = MultimodalALIGNN(config, backend=graph_backend)
    init_like_alignn(network)
    return network
