"""The ``text_effect`` key of the report: counterfactual re-runs per fusion module.

``null`` when no re-run was asked for (``report --text-effect``): the re-runs cost
about 2-3 capture passes per fusion module, so the plain report does not pay them.
"""

from __future__ import annotations

from typing import Any

from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.analysis.text_effect import effect_document


def text_effect_section(session: AnalysisSession) -> dict[str, Any] | None:
    cache = session.cache
    if not cache.counterfactuals:
        return None
    out = {}
    for fusion in cache.fusion_modules:
        run = cache.counterfactuals.get(fusion)
        effects = session.text_effect(fusion)
        if run is None or effects is None:
            continue
        out[fusion] = effect_document(
            fusion,
            run.classification,
            effects,
            cache.crystal_ids,
            cache.atom_crystal,
            cache.atomic_numbers,
            seconds=run.seconds,
        )
    return out
