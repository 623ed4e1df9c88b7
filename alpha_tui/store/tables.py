"""Per-atom and per-crystal Parquet tables, for duckdb, pandas or polars.

The alpha columns come from the same ``AnalysisSession`` reductions the report uses,
so a query over the table reproduces the report's numbers. pyarrow is imported here
only: without it the store is still complete, minus the tables, and says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from alpha_tui.analysis.elements import element_symbol
from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.capture.cache import ActivationCache
from alpha_tui.store.layout import ATOM_TABLE, CRYSTAL_TABLE

TABLE_REDUCTIONS = ("mean", "max", "min", "median", "std", "open-fraction", "injection")


def column_name(fusion: str, reduction: str) -> str:
    """``layer_2.alpha_mean``: the module's last two name parts stay readable in SQL."""
    short = fusion.split(".")[-1]
    return f"{short}.alpha_{reduction.replace('-', '_')}"


def write_tables(
    cache: ActivationCache, folder: Path, session: AnalysisSession | None = None
) -> tuple[list[str], str | None]:
    """(file names written, a note when tables could not be written).

    ``session`` may be one that already computed the reductions (the writer's).
    """
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return [], "no Parquet tables: pyarrow is not installed (pip install pyarrow)"
    session = session or AnalysisSession(cache)
    ids = np.asarray(cache.crystal_ids, dtype=object)
    c = cache.atom_crystal.astype(np.int64)
    first = np.concatenate([[0], np.cumsum(cache.atom_counts)[:-1]]).astype(np.int64)
    pred = cache.predictions if cache.predictions is not None else np.full(cache.n_crystals, np.nan)
    atoms = {
        "crystal_id": ids[c],
        "crystal_index": c,
        "atom_index": np.arange(cache.n_atoms, dtype=np.int64) - first[c],
        "atomic_number": cache.atomic_numbers.astype(np.int16),
        "element": [element_symbol(int(z)) for z in cache.atomic_numbers],
        "target": cache.targets[c],
        "prediction": pred[c],
    }
    crystals = {
        "crystal_id": ids,
        "formula": list(cache.formulas),
        "n_atoms": cache.atom_counts.astype(np.int64),
        "target": cache.targets,
        "prediction": pred,
    }
    for fusion in cache.fusion_modules:
        for reduction in TABLE_REDUCTIONS:
            name = column_name(fusion, reduction)
            atoms[name] = np.asarray(session.alpha(fusion, reduction))
            crystals[name] = np.asarray(session.crystal_alpha(fusion, reduction))
    pq.write_table(pa.table(atoms), folder / ATOM_TABLE)
    pq.write_table(pa.table(crystals), folder / CRYSTAL_TABLE)
    return [ATOM_TABLE, CRYSTAL_TABLE], None
