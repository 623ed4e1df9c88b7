"""Synthetic checkpoints in every on-disk layout the users produced, for tests.

``make_state_dict`` writes the key names and shapes of model-family.md by hand (not
by instantiating alpha_tui.model) so the loader's inference is tested against an
independent statement of the format. ``write_checkpoint`` saves it the way the users'
scripts did, including a config pickled from a module (``models.alignn``) that only
exists while saving, so loading sees a class it cannot import.

Keep specs small in unit tests (hidden 16-32): a default-sized network is ~4M params.
"""

from __future__ import annotations

import json
import pickle
import sys
import types
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

FOREIGN_MODULE = "models.alignn"
FOREIGN_CLASS = "ALIGNNConfig"

LAYOUTS = (
    "foreign_pydantic",  # {"config": pydantic ALIGNNConfig from models.alignn, "model": sd, ...}
    "foreign_plain",  # same with a plain attribute-bag class
    "dict_config",  # {"config": {...plain dict...}, "model": sd}
    "config_json",  # {"model": sd} + config.json beside the file
    "no_config",  # {"model": sd}
    "state_dict",  # {"state_dict": sd}
    "model_state_dict",  # {"model_state_dict": sd, "optimizer_state_dict": ..., "epoch": 7}
    "bare",  # sd
)


@dataclass(frozen=True)
class NetSpec:
    """The shape-determining hyper-parameters of one network."""

    hidden: int = 32
    alignn_layers: int = 4
    gcn_layers: int = 4
    fusion_layers: tuple[int, ...] = (2,)
    fusion_hidden: int = 24
    text_width: int = 48
    projection: int = 64
    embedding: int = 64
    atom_in: int = 92
    edge_in: int = 80
    triplet_in: int = 40
    output: int = 1
    cross_modal: bool = True
    cross_modal_hidden: int = 16
    fine_grained: bool = False

    def config_fields(self) -> dict[str, Any]:
        """The users' config as they stored it (fusion layers as a "2,3" string)."""
        return {
            "name": "alignn",
            "alignn_layers": self.alignn_layers,
            "gcn_layers": self.gcn_layers,
            "atom_input_features": self.atom_in,
            "edge_input_features": self.edge_in,
            "triplet_input_features": self.triplet_in,
            "embedding_features": self.embedding,
            "hidden_features": self.hidden,
            "output_features": self.output,
            "graph_dropout": 0.0,
            "use_cross_modal_attention": self.cross_modal,
            "cross_modal_hidden_dim": self.cross_modal_hidden,
            "cross_modal_num_heads": 4,
            "use_middle_fusion": bool(self.fusion_layers),
            "middle_fusion_layers": ",".join(str(i) for i in self.fusion_layers) or "2",
            "middle_fusion_hidden_dim": self.fusion_hidden,
            "middle_fusion_num_heads": 2,
            "middle_fusion_dropout": 0.1,
            "use_fine_grained_attention": self.fine_grained,
            "link": "identity",
            "classification": False,
        }


