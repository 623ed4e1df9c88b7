"""A small, complete, deterministic ActivationCache for tests and snapshots.

The gates are built like the real failure mode: logit = per-element bias (small) +
per-atom noise + per-element pattern over dims (zero mean over dims, so the mean
reduction hides it) + per-dim bias + per-entry noise. The mean over dims therefore
collapses the spread like the users' 0.029 std, while max / pc1 / dim:K still
separate elements. Layer flows follow the seed report's expectation: low cosine
before the fusion, a peak at the fusion module, decay afterwards; pairs whose widths
differ (every layer vs the 8-wide text_projection) have no cosines.

Everything derives from ``numpy.random.default_rng(seed)``: no time, no global state.
"""

from __future__ import annotations

import hashlib
import math
from functools import reduce

import numpy as np

from alpha_tui.capture.cache import ActivationCache, LayerFlow, LayerInfo, TextSource

#: O, Si, Ga, As, Na, Cl, Ti, Sr
DEFAULT_ELEMENTS: tuple[int, ...] = (8, 14, 31, 33, 11, 17, 22, 38)
#: Target atoms per crystal, cycled; covers every size group of the correlation view.
SIZES: tuple[int, ...] = (4, 8, 2, 12, 16, 6, 24, 3, 10, 40, 60, 102)
#: (atomic numbers, stoichiometry) of familiar compounds, used when their elements are
#: all among ``elements``; otherwise compositions are drawn at random.
PROTOTYPES: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...] = (
    ((31, 33), (1, 1)),  # GaAs
    ((11, 17), (1, 1)),  # NaCl
    ((14, 8), (1, 2)),  # SiO2
    ((38, 22, 8), (1, 1, 3)),  # SrTiO3
    ((22, 8), (1, 2)),  # TiO2
    ((31, 8), (2, 3)),  # Ga2O3
    ((14,), (1,)),  # Si
    ((11, 8), (2, 1)),  # Na2O
    ((38, 8), (1, 1)),  # SrO
    ((31, 17), (1, 3)),  # GaCl3
    ((11, 33), (3, 1)),  # Na3As
    ((38, 17), (1, 2)),  # SrCl2
)
TEXT_PROJECTION_WIDTH = 8
N_ALIGNN = 4
N_GCN = 4

_SYMBOL = {1: "H", 3: "Li", 6: "C", 7: "N", 8: "O", 9: "F", 11: "Na", 12: "Mg", 13: "Al",
           14: "Si", 15: "P", 16: "S", 17: "Cl", 19: "K", 20: "Ca", 22: "Ti", 26: "Fe",
           29: "Cu", 30: "Zn", 31: "Ga", 33: "As", 34: "Se", 38: "Sr", 49: "In", 52: "Te",
           56: "Ba", 82: "Pb"}  # fmt: skip


def _symbol(z: int) -> str:
    return _SYMBOL.get(int(z), f"Z{int(z)}")


