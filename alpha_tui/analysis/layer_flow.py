"""How strongly each layer's node features line up with the crystal's text.

The users compared every layer with ``text_projection`` (64 wide) while the layers
are H wide: the shapes never matched, every layer was silently skipped and the
plotted cosines came from nothing. Here every (layer, text source) pair gets a row;
a width mismatch is a visible SKIPPED row, never a missing one. Matching rows carry a
null baseline (cosine with a different crystal's text) so a cosine can be judged
against chance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alpha_tui.capture.cache import ActivationCache
from alpha_tui.errors import UserError

MATCH = "MATCH"
SKIPPED = "SKIPPED"
TEXT_TRANSFORM_SUFFIX = ".text_transform"


@dataclass(frozen=True)
class LayerFlowRow:
    layer: str
    label: str
    is_fusion: bool
    text_source: str
    layer_width: int
    text_width: int
    status: str  # MATCH or SKIPPED
    cos_mean: float | None
    cos_std: float | None
    null_mean: float | None
    null_std: float | None
    layer_norm_mean: float | None
    text_norm_mean: float | None

    @property
    def status_text(self) -> str:
        if self.status == MATCH:
            return MATCH
        return f"{SKIPPED}({self.layer_width}≠{self.text_width})"

    def to_dict(self) -> dict:
        return {
            "layer": self.layer,
            "label": self.label,
            "is_fusion": self.is_fusion,
            "text_source": self.text_source,
            "layer_width": self.layer_width,
            "text_width": self.text_width,
            "status": self.status,
            "cos_mean": self.cos_mean,
            "cos_std": self.cos_std,
            "null_mean": self.null_mean,
            "null_std": self.null_std,
            "layer_norm_mean": self.layer_norm_mean,
            "text_norm_mean": self.text_norm_mean,
        }


def text_vectors(cache: ActivationCache, source: str) -> np.ndarray | None:
    """The per-crystal text tensor [C, W] behind a source name, None if unknown."""
    if source == "text_projection":
        return np.asarray(cache.text_projection)
    if source.endswith(TEXT_TRANSFORM_SUFFIX):
        fusion = source[: -len(TEXT_TRANSFORM_SUFFIX)]
        if fusion in cache.text_transform:
            return np.asarray(cache.text_transform[fusion])
    return None


def _mean_std(values: np.ndarray | None) -> tuple[float | None, float | None]:
    if values is None:
        return None, None
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return None, None
    return float(v.mean()), float(v.std())


def _text_norm_mean(cache: ActivationCache, source: str) -> float | None:
    vec = text_vectors(cache, source)
    if vec is None or cache.n_atoms == 0:
        return None
    norms = np.linalg.norm(np.asarray(vec, dtype=np.float64), axis=1)
    return float(norms[np.asarray(cache.atom_crystal)].mean())


def layer_flow_rows(cache: ActivationCache, source: str | None = None) -> list[LayerFlowRow]:
    """One row per (layer, source) in forward layer order, sources in cache order."""
    names = [s.name for s in cache.text_sources]
    if source is not None and source not in names:
        raise UserError(f"unknown text source '{source}': choose one of {', '.join(names)}")
    sources = [s for s in cache.text_sources if source is None or s.name == source]
    text_norms = {s.name: _text_norm_mean(cache, s.name) for s in sources}
    rows: list[LayerFlowRow] = []
    for layer in cache.layers:
        norms = cache.layer_norms.get(layer.name)
        layer_norm_mean, _ = _mean_std(norms)
        for src in sources:
            flow = cache.flows.get((layer.name, src.name))
            layer_width = flow.layer_width if flow is not None else layer.width
            text_width = flow.text_width if flow is not None else src.width
            if layer_width != text_width:
                rows.append(
                    LayerFlowRow(
                        layer.name, layer.label, layer.is_fusion, src.name, layer_width,
                        text_width, SKIPPED, None, None, None, None, None, None,
                    )
                )  # fmt: skip
                continue
            cos_mean, cos_std = _mean_std(flow.cos if flow is not None else None)
            null_mean, null_std = _mean_std(flow.null_cos if flow is not None else None)
            rows.append(
                LayerFlowRow(
                    layer.name, layer.label, layer.is_fusion, src.name, layer_width, text_width,
                    MATCH, cos_mean, cos_std, null_mean, null_std, layer_norm_mean,
                    text_norms[src.name],
                )
            )  # fmt: skip
    return rows