class _Params:
    """Accumulates state_dict entries with seeded values (BN stats kept valid)."""

    def __init__(self, seed: int) -> None:
        self.out: OrderedDict[str, torch.Tensor] = OrderedDict()
        self.gen = torch.Generator().manual_seed(seed)

    def rand(self, *shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=self.gen) * 0.1

    def linear(self, name: str, n_out: int, n_in: int) -> None:
        self.out[f"{name}.weight"] = self.rand(n_out, n_in)
        self.out[f"{name}.bias"] = self.rand(n_out)

    def batchnorm(self, name: str, n: int) -> None:
        self.out[f"{name}.weight"] = 1.0 + self.rand(n)
        self.out[f"{name}.bias"] = self.rand(n)
        self.out[f"{name}.running_mean"] = self.rand(n)
        self.out[f"{name}.running_var"] = 1.0 + self.rand(n).abs()
        self.out[f"{name}.num_batches_tracked"] = torch.tensor(10, dtype=torch.long)

    def layernorm(self, name: str, n: int) -> None:
        self.out[f"{name}.weight"] = 1.0 + self.rand(n)
        self.out[f"{name}.bias"] = self.rand(n)

    def mlp(self, name: str, n_in: int, n_out: int) -> None:
        """MLPLayer: Sequential(Linear, BatchNorm1d, SiLU) under ``.layer``."""
        self.linear(f"{name}.layer.0", n_out, n_in)
        self.batchnorm(f"{name}.layer.1", n_out)

    def edge_gated(self, name: str, h: int) -> None:
        for part in ("src_gate", "dst_gate", "edge_gate"):
            self.linear(f"{name}.{part}", h, h)
        self.batchnorm(f"{name}.bn_edges", h)
        for part in ("src_update", "dst_update"):
            self.linear(f"{name}.{part}", h, h)
        self.batchnorm(f"{name}.bn_nodes", h)

    def projection_head(self, name: str, n_in: int, n_out: int) -> None:
        self.linear(f"{name}.projection", n_out, n_in)
        self.linear(f"{name}.fc", n_out, n_out)
        self.layernorm(f"{name}.layer_norm", n_out)


def make_state_dict(spec: NetSpec = NetSpec(), *, seed: int = 0) -> OrderedDict[str, torch.Tensor]:
    """All keys of model-family.md for ``spec``, in module registration order."""
    p = _Params(seed)
    h, e, proj = spec.hidden, spec.embedding, spec.projection
    p.mlp("atom_embedding", spec.atom_in, h)
    p.out["edge_embedding.0.centers"] = torch.linspace(0.0, 8.0, spec.edge_in)
    p.mlp("edge_embedding.1", spec.edge_in, e)
    p.mlp("edge_embedding.2", e, h)
    p.out["angle_embedding.0.centers"] = torch.linspace(-1.0, 1.0, spec.triplet_in)
    p.mlp("angle_embedding.1", spec.triplet_in, e)
    p.mlp("angle_embedding.2", e, h)
    for i in range(spec.alignn_layers):
        p.edge_gated(f"alignn_layers.{i}.node_update", h)
        p.edge_gated(f"alignn_layers.{i}.edge_update", h)
    for i in range(spec.gcn_layers):
        p.edge_gated(f"gcn_layers.{i}", h)
    p.projection_head("graph_projection", h, proj)
    p.projection_head("text_projection", spec.text_width, proj)
    for k in spec.fusion_layers:
        name = f"middle_fusion_modules.layer_{k}"
        p.linear(f"{name}.text_transform.0", spec.fusion_hidden, proj)
        p.linear(f"{name}.text_transform.3", h, spec.fusion_hidden)
        p.linear(f"{name}.gate.0", h, 2 * h)
        p.layernorm(f"{name}.layer_norm", h)
    if spec.cross_modal:
        c = spec.cross_modal_hidden
        for part in ("g2t_query", "g2t_key", "g2t_value", "t2g_query", "t2g_key", "t2g_value"):
            p.linear(f"cross_modal_attention.{part}", c, proj)
        p.linear("cross_modal_attention.graph_output", proj, c)
        p.linear("cross_modal_attention.text_output", proj, c)
        p.layernorm("cross_modal_attention.layer_norm_graph", proj)
        p.layernorm("cross_modal_attention.layer_norm_text", proj)
    if spec.fine_grained:
        # Shapes are illustrative: only the key prefix is part of the documented format.
        p.linear("fine_grained_attention.atom_query", proj, h)
        p.linear("fine_grained_attention.token_key", proj, spec.text_width)
        p.linear("fine_grained_attention.token_value", proj, spec.text_width)
    p.linear("fc1", proj, proj if spec.cross_modal else 2 * proj)
    p.linear("fc", spec.output, proj)
    return p.out


