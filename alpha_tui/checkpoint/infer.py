"""Recovering the model configuration from state_dict key names and tensor shapes.

Checkpoints arrive without a config, with a config pickled from a class we cannot
import, or with a config that disagrees with the weights (edited after training,
copied from another run). The weights are the ground truth for everything that has a
shape, so the loader infers those fields here and lets them win. Key names follow
``shared/docs/model-family.md``; every inference leaves a note a person can check.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from alpha_tui.checkpoint.config import MAX_LAYERS, ModelConfig
from alpha_tui.errors import UserError

__all__ = [
    "WRAPPER_PREFIXES",
    "FineGrainedShape",
    "LateFusionHead",
    "infer_fine_grained",
    "infer_late_fusion_head",
    "check_allocation",
    "check_state_dict",
    "infer_config",
    "infer_fields",
    "reconcile_config",
    "strip_wrapper_prefix",
]

# DataParallel/DistributedDataParallel ("module.") and torch.compile ("_orig_mod.").
WRAPPER_PREFIXES = ("module.", "_orig_mod.")

_ALIGNN_RE = re.compile(r"^alignn_layers\.(\d+)\.")
_GCN_RE = re.compile(r"^gcn_layers\.(\d+)\.")
_FUSION_RE = re.compile(r"^middle_fusion_modules\.layer_(\d+)\.")
_FUSION_LIST_RE = re.compile(r"^middle_fusion_modules\.(\d+)\.")
_INDEXED_RE = re.compile(r"^(alignn_layers|gcn_layers|middle_fusion_modules)\.(?:layer_)?(\d+)\.")
# Entries the network reads as one number (``.item()``); a vector there is corrupt.
_SCALAR_RE = re.compile(r"(\.text_scale|\.num_batches_tracked)$")
# Slack for a network whose weights are partly absent (BatchNorm counters, buffers).
_ALLOC_SLACK = 1_000_000


class StateDictError(UserError):
    """A state_dict entry that would make alpha-tui do unbounded or undefined work."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(
            f"checkpoint entry {key} {problem}; refusing (the file is corrupt or was not "
            "written by torch.save of an ALIGNN model)"
        )
        self.key = key


def check_state_dict(state_dict: Mapping[str, Any]) -> None:
    """Refuse entries that ask for work the weights do not pay for, naming the key.

    Layer indices decide how many modules are built, and a tensor's shape decides the
    widths; a tensor whose shape claims more values than its storage holds (stride 0)
    or whose key says layer 99,999 would make alpha-tui allocate what the file never
    contained. Sparse and complex tensors have no meaning as ALIGNN weights.
    """
    for key, value in state_dict.items():
        match = _INDEXED_RE.match(key)
        if match and int(match.group(2)) >= MAX_LAYERS:
            raise StateDictError(key, f"names layer {match.group(2)} (at most {MAX_LAYERS} layers)")
        if not hasattr(value, "layout"):
            continue
        if value.layout != _strided():
            raise StateDictError(key, f"is a {value.layout} tensor, not a dense one")
        if value.is_complex():
            raise StateDictError(key, f"is a complex tensor ({value.dtype})")
        if value.numel() == 0:
            raise StateDictError(key, f"is a zero-size tensor {list(value.shape)}")
        if _SCALAR_RE.search(key) and value.numel() != 1:
            raise StateDictError(key, f"should hold one number but holds {value.numel()}")
        held = value.untyped_storage().nbytes() // max(value.element_size(), 1)
        if value.numel() > held:
            raise StateDictError(
                key,
                f"claims shape {list(value.shape)} ({value.numel()} values) over a storage "
                f"of {held}",
            )


def _strided() -> Any:
    import torch

    return torch.strided


def _held_values(state_dict: Mapping[str, Any]) -> int:
    return sum(int(v.numel()) for v in state_dict.values() if hasattr(v, "numel"))


def estimated_parameters(config: ModelConfig) -> int:
    """A lower bound on the parameters the reference network allocates for ``config``."""
    h = config.hidden_features
    conv = 5 * h * h  # src/dst gate, edge gate, src/dst update
    layers = config.alignn_layers * 2 * conv + config.gcn_layers * conv
    fusion = len(config.fusion_layers) * (2 * h * h + config.middle_fusion_hidden_dim * h)
    inputs = config.atom_input_features * h + config.text_input_features * config.projection_dim
    return layers + fusion + inputs


