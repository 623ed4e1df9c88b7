"""The reductions a store keeps precomputed, computed by the session that would compute them.

A reduction switch on 10^6 atoms otherwise reads the whole gigabyte of gates; read
from ``arrays/precomputed.*.npy`` it is 8 MB. The values are ``AnalysisSession.alpha``
of the cache being written (hence ``reduce_gates``, the same function a session on the
live capture runs), kept as float64, so serving them changes no bit of any number.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from alpha_tui.analysis.reductions import DEFINITIONS, PRECOMPUTED, validate_reduction
from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.capture.cache import ActivationCache, PrecomputedAlpha
from alpha_tui.errors import UserError


def precomputable(hidden: int) -> list[str]:
    """PRECOMPUTED minus those a gate this narrow cannot take (topk-mean:16 on 8 dims)."""
    names = []
    for name in PRECOMPUTED:
        try:
            names.append(validate_reduction(name, hidden).name)
        except UserError:
            continue
    return names


def precompute(cache: ActivationCache) -> tuple[PrecomputedAlpha, AnalysisSession]:
    """(the precomputed reductions, the session that computed them: its memo is warm).

    Always from the gates: a cache opened from a store may carry precomputed values of
    its own (a merge of shards would even carry concatenated per-shard pc1 scores).
    """
    session = AnalysisSession(replace(cache, precomputed=None))
    values = {
        fusion: {
            name: np.asarray(session.alpha(fusion, name))
            for name in precomputable(cache.hidden_size(fusion))
        }
        for fusion in cache.fusion_modules
    }
    return PrecomputedAlpha(definitions=DEFINITIONS, values=values), session