@contextmanager
def foreign_module(module_name: str = FOREIGN_MODULE) -> Iterator[types.ModuleType]:
    """Register ``module_name`` (and its parents) in sys.modules only inside the block."""
    parts = module_name.split(".")
    names = [".".join(parts[: i + 1]) for i in range(len(parts))]
    saved = {n: sys.modules.get(n) for n in names}
    modules = [types.ModuleType(n) for n in names]
    for parent, child, part in zip(modules, modules[1:], parts[1:], strict=False):
        setattr(parent, part, child)
    try:
        for n, m in zip(names, modules, strict=True):
            sys.modules[n] = m
        yield modules[-1]
    finally:
        for n, previous in saved.items():
            if previous is None:
                sys.modules.pop(n, None)
            else:
                sys.modules[n] = previous


def _foreign_class(module: types.ModuleType, fields: dict[str, Any], kind: str) -> type:
    if kind == "pydantic":
        import pydantic

        definitions = {k: (type(v), v) for k, v in fields.items()}
        cls = pydantic.create_model(FOREIGN_CLASS, __module__=module.__name__, **definitions)
    elif kind == "plain":

        def __init__(self: Any, **values: Any) -> None:
            self.__dict__.update(values)

        cls = type(FOREIGN_CLASS, (), {"__module__": module.__name__, "__init__": __init__})
    else:
        raise ValueError(f"unknown config kind {kind!r}")
    cls.__qualname__ = FOREIGN_CLASS
    setattr(module, FOREIGN_CLASS, cls)
    return cls


def save_with_foreign_config(
    path: Path, payload: dict[str, Any], fields: dict[str, Any], *, kind: str = "pydantic", **save
) -> Path:
    """torch.save ``payload`` plus ``"config"``: a models.alignn.ALIGNNConfig instance."""
    with foreign_module() as module:
        cls = _foreign_class(module, fields, kind)
        torch.save({"config": cls(**fields), **payload}, path, **save)
    return path


def write_checkpoint(
    path: Path,
    spec: NetSpec = NetSpec(),
    layout: str = "foreign_pydantic",
    *,
    config_overrides: dict[str, Any] | None = None,
    seed: int = 0,
    dataparallel: bool = False,
    legacy_format: bool = False,
) -> Path:
    """Write one checkpoint; ``config_overrides`` makes the stored config lie on purpose."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; one of {LAYOUTS}")
    path = Path(path)
    sd = make_state_dict(spec, seed=seed)
    if dataparallel:
        sd = OrderedDict((f"module.{k}", v) for k, v in sd.items())
    fields = {**spec.config_fields(), **(config_overrides or {})}
    save: dict[str, Any] = {"_use_new_zipfile_serialization": not legacy_format}
    extras = {"epoch": 7, "optimizer": {"state": {}, "param_groups": [{"lr": 1e-3}]}}
    if layout in ("foreign_pydantic", "foreign_plain"):
        kind = layout.removeprefix("foreign_")
        return save_with_foreign_config(path, {"model": sd, **extras}, fields, kind=kind, **save)
    if layout == "dict_config":
        obj: Any = {"config": fields, "model": sd, **extras}
    elif layout == "config_json":
        (path.parent / "config.json").write_text(json.dumps(fields), encoding="utf-8")
        obj = {"model": sd}
    elif layout == "no_config":
        obj = {"model": sd}
    elif layout == "state_dict":
        obj = {"state_dict": sd}
    elif layout == "model_state_dict":
        obj = {"model_state_dict": sd, "optimizer_state_dict": extras["optimizer"], "epoch": 7}
    else:
        obj = sd
    torch.save(obj, path, **save)
    return path


def pickle_dump(path: Path, obj: Any, protocol: int = pickle.DEFAULT_PROTOCOL) -> Path:
    """A plain ``pickle.dump`` (not torch.save), as some trainers write."""
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=protocol)
    return path