def _formula(zs: list[int], stoich: list[int]) -> str:
    g = reduce(math.gcd, stoich)
    return "".join(
        f"{_symbol(z)}{'' if n // g == 1 else n // g}" for z, n in zip(zs, stoich, strict=True)
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _cos_level(position: int, fusion_position: int | None) -> float:
    """Mean cosine with a fusion module's text at a forward position (peak at the fusion)."""
    if fusion_position is None or position < fusion_position:
        return 0.05
    return 0.05 + 0.4 * 0.75 ** (position - fusion_position)


def make_cache(
    *,
    seed: int = 0,
    n_crystals: int = 12,
    hidden: int = 16,
    fusion_layers: tuple[int, ...] = (2,),
    elements: tuple[int, ...] = DEFAULT_ELEMENTS,
    with_predictions: bool = True,
) -> ActivationCache:
    if n_crystals < 1:
        raise ValueError("n_crystals must be >= 1")
    if any(not 0 <= k < N_ALIGNN for k in fusion_layers):
        raise ValueError(f"fusion_layers must be ALIGNN indices 0..{N_ALIGNN - 1}")
    if not elements:
        raise ValueError("need at least one element")
    rng = np.random.default_rng(seed)
    fusion_layers = tuple(sorted(set(fusion_layers)))
    elements = tuple(int(z) for z in elements)

    # ---------------------------------------------------------------- crystals
    protos = [p for p in PROTOTYPES if set(p[0]) <= set(elements)]
    ids, formulas, counts, zs_per_atom, crystal_of_atom = [], [], [], [], []
    for c in range(n_crystals):
        if protos:
            zs, stoich = (list(x) for x in protos[c % len(protos)])
        else:
            k = min(1 + c % 3, len(elements))
            zs = sorted(int(z) for z in rng.choice(elements, size=k, replace=False))
            stoich = [int(s) for s in rng.integers(1, 4, size=k)]
        mult = max(1, round(SIZES[c % len(SIZES)] / sum(stoich)))
        n_atoms = mult * sum(stoich)
        ids.append(f"C{c:04d}")
        formulas.append(_formula(zs, stoich))
        counts.append(n_atoms)
        for z, s in zip(zs, stoich, strict=True):
            zs_per_atom.extend([z] * (s * mult))
        crystal_of_atom.extend([c] * n_atoms)
    atom_counts = np.asarray(counts, dtype=np.int64)
    atom_crystal = np.asarray(crystal_of_atom, dtype=np.int32)
    atomic_numbers = np.asarray(zs_per_atom, dtype=np.int16)
    n_total = int(atom_counts.sum())
    elem_index = np.searchsorted(np.asarray(sorted(elements)), atomic_numbers)

    text_projection = rng.normal(0.0, 1.0, (n_crystals, TEXT_PROJECTION_WIDTH)).astype(np.float32)

    # ---------------------------------------------------------------- fusion modules
    fusion_modules = [f"middle_fusion_modules.layer_{k}" for k in fusion_layers]
    gates: dict[str, np.ndarray] = {}
    text_transform: dict[str, np.ndarray] = {}
    fusion_input_norm: dict[str, np.ndarray] = {}
    for name in fusion_modules:
        elem_bias = rng.normal(-0.4, 0.15, len(elements))
        elem_pattern = rng.normal(0.0, 0.8, (len(elements), hidden))
        elem_pattern -= elem_pattern.mean(axis=1, keepdims=True)
        dim_bias = rng.normal(0.0, 0.5, hidden)
        atom_noise = rng.normal(0.0, 0.1, n_total)
        entry_noise = rng.normal(0.0, 1.2, (n_total, hidden))
        logits = (
            elem_bias[elem_index][:, None]
            + atom_noise[:, None]
            + elem_pattern[elem_index]
            + dim_bias[None, :]
            + entry_noise
        )
        gates[name] = _sigmoid(logits).astype(np.float32)
        text_transform[name] = rng.normal(0.0, 1.0, (n_crystals, hidden)).astype(np.float32)
        fusion_input_norm[name] = rng.uniform(3.0, 6.0, n_total).astype(np.float32)

    # ---------------------------------------------------------------- layers, forward order
    layers: list[LayerInfo] = []
    for i in range(N_ALIGNN):
        layers.append(LayerInfo(f"alignn_layers.{i}", f"Layer {i + 1} (ALIGNN)", hidden))
        if i in fusion_layers:
            layers.append(
                LayerInfo(
                    f"middle_fusion_modules.layer_{i}", f"Fusion after Layer {i + 1}", hidden, True
                )
            )
    for j in range(N_GCN):
        layers.append(LayerInfo(f"gcn_layers.{j}", f"Layer {N_ALIGNN + j + 1} (GCN)", hidden))
    position = {layer.name: p for p, layer in enumerate(layers)}
    layer_norms = {
        layer.name: (10.0 + 2.0 * p + rng.normal(0.0, 1.0, n_total)).astype(np.float32)
        for p, layer in enumerate(layers)
    }

    text_sources = [TextSource("text_projection", TEXT_PROJECTION_WIDTH)]
    text_sources += [TextSource(f"{f}.text_transform", hidden) for f in fusion_modules]
    flows: dict[tuple[str, str], LayerFlow] = {}
    for layer in layers:
        for src in text_sources:
            flow = LayerFlow(layer.name, src.name, layer.width, src.width)
            if flow.matched:
                fusion = src.name.removesuffix(".text_transform")
                level = _cos_level(position[layer.name], position.get(fusion))
                cos = level + rng.normal(0.0, 0.1, n_total)
                null = rng.normal(0.0, 0.08, n_total)
                flow.cos = np.clip(cos, -1.0, 1.0).astype(np.float32)
                flow.null_cos = np.clip(null, -1.0, 1.0).astype(np.float32)
            flows[(layer.name, src.name)] = flow

    # ---------------------------------------------------------------- targets
    if fusion_modules:
        g0 = gates[fusion_modules[0]].astype(np.float64).max(axis=1)
        crystal_alpha = np.bincount(atom_crystal, weights=g0, minlength=n_crystals) / atom_counts
    else:
        crystal_alpha = np.zeros(n_crystals)
    targets = 2.0 + 6.0 * (crystal_alpha - crystal_alpha.mean()) + rng.normal(0, 0.3, n_crystals)
    targets = np.round(np.clip(targets, 0.0, None), 4).astype(np.float64)
    predictions = (targets + rng.normal(0.0, 0.2, n_crystals)).astype(np.float64)

    null_permutation = (
        np.roll(np.arange(n_crystals, dtype=np.int64), -1) if n_crystals >= 2 else None
    )
    config = {
        "alignn_layers": N_ALIGNN,
        "gcn_layers": N_GCN,
        "hidden_features": hidden,
        "embedding_features": 64,
        "use_middle_fusion": bool(fusion_modules),
        "middle_fusion_layers": list(fusion_layers),
        "middle_fusion_hidden_dim": hidden,
        "use_cross_modal_attention": True,
        "projection_dim": TEXT_PROJECTION_WIDTH,
        "text_input_features": 768,
        "link": "identity",
        "classification": False,
    }
    digest = hashlib.sha256(f"synthetic:{seed}:{hidden}:{fusion_layers}".encode()).hexdigest()
    meta = {
        "checkpoint": {
            "path": "synthetic/best_model.pt",
            "sha256": digest,
            "config": config,
            "config_source": "synthetic",
        },
        "device": "cpu",
        "backend": "native",
        "problems": [
            {
                "kind": "skipped-row",
                "id": "C9999",
                "reason": "structure has 512 atoms (> 400), skipped like the users' scripts",
            }
        ],
        "notes": [f"synthetic cache (seed={seed}) for tests; not a real model"],
        "data": {"root": "synthetic", "n_rows": n_crystals + 1, "primitive_cells": False},
        "prediction_available": with_predictions,
    }
    return ActivationCache(
        crystal_ids=ids,
        formulas=formulas,
        targets=targets,
        atom_counts=atom_counts,
        text_projection=text_projection,
        atom_crystal=atom_crystal,
        atomic_numbers=atomic_numbers,
        fusion_modules=fusion_modules,
        gates=gates,
        text_transform=text_transform,
        fusion_input_norm=fusion_input_norm,
        layers=layers,
        layer_norms=layer_norms,
        text_sources=text_sources,
        flows=flows,
        null_permutation=null_permutation,
        predictions=predictions if with_predictions else None,
        meta=meta,
    )


def tiny_cache(
    *,
    atom_counts: list[int],
    atomic_numbers: list[int],
    gates: np.ndarray,
    text_transform: np.ndarray,
    fusion_input_norm: np.ndarray,
    targets: list[float] | None = None,
    predictions: list[float] | None = None,
    fusion: str = "middle_fusion_modules.layer_2",
) -> ActivationCache:
    """A cache built from hand-chosen arrays (one fusion module, no layers) for
    closed-form tests; callers add layers/flows themselves when they need them."""
    counts = np.asarray(atom_counts, dtype=np.int64)
    n_crystals = len(counts)
    g = np.asarray(gates, dtype=np.float32)
    t = np.asarray(text_transform, dtype=np.float32)
    return ActivationCache(
        crystal_ids=[f"T{c:03d}" for c in range(n_crystals)],
        formulas=[f"X{c}" for c in range(n_crystals)],
        targets=np.asarray(targets if targets is not None else [np.nan] * n_crystals, float),
        atom_counts=counts,
        text_projection=np.zeros((n_crystals, TEXT_PROJECTION_WIDTH), dtype=np.float32),
        atom_crystal=np.repeat(np.arange(n_crystals), counts).astype(np.int32),
        atomic_numbers=np.asarray(atomic_numbers, dtype=np.int16),
        fusion_modules=[fusion],
        gates={fusion: g},
        text_transform={fusion: t},
        fusion_input_norm={fusion: np.asarray(fusion_input_norm, dtype=np.float32)},
        layers=[],
        layer_norms={},
        text_sources=[
            TextSource("text_projection", TEXT_PROJECTION_WIDTH),
            TextSource(f"{fusion}.text_transform", int(g.shape[1])),
        ],
        flows={},
        null_permutation=np.roll(np.arange(n_crystals, dtype=np.int64), -1)
        if n_crystals >= 2
        else None,
        predictions=None if predictions is None else np.asarray(predictions, dtype=np.float64),
        meta={},
    )