def check_allocation(config: ModelConfig, state_dict: Mapping[str, Any]) -> None:
    """Refuse a config that would build a network far larger than the weights held."""
    need = estimated_parameters(config)
    held = _held_values(state_dict)
    if need > 2 * held + _ALLOC_SLACK:
        raise UserError(
            f"the config asks for a network of about {need:,} parameters (hidden_features="
            f"{config.hidden_features}, alignn_layers={config.alignn_layers}, gcn_layers="
            f"{config.gcn_layers}) but the checkpoint holds only {held:,} values; refusing. "
            "Check the config against the weights"
        )


def _shape(value: Any) -> tuple[int, ...] | None:
    shape = getattr(value, "shape", None)
    return None if shape is None else tuple(int(d) for d in shape)


def _fmt(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def strip_wrapper_prefix(state_dict: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Drop a prefix shared by every key (DataParallel, torch.compile), repeatedly."""
    out = dict(state_dict)
    notes: list[str] = []
    changed = True
    while out and changed:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in out):
                out = {k[len(prefix) :]: v for k, v in out.items()}
                what = "DataParallel" if prefix == "module." else "torch.compile"
                notes.append(f"stripped the '{prefix}' key prefix ({what} wrapper)")
                changed = True
    return out, notes


def _indices(keys: list[str], pattern: re.Pattern[str]) -> list[int]:
    return sorted({int(m.group(1)) for k in keys if (m := pattern.match(k))})


def _layer_count(keys: list[str], pattern: re.Pattern[str], label: str, notes: list[str]) -> int:
    found = _indices(keys, pattern)
    if not found:
        notes.append(f"{label}=0 (no {label}.* keys)")
        return 0
    count = found[-1] + 1
    if len(found) != count:
        missing = sorted(set(range(count)) - set(found))
        notes.append(f"{label}: indices {missing} missing from the weights; assuming {count}")
    else:
        notes.append(f"{label}={count} ({label}.0 .. {label}.{count - 1})")
    return count


def _infer_hidden(sd: Mapping[str, Any], inferred: dict[str, Any], notes: list[str]) -> None:
    atom = _shape(sd.get("atom_embedding.layer.0.weight"))
    candidates = [
        ("alignn_layers.0.node_update.src_gate.weight", 0),
        ("gcn_layers.0.src_gate.weight", 0),
        ("edge_embedding.2.layer.0.weight", 0),
        ("graph_projection.projection.weight", 1),
    ]
    if atom is not None and len(atom) == 2:
        inferred["hidden_features"] = atom[0]
        inferred["atom_input_features"] = atom[1]
        notes.append(
            f"hidden_features={atom[0]}, atom_input_features={atom[1]} "
            f"(atom_embedding.layer.0.weight is {_fmt(atom)})"
        )
    else:
        notes.append("no atom_embedding.layer.0.weight: this does not look like an ALIGNN model")
        for key, dim in candidates:
            shape = _shape(sd.get(key))
            if shape is not None and len(shape) == 2:
                inferred["hidden_features"] = shape[dim]
                notes.append(f"hidden_features={shape[dim]} (from {key} {_fmt(shape)})")
                break
        return
    hidden = atom[0]
    for key, dim in candidates:
        shape = _shape(sd.get(key))
        if shape is not None and len(shape) == 2 and shape[dim] != hidden:
            notes.append(
                f"inconsistent weights: {key} is {_fmt(shape)} but hidden_features is {hidden}"
            )


def _infer_embeddings(sd: Mapping[str, Any], inferred: dict[str, Any], notes: list[str]) -> None:
    edge = _shape(sd.get("edge_embedding.1.layer.0.weight"))
    if edge is not None and len(edge) == 2:
        inferred["embedding_features"] = edge[0]
        inferred["edge_input_features"] = edge[1]
        notes.append(
            f"embedding_features={edge[0]}, edge_input_features={edge[1]} "
            f"(edge_embedding.1.layer.0.weight is {_fmt(edge)})"
        )
        centers = _shape(sd.get("edge_embedding.0.centers"))
        if centers is not None and centers != (edge[1],):
            notes.append(
                f"inconsistent weights: edge_embedding.0.centers has {_fmt(centers)} bins "
                f"but edge_embedding.1 reads {edge[1]} features"
            )
    angle = _shape(sd.get("angle_embedding.1.layer.0.weight"))
    if angle is not None and len(angle) == 2:
        inferred["triplet_input_features"] = angle[1]
        notes.append(
            f"triplet_input_features={angle[1]} (angle_embedding.1.layer.0.weight is {_fmt(angle)})"
        )
        if edge is not None and angle[0] != edge[0]:
            notes.append(
                f"inconsistent weights: angle embedding width {angle[0]} != edge "
                f"embedding width {edge[0]}"
            )


def _infer_text(sd: Mapping[str, Any], inferred: dict[str, Any], notes: list[str]) -> None:
    text = _shape(sd.get("text_projection.projection.weight"))
    if text is not None and len(text) == 2:
        inferred["projection_dim"] = text[0]
        inferred["text_input_features"] = text[1]
        notes.append(
            f"text_input_features={text[1]}, projection_dim={text[0]} "
            f"(text_projection.projection.weight is {_fmt(text)})"
        )
    else:
        notes.append("no text_projection.projection.weight: this checkpoint reads no text")


def _infer_fusion(
    sd: Mapping[str, Any], keys: list[str], inferred: dict[str, Any], notes: list[str]
) -> None:
    layers = _indices(keys, _FUSION_RE)
    if not layers:
        listed = _indices(keys, _FUSION_LIST_RE)
        if listed:
            notes.append(
                f"middle_fusion_modules is a list ({len(listed)} modules): the weights do not "
                "say which ALIGNN layers they follow; keeping the config's middle_fusion_layers"
            )
            inferred["use_middle_fusion"] = True
        else:
            inferred["use_middle_fusion"] = False
            notes.append("use_middle_fusion=False (no middle_fusion_modules.* keys)")
        return
    inferred["use_middle_fusion"] = True
    inferred["middle_fusion_layers"] = tuple(layers)
    names = ", ".join(f"layer_{k}" for k in layers)
    notes.append(
        f"use_middle_fusion=True, middle_fusion_layers={','.join(map(str, layers))} "
        f"(middle_fusion_modules.{{{names}}})"
    )
    widths = {}
    for k in layers:
        shape = _shape(sd.get(f"middle_fusion_modules.layer_{k}.text_transform.0.weight"))
        if shape is not None and len(shape) == 2:
            widths[k] = shape[0]
    if widths:
        k0 = min(widths)
        inferred["middle_fusion_hidden_dim"] = widths[k0]
        notes.append(
            f"middle_fusion_hidden_dim={widths[k0]} (middle_fusion_modules.layer_{k0}"
            ".text_transform.0.weight)"
        )
        if len(set(widths.values())) > 1:
            notes.append(f"fusion modules differ in hidden width: {widths}")
    alignn = inferred.get("alignn_layers")
    late = [k for k in layers if alignn is not None and k >= alignn]
    if late:
        notes.append(
            f"middle_fusion_modules.layer_{late[0]} follows no ALIGNN layer "
            f"(alignn_layers={alignn}); it never runs"
        )
    hidden = inferred.get("hidden_features")
    for k in layers:
        gate = _shape(sd.get(f"middle_fusion_modules.layer_{k}.gate.0.weight"))
        if gate is not None and hidden is not None and gate != (hidden, 2 * hidden):
            notes.append(
                f"inconsistent weights: middle_fusion_modules.layer_{k}.gate.0.weight is "
                f"{_fmt(gate)}, expected [{hidden}, {2 * hidden}]"
            )
    # text_scale / gate_norm are noted by model.build, which knows what they change.


def _infer_late_fusion(
    sd: Mapping[str, Any], keys: list[str], inferred: dict[str, Any], notes: list[str]
) -> None:
    cross = any(k.startswith("cross_modal_attention.") for k in keys)
    fc1 = _shape(sd.get("fc1.weight"))
    proj = inferred.get("projection_dim")
    if cross:
        inferred["use_cross_modal_attention"] = True
        query = _shape(sd.get("cross_modal_attention.g2t_query.weight"))
        detail = "cross_modal_attention.* keys present"
        if query is not None and len(query) == 2:
            inferred["cross_modal_hidden_dim"] = query[0]
            detail += f"; cross_modal_hidden_dim={query[0]} from g2t_query.weight {_fmt(query)}"
        notes.append(f"use_cross_modal_attention=True ({detail})")
        if fc1 is not None and proj is not None and fc1[-1] not in (proj, 2 * proj):
            notes.append(f"unexpected fc1.weight {_fmt(fc1)} for cross-modal fusion")
    else:
        inferred["use_cross_modal_attention"] = False
        if fc1 is not None and proj is not None and fc1[-1] == 2 * proj:
            notes.append(
                f"use_cross_modal_attention=False (no cross_modal_attention.* keys; fc1.weight "
                f"{_fmt(fc1)} reads concatenated graph and text)"
            )
        else:
            notes.append("use_cross_modal_attention=False (no cross_modal_attention.* keys)")
            if fc1 is not None:
                notes.append(f"unexpected fc1.weight {_fmt(fc1)} without cross-modal attention")
    fine = any(k.startswith("fine_grained_attention.") for k in keys)
    inferred["use_fine_grained_attention"] = fine
    if fine:
        notes.append("use_fine_grained_attention=True (fine_grained_attention.* keys present)")
    fc = _shape(sd.get("fc.weight"))
    if fc is not None and len(fc) == 2:
        inferred["output_features"] = fc[0]
        notes.append(f"output_features={fc[0]} (fc.weight is {_fmt(fc)})")
    else:
        notes.append("no fc.weight: output_features unknown")
    if _shape(sd.get("fc.bias")) == ():
        # Only the log link's constructor replaces fc.bias by a 0-d tensor.
        inferred["link"] = "log"
        notes.append(
            "link='log' (fc.bias is a 0-d tensor, which only the log link's constructor makes)"
        )


# Children of ``fusion_module`` in each SAGE-2.1 late-fusion head (their module names).
LATE_FUSION_LAYOUTS: dict[str, frozenset[str]] = {
    "gated": frozenset(
        {"gate_graph", "gate_text", "graph_transform", "text_transform", "fusion_transform"}
    ),
    "bilinear": frozenset({"graph_proj", "text_proj", "layer_norm"}),
    "adaptive": frozenset(
        {"graph_align", "text_align", "fusion_selector", "gate_net", "layer_norm"}
    ),
    "tucker": frozenset({"graph_factor", "text_factor", "core_factor", "layer_norm"}),
}


@dataclass(frozen=True)
class LateFusionHead:
    """The late-fusion head the weights hold; ``kind`` "unknown" for a layout we do not know."""

    kind: str
    rank: int | None
    output_dim: int | None
    evidence: str


@dataclass(frozen=True)
class FineGrainedShape:
    """What the ``fine_grained_attention.*`` shapes say (its head count they cannot say)."""

    hidden_dim: int
    use_projection: bool
    node_dim: int
    token_dim: int


def _fusion_module_head(sd: Mapping[str, Any]) -> LateFusionHead:
    children = {k.split(".")[1] for k in sd if k.startswith("fusion_module.") and k.count(".") > 1}
    kind = next((n for n, c in LATE_FUSION_LAYOUTS.items() if c == children), "unknown")
    fc = _shape(sd.get("fc.weight"))
    out = fc[1] if fc is not None and len(fc) == 2 else None
    rank: int | None = None
    detail = f"fusion_module.{{{','.join(sorted(children))}}}"
    if kind == "bilinear":
        proj = _shape(sd.get("fusion_module.graph_proj.weight"))
        if proj is not None and out and proj[0] % out == 0:
            rank = proj[0] // out
            detail += f"; rank {rank} = graph_proj.weight {_fmt(proj)}[0] / {out}"
    elif kind == "tucker":
        factor = _shape(sd.get("fusion_module.graph_factor.weight"))
        if factor is not None:
            rank = factor[0]
            detail += f"; rank {rank} from graph_factor.weight {_fmt(factor)}"
    if out is not None:
        detail += f"; output dim {out} from fc.weight {_fmt(fc)}"
    return LateFusionHead(kind, rank, out, detail)


def infer_late_fusion_head(sd: Mapping[str, Any]) -> LateFusionHead | None:
    """Which head feeds ``fc``: fusion_module children, else fc1's input width."""
    if any(k.startswith("fusion_module.") for k in sd):
        return _fusion_module_head(sd)
    fc1 = _shape(sd.get("fc1.weight"))
    if fc1 is None or len(fc1) != 2:
        return None
    if fc1[1] == 2 * fc1[0]:
        return LateFusionHead("concat", None, None, f"fc1.weight {_fmt(fc1)} reads cat(g, t)")
    if fc1[1] == fc1[0]:
        return LateFusionHead("average", None, None, f"fc1.weight {_fmt(fc1)} reads (g + t)/2")
    return LateFusionHead("unknown", None, None, f"fc1.weight {_fmt(fc1)}")


def infer_fine_grained(sd: Mapping[str, Any]) -> FineGrainedShape | None:
    prefix = "fine_grained_attention."
    query = _shape(sd.get(prefix + "a2t_query.weight"))
    node = _shape(sd.get(prefix + "layer_norm_node.weight"))
    token = _shape(sd.get(prefix + "layer_norm_token.weight"))
    if query is None or node is None or token is None or len(query) != 2:
        return None
    return FineGrainedShape(
        hidden_dim=query[0],
        use_projection=prefix + "node_proj_in.weight" in sd,
        node_dim=node[0],
        token_dim=token[0],
    )


def infer_fields(state_dict: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Only the config fields the weights actually determine, with one note per finding."""
    sd, notes = strip_wrapper_prefix(state_dict)
    check_state_dict(sd)
    keys = list(sd)
    inferred: dict[str, Any] = {}
    _infer_hidden(sd, inferred, notes)
    _infer_embeddings(sd, inferred, notes)
    inferred["alignn_layers"] = _layer_count(keys, _ALIGNN_RE, "alignn_layers", notes)
    inferred["gcn_layers"] = _layer_count(keys, _GCN_RE, "gcn_layers", notes)
    _infer_text(sd, inferred, notes)
    _infer_fusion(sd, keys, inferred, notes)
    _infer_late_fusion(sd, keys, inferred, notes)
    return inferred, notes


def infer_config(state_dict: Mapping[str, Any]) -> tuple[ModelConfig, list[str]]:
    """A full config from the weights alone; unshaped fields (dropout, link, heads) default."""
    inferred, notes = infer_fields(state_dict)
    config = replace(ModelConfig(), **inferred)
    defaults = ModelConfig()
    unshaped = tuple(
        n
        for n in ("link", "graph_dropout", "cross_modal_num_heads", "classification")
        if n not in inferred
    )
    notes.append(
        "not recoverable from weights, using defaults: "
        + ", ".join(f"{name}={getattr(defaults, name)!r}" for name in unshaped)
    )
    return config, notes


def reconcile_config(
    config: ModelConfig,
    inferred: Mapping[str, Any],
    *,
    stated: Collection[str] | None = None,
) -> tuple[ModelConfig, list[str]]:
    """Let the weights win wherever the config disagrees with a shape-derived field.

    ``stated`` names the fields the stored config actually contains (None: all of them);
    a field it lacks is filled from the weights without calling it a disagreement.
    """
    known = {f.name for f in fields(ModelConfig)}
    changes: dict[str, Any] = {}
    notes: list[str] = []
    filled: list[str] = []
    checked = 0
    for name, value in inferred.items():
        if name not in known:
            continue
        if name == "middle_fusion_layers" and not inferred.get("use_middle_fusion", True):
            continue
        said = stated is None or name in stated
        checked += said
        current = getattr(config, name)
        if current == value:
            continue
        changes[name] = value
        if said:
            notes.append(
                f"config says {name}={_show(current)} but the weights have {_show(value)}; "
                "using the weights"
            )
        else:
            filled.append(f"{name}={_show(value)}")
    if filled:
        notes.append("not in the config, taken from the weights: " + ", ".join(filled))
    if checked and not any(n.startswith("config says") for n in notes):
        notes.append(f"config agrees with the weights on all {checked} shape-derived fields")
    return (replace(config, **changes) if changes else config), notes


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "(none)"
    return repr(value) if isinstance(value, str) else str(value)
