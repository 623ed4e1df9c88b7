"""The in-memory activation cache: everything the analysis reads, as numpy arrays.

Names follow the model's state_dict paths (TransformerLens-style), e.g.
``middle_fusion_modules.layer_2`` for a fusion module and ``alignn_layers.0`` for a
layer. Full layer tensors are not kept: per layer only per-atom norms and per-atom
cosines to each text source of the same width, so memory stays linear in atoms.
This module must not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

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
class CounterfactualRun:
    """Outputs of the text-effect re-runs at one fusion module (capture/patching.py).

    Arrays plus JSON-able scalars only, so a generic serializer can persist it.
    ``baseline`` and each ``outputs[condition]`` are [C, K] float64: K = 1 holds the
    prediction (regression), otherwise the class probabilities.
    """

    fusion: str
    classification: bool
    baseline: np.ndarray
    outputs: dict[str, np.ndarray]
    seconds: float = float("nan")


#: Field metadata key: a field that lives in memory only (the store codec skips it).
TRANSIENT = "transient"


class ArrayChecks(Protocol):
    """Verdicts on the files behind memory-mapped arrays (a store's lazy SHA-256 checks).

    Each call returns once the named data is verified, or raises the one-line
    UserError naming the damaged file; readers call it before computing a result.
    """

    def require(self, *arrays: np.ndarray | None) -> None: ...

    def require_fields(self, *names: str) -> None: ...

    def require_all(self) -> None: ...


@dataclass
class PrecomputedAlpha:
    """Per-atom reductions computed once when a store was written, so a switch reads 8 MB.

    ``definitions`` is the ``reductions.DEFINITIONS`` version they were computed under;
    a session uses them only when it equals its own, so a changed definition is never
    served from an older store. values: fusion module -> reduction name -> [A] float64,
    the very array ``reduce_gates`` returns (same function, same bits).
    """

    definitions: int
    values: dict[str, dict[str, np.ndarray]]


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
    # per fusion module: ||out - LN(x)|| per atom [A] float32, what the text changed after
    # the module's LayerNorm; absent when the module has no ``layer_norm`` child
    fusion_ln_change: dict[str, np.ndarray] = field(default_factory=dict)
    # per fusion module: the checkpoint's text_scale; absent when the module has none
    text_scale: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)  # JSON-able run facts
    # fusion module -> counterfactual re-runs, filled on demand (capture/patching.py)
    counterfactuals: dict[str, CounterfactualRun] = field(default_factory=dict)
    # reductions precomputed by the store writer; None for a fresh capture or an old store
    precomputed: PrecomputedAlpha | None = None
    # lazy checksum verdicts of the store the arrays are mapped from; None in memory
    checks: ArrayChecks | None = field(
        default=None, repr=False, compare=False, metadata={TRANSIENT: True}
    )

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
