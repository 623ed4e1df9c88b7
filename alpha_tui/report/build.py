"""The report document (schema ``alpha-tui.report/2``), documented in the README.

Key names are a contract with users' scripts: add keys, never rename them; a key
whose meaning changes bumps the schema (report/2: the ``collapse`` figures are taken
across atoms per dimension, issue 8 §5; the README lists the changed keys). Numbers
that cannot be computed are ``null``, never NaN, so the output is strict JSON.
"""

from __future__ import annotations

import math
from typing import Any

from alpha_tui.analysis.reductions import parse_reduction
from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.checkpoint.assumptions import assumptions_in
from alpha_tui.errors import UserError
from alpha_tui.report.text_effect import text_effect_section

SCHEMA = "alpha-tui.report/2"
LAYER_KEYS = (
    "layer",
    "label",
    "text_source",
    "layer_width",
    "text_width",
    "status",
    "cos_mean",
    "cos_std",
    "null_mean",
    "null_std",
    "layer_norm_mean",
    "text_norm_mean",
)


def clean(value: Any) -> Any:
    """NaN/Inf -> None, numpy scalars -> Python, recursively."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def choose_fusion(session: AnalysisSession, fusion: str | None) -> str | None:
    modules = session.fusion_modules
    if fusion is None:
        return modules[0] if modules else None
    if fusion in modules:
        return fusion
    matches = [m for m in modules if m.endswith(fusion)]
    if len(matches) == 1:
        return matches[0]
    raise UserError(
        f"no fusion module {fusion!r}; the checkpoint has: {', '.join(modules) or 'none'}"
    )


def dims_document(session: AnalysisSession, fusion: str) -> dict[str, Any]:
    """The Dims pane's figures for one fusion module (README: report key ``dims``)."""
    return {
        **session.dims(fusion).to_dict(),
        "scale_balance": session.scale_balance(fusion).to_dict(),
    }


def build_report(
    session: AnalysisSession, *, reduction: str = "max", fusion: str | None = None
) -> dict[str, Any]:
    cache = session.cache
    meta = cache.meta
    spec = parse_reduction(reduction)
    reductions = ["mean"] if spec.name == "mean" else ["mean", spec.name]
    selected = choose_fusion(session, fusion)
    alpha = {
        f: {r: session.stats(f, r).to_dict() for r in reductions} for f in session.fusion_modules
    }
    collapse = {f: session.collapse(f).to_dict() for f in session.fusion_modules}
    dims = {f: dims_document(session, f) for f in session.fusion_modules}
    layers = [{key: row.to_dict()[key] for key in LAYER_KEYS} for row in session.layer_flow()]
    elements = []
    correlation = None
    if selected is not None:
        elements = [e.to_dict() for e in session.elements(selected, spec.name)]
        correlation = session.correlation(selected, spec.name).to_dict()
    document = {
        "schema": SCHEMA,
        "checkpoint": meta.get("checkpoint", {}),
        "device": meta.get("device"),
        "backend": meta.get("backend"),
        "n_crystals": cache.n_crystals,
        "n_atoms": cache.n_atoms,
        "data": meta.get("data", {}),
        "prediction_available": meta.get("prediction_available", cache.predictions is not None),
        "notes": meta.get("notes", []),
        "assumptions": assumptions_in(meta),
        "problems": meta.get("problems", []),
        "fusion_modules": list(session.fusion_modules),
        "fusion": selected,
        "reduction": spec.name,
        "alpha": alpha,
        "collapse": collapse,
        "dims": dims,
        "layers": layers,
        "elements": elements,
        "correlation": correlation,
        "verdicts": session.verdicts(),
        # where the activations came from: null for a fresh capture, else the store
        "store": meta.get("store"),
        "text_effect": text_effect_section(session),
    }
    return clean(document)
