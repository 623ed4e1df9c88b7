"""Issue 8 §5 on the bundled sample: N_eff can no longer exceed H (report/1 said 363.4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from alpha_tui.analysis.collapse import collapse_diagnostic
from alpha_tui.capture.pipeline import RunOptions, run_pipeline

SAMPLES = Path(__file__).resolve().parents[1] / "sample_checkpoints"


@pytest.mark.parametrize("name", ["gap_fusion2", "gap_fusion23_diverse"])
def test_sample_effective_dims_within_h(name: str, tmp_path: Path) -> None:
    cache = run_pipeline(
        RunOptions(SAMPLES / f"{name}.pt", limit=60, backend="native", cache_dir=tmp_path)
    )
    for fusion in cache.fusion_modules:
        g = cache.gates[fusion].astype(np.float64)
        d = collapse_diagnostic(cache.gates[fusion])
        want = g.var(axis=0).mean() / g.mean(axis=1).var()
        assert d.effective_dims == pytest.approx(want, rel=1e-9)
        assert 1.0 <= d.effective_dims <= d.hidden == 256
        pooled = (g.std() / g.mean(axis=1).std()) ** 2  # the report/1 figure
        assert pooled > d.effective_dims  # pooling counted between-dim spread as diversity
