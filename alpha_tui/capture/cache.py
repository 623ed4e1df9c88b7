"""The in-memory activation cache: everything the analysis reads, as numpy arrays.

Names follow the model's state_dict paths (TransformerLens-style), e.g.
``middle_fusion_modules.layer_2`` for a fusion module and ``alignn_layers.0`` for a
layer. Full layer tensors are not kept: per layer only per-atom norms and per-atom
cosines to each text source of the same width, so memory stays linear in atoms.
This module must not import torch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class TextSource:
    """A per-crystal text tensor a layer can be compared with."""

    name: str  # "text_projection" or "<fusion module>.text_transform"
    width: int


@dataclass(frozen=True)
class LayerInfo:
    """One node-feature producing stage, in forward order."""

    name: str  # "alignn_layers.0", "middle_fusion_modules.layer_2", "gcn_layers.3"
    label: str  # the users' naming: "Layer 1 (ALIGNN)", "Fusion after Layer 3", "Layer 5 (GCN)"
    width: int
    is_fusion: bool = False


@dataclass
class LayerFlow:
    """Per-atom cosine of one layer with one text source (broadcast to its atoms).

    ``cos`` and ``null_cos`` are None exactly when the widths differ: the pair is
    SKIPPED and reported as such, never dropped.
    """

    layer: str
    source: str
    layer_width: int
    text_width: int
    cos: np.ndarray | None = None  # [A] float32
    null_cos: np.ndarray | None = None  # [A] float32, text of crystal null_permutation[c]

    @property
    def matched(self) -> bool:
        return self.layer_width == self.text_width


@dataclass
class ActivationCache:
    # per crystal (C)
    crystal_ids: list[str]
    formulas: list[str]
    targets: np.ndarray  # [C] float64, NaN when unknown
    atom_counts: np.ndarray  # [C] int64
    text_projection: np.ndarray  # [C, 64] float32
    # per atom (A = atom_counts.sum())
    atom_crystal: np.ndarray  # [A] int32, crystal index of each atom
    atomic_numbers: np.ndarray  # [A] int16
    # per fusion module, in forward order
    fusion_modules: list[str]
    gates: dict[str, np.ndarray]  # name -> [A, H] float32, the full sigmoid gate
    text_transform: dict[str, np.ndarray]  # name -> [C, H] float32
    fusion_input_norm: dict[str, np.ndarray]  # name -> [A] float32, ||x|| entering the module
    # per layer
    layers: list[LayerInfo]
    layer_norms: dict[str, np.ndarray]  # layer name -> [A] float32
    text_sources: list[TextSource]
    flows: dict[tuple[str, str], LayerFlow]  # (layer, source) -> flow
    null_permutation: np.ndarray | None  # [C] int64 derangement; None when C < 2
    predictions: np.ndarray | None = None  # [C] float64, None when unavailable
    meta: dict[str, Any] = field(default_factory=dict)  # JSON-able run facts

    @property
    def n_crystals(self) -> int:
        return len(self.crystal_ids)

    @property
    def n_atoms(self) -> int:
        return int(self.atom_crystal.shape[0])

    def hidden_size(self, fusion: str) -> int:
        return int(self.gates[fusion].shape[1])

    def text_source_width(self, name: str) -> int:
        for source in self.text_sources:
            if source.name == name:
                return source.width
        raise KeyError(name)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write an npz (no pickles) so a capture can be reopened without torch."""
        arrays: dict[str, np.ndarray] = {
            "targets": self.targets,
            "atom_counts": self.atom_counts,
            "text_projection": self.text_projection,
            "atom_crystal": self.atom_crystal,
            "atomic_numbers": self.atomic_numbers,
        }
        if self.predictions is not None:
            arrays["predictions"] = self.predictions
        if self.null_permutation is not None:
            arrays["null_permutation"] = self.null_permutation
        for i, name in enumerate(self.fusion_modules):
            arrays[f"gates_{i}"] = self.gates[name]
            arrays[f"text_transform_{i}"] = self.text_transform[name]
            arrays[f"fusion_input_norm_{i}"] = self.fusion_input_norm[name]
        for i, layer in enumerate(self.layers):
            arrays[f"layer_norm_{i}"] = self.layer_norms[layer.name]
        flow_index = []
        for j, ((layer, source), flow) in enumerate(self.flows.items()):
            flow_index.append([layer, source, flow.layer_width, flow.text_width])
            if flow.cos is not None:
                arrays[f"flow_cos_{j}"] = flow.cos
            if flow.null_cos is not None:
                arrays[f"flow_null_{j}"] = flow.null_cos
        header = {
            "format": "alpha-tui.cache/1",
            "crystal_ids": self.crystal_ids,
            "formulas": self.formulas,
            "fusion_modules": self.fusion_modules,
            "layers": [[x.name, x.label, x.width, x.is_fusion] for x in self.layers],
            "text_sources": [[s.name, s.width] for s in self.text_sources],
            "flows": flow_index,
            "meta": self.meta,
        }
        arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> ActivationCache:
        with np.load(path, allow_pickle=False) as data:
            header = json.loads(bytes(data["header"]).decode())
            if header.get("format") != "alpha-tui.cache/1":
                raise ValueError(f"{path} is not an alpha-tui cache file")
            fusion = header["fusion_modules"]
            layers = [LayerInfo(n, lab, int(w), bool(f)) for n, lab, w, f in header["layers"]]
            flows: dict[tuple[str, str], LayerFlow] = {}
            for j, (layer, source, lw, tw) in enumerate(header["flows"]):
                flows[(layer, source)] = LayerFlow(
                    layer,
                    source,
                    int(lw),
                    int(tw),
                    data[f"flow_cos_{j}"] if f"flow_cos_{j}" in data else None,
                    data[f"flow_null_{j}"] if f"flow_null_{j}" in data else None,
                )
            return cls(
                crystal_ids=list(header["crystal_ids"]),
                formulas=list(header["formulas"]),
                targets=data["targets"],
                atom_counts=data["atom_counts"],
                text_projection=data["text_projection"],
                atom_crystal=data["atom_crystal"],
                atomic_numbers=data["atomic_numbers"],
                fusion_modules=list(fusion),
                gates={n: data[f"gates_{i}"] for i, n in enumerate(fusion)},
                text_transform={n: data[f"text_transform_{i}"] for i, n in enumerate(fusion)},
                fusion_input_norm={n: data[f"fusion_input_norm_{i}"] for i, n in enumerate(fusion)},
                layers=layers,
                layer_norms={x.name: data[f"layer_norm_{i}"] for i, x in enumerate(layers)},
                text_sources=[TextSource(n, int(w)) for n, w in header["text_sources"]],
                flows=flows,
                null_permutation=data["null_permutation"] if "null_permutation" in data else None,
                predictions=data["predictions"] if "predictions" in data else None,
                meta=header["meta"],
            )
