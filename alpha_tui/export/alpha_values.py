"""Per-atom alpha in the users' ``alpha_values.npz`` layout, or as one CSV row per atom.

The npz keeps their keys (``alphas`` object array of per-crystal arrays, ``atom_types``,
``targets``, ``jids``) so their plotting scripts read it unchanged; we add the reduction
and fusion module so a file says how its numbers were made.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from alpha_tui.analysis.elements import element_symbol
from alpha_tui.analysis.reductions import parse_reduction
from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.errors import UserError
from alpha_tui.export.files import write_atomically
from alpha_tui.report.build import choose_fusion


def per_crystal(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    out = np.empty(len(counts), dtype=object)
    for i, part in enumerate(np.split(values, np.cumsum(counts)[:-1])):
        out[i] = part
    return out


def export_alpha_values(
    session: AnalysisSession,
    out: Path,
    *,
    fmt: str = "npz",
    reduction: str = "mean",
    fusion: str | None = None,
    force: bool = False,
) -> Path:
    cache = session.cache
    spec = parse_reduction(reduction)
    selected = choose_fusion(session, fusion)
    if selected is None:
        raise UserError("the checkpoint has no middle-fusion module: there is no alpha to export")
    values = session.alpha(selected, spec.name)
    symbols = np.array([element_symbol(int(z)) for z in cache.atomic_numbers])

    def write_npz(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                alphas=per_crystal(values.astype(np.float32), cache.atom_counts),
                atom_types=per_crystal(symbols, cache.atom_counts),
                targets=cache.targets,
                jids=np.array(cache.crystal_ids),
                reduction=np.array(spec.name),
                fusion_module=np.array(selected),
            )

    def write_csv(tmp: Path) -> None:
        with open(tmp, "w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(
                [
                    "crystal_id",
                    "formula",
                    "atom_index",
                    "element",
                    "z",
                    "alpha",
                    "target",
                    "prediction",
                    "reduction",
                    "fusion_module",
                ]
            )
            start = 0
            for c, count in enumerate(cache.atom_counts):
                pred = "" if cache.predictions is None else repr(float(cache.predictions[c]))
                for k in range(int(count)):
                    a = start + k
                    writer.writerow(
                        [
                            cache.crystal_ids[c],
                            cache.formulas[c],
                            k,
                            symbols[a],
                            int(cache.atomic_numbers[a]),
                            repr(float(values[a])),
                            repr(float(cache.targets[c])),
                            pred,
                            spec.name,
                            selected,
                        ]
                    )
                start += int(count)

    if fmt not in ("npz", "csv"):
        raise UserError(f"unknown export format {fmt!r}; use npz or csv")
    return write_atomically(Path(out), write_npz if fmt == "npz" else write_csv, force=force)
