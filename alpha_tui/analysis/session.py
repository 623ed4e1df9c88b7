"""The one analysis object the TUI, report and export hold.

It memoises every derived array per (fusion module, canonical reduction name) so that
cycling reductions in the UI recomputes each one once. Memo values are immutable
results of pure functions of the cache, so concurrent readers at worst compute a
value twice.

A cache opened from a store may carry reductions precomputed when it was written
(``cache.precomputed``, made by ``reduce_gates`` itself, so the same bits); they are
used when their definitions version is this one's, which turns a reduction switch on
10^6 atoms from a pass over a gigabyte of gates into reading 8 MB. Before any result
is computed from a store's arrays, ``cache.checks`` verifies their files' SHA-256
(lazily: a file is hashed at its first use, or was already by the background pass).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from alpha_tui.analysis.collapse import CollapseDiagnostic, collapse_from_moments
from alpha_tui.analysis.correlations import AlphaTargetCorrelation, alpha_target_correlation
from alpha_tui.analysis.crystals import (
    AtomRow,
    CrystalSummary,
    crystal_atoms,
    crystal_means,
    crystal_summaries,
)
from alpha_tui.analysis.dims import (
    DimDetail,
    DimStats,
    HeatMap,
    dim_detail,
    dim_stats,
    heat_map,
    rank_atoms,
)
from alpha_tui.analysis.elements import ElementStat, element_stats
from alpha_tui.analysis.gate_moments import GateMoments, gate_moments
from alpha_tui.analysis.layer_flow import MATCH, LayerFlowRow, layer_flow_rows
from alpha_tui.analysis.reductions import (
    DEFINITIONS,
    ReductionSpec,
    in_unit_interval,
    parse_reduction,
    reduce_gates,
)
from alpha_tui.analysis.scale_balance import ScaleBalance, scale_balance
from alpha_tui.analysis.statistics import (
    AlphaStats,
    Histogram,
    SortedValues,
    alpha_stats,
    histogram,
    sorted_values,
)
from alpha_tui.analysis.text_effect import ConditionEffect, text_effects
from alpha_tui.capture.cache import ActivationCache
from alpha_tui.errors import UserError


class AnalysisSession:
    def __init__(self, cache: ActivationCache) -> None:
        self.cache = cache
        self._memo: dict[tuple[Any, ...], Any] = {}
        # the sorted alpha of the last reduction shown: its statistics and histogram
        # share one sort; one entry only, since each is 8 bytes per atom
        self._last_sorted: tuple[tuple[str, str], SortedValues] | None = None

    # ------------------------------------------------------------------ inventory
    @property
    def fusion_modules(self) -> list[str]:
        return list(self.cache.fusion_modules)

    @property
    def text_sources(self) -> list[str]:
        return [s.name for s in self.cache.text_sources]

    def _check_fusion(self, fusion: str) -> None:
        if fusion not in self.cache.gates:
            choices = ", ".join(self.cache.fusion_modules) or "none (the model has no fusion)"
            raise UserError(f"unknown fusion module '{fusion}': choose one of {choices}")

    def _ready(self, *arrays: np.ndarray | None) -> None:
        """Wait for the checksum verdict of the store files behind ``arrays``."""
        if self.cache.checks is not None:
            self.cache.checks.require(*arrays)

    def _ready_fields(self, *fields: str) -> None:
        if self.cache.checks is not None:
            self.cache.checks.require_fields(*fields)

    def precomputed(self, fusion: str, reduction: str | ReductionSpec) -> np.ndarray | None:
        """The store's precomputed alpha for this reduction, or None to compute it.

        Used only under the same definitions version and with one value per atom.
        """
        pre = self.cache.precomputed
        if pre is None or pre.definitions != DEFINITIONS:
            return None
        values = pre.values.get(fusion, {}).get(parse_reduction(reduction).name)
        if values is None or values.shape != (self.cache.n_atoms,) or values.dtype != np.float64:
            return None
        return values

    def _cached(self, key: tuple[Any, ...], compute: Any) -> Any:
        try:
            return self._memo[key]
        except KeyError:
            value = compute()
            self._memo[key] = value
            return value

    # ------------------------------------------------------------------ per atom
    def alpha(self, fusion: str, reduction: str | ReductionSpec) -> np.ndarray:
        """Per-atom alpha [A] float64 (read-only: it is shared by every caller)."""
        self._check_fusion(fusion)
        spec = parse_reduction(reduction)

        def compute() -> np.ndarray:
            c = self.cache
            stored = self.precomputed(fusion, spec)
            if stored is not None:
                self._ready(stored)
                values = np.asarray(stored)  # a read-only view of the mapped file
                values.setflags(write=False)
                return values
            if spec.kind == "injection":
                self._ready(c.text_transform[fusion], c.fusion_input_norm[fusion])
            self._ready(c.gates[fusion])
            values = reduce_gates(
                spec,
                c.gates[fusion],
                text_per_crystal=c.text_transform[fusion],
                atom_crystal=c.atom_crystal,
                node_norm=c.fusion_input_norm[fusion],
            )
            values.setflags(write=False)
            return values

        return self._cached(("alpha", fusion, spec.name), compute)

    def injection(self, fusion: str) -> np.ndarray:
        return self.alpha(fusion, "injection")

    def _sorted(self, fusion: str, spec: ReductionSpec) -> SortedValues:
        key = (fusion, spec.name)
        last = self._last_sorted
        if last is not None and last[0] == key:
            return last[1]
        values = sorted_values(self.alpha(fusion, spec))
        self._last_sorted = (key, values)
        return values

    def stats(self, fusion: str, reduction: str | ReductionSpec) -> AlphaStats:
        spec = parse_reduction(reduction)
        return self._cached(
            ("stats", fusion, spec.name), lambda: alpha_stats(self._sorted(fusion, spec))
        )

    def histogram(self, fusion: str, reduction: str | ReductionSpec, bins: int = 40) -> Histogram:
        spec = parse_reduction(reduction)
        rng = (0.0, 1.0) if in_unit_interval(spec) else None
        return self._cached(
            ("histogram", fusion, spec.name, bins),
            lambda: histogram(self._sorted(fusion, spec), bins=bins, range=rng),
        )

    def gate_moments(self, fusion: str) -> GateMoments:
        """Means, variances and [H, H] covariance over atoms: one pass shared by the
        collapse statistic and the Dims pane."""
        self._check_fusion(fusion)
        return self._cached(("moments", fusion), lambda: gate_moments(self._gates(fusion)))

    def _gates(self, fusion: str) -> np.ndarray:
        """The gate [A, H] of ``fusion``, its file verified."""
        gates = self.cache.gates[fusion]
        self._ready(gates)
        return gates

    def collapse(self, fusion: str) -> CollapseDiagnostic:
        return self._cached(
            ("collapse", fusion), lambda: collapse_from_moments(self.gate_moments(fusion))
        )

    def dims(self, fusion: str) -> DimStats:
        return self._cached(
            ("dims", fusion),
            lambda: dim_stats(self._gates(fusion), self.gate_moments(fusion)),
        )

    def dims_heat_map(self, fusion: str, rows: int, cols: int) -> HeatMap:
        """Atoms sampled along the same pc1 score the ``pc1`` reduction shows."""
        ranked = self._cached(("pc1_rank", fusion), lambda: rank_atoms(self.alpha(fusion, "pc1")))
        return heat_map(self._gates(fusion), ranked, self.dims(fusion).order, rows, cols)

    def dim_detail(self, fusion: str, dim: int, bins: int = 40) -> DimDetail:
        c = self.cache
        return dim_detail(self._gates(fusion), self.dims(fusion), c.atomic_numbers, dim, bins)

    def scale_balance(self, fusion: str) -> ScaleBalance:
        self._check_fusion(fusion)
        c = self.cache
        ln_change = c.fusion_ln_change.get(fusion)
        self._ready(c.text_transform[fusion], c.fusion_input_norm[fusion], ln_change)
        return self._cached(
            ("scale_balance", fusion),
            lambda: scale_balance(
                self._gates(fusion),
                c.text_transform[fusion],
                c.atom_crystal,
                c.fusion_input_norm[fusion],
                ln_change=ln_change,
                text_scale=c.text_scale.get(fusion),
            ),
        )

    def elements(
        self, fusion: str, reduction: str | ReductionSpec, min_count: int = 1
    ) -> list[ElementStat]:
        return element_stats(self.alpha(fusion, reduction), self.cache.atomic_numbers, min_count)

    # ------------------------------------------------------------------ per crystal
    def crystal_alpha(self, fusion: str, reduction: str | ReductionSpec) -> np.ndarray:
        spec = parse_reduction(reduction)

        def compute() -> np.ndarray:
            values = crystal_means(
                self.alpha(fusion, spec), self.cache.atom_crystal, self.cache.n_crystals
            )
            values.setflags(write=False)
            return values

        return self._cached(("crystal_alpha", fusion, spec.name), compute)

    def crystals(self, fusion: str, reduction: str | ReductionSpec) -> list[CrystalSummary]:
        return crystal_summaries(self.cache, self.alpha(fusion, reduction))

    def crystal_atoms(
        self, fusion: str, reduction: str | ReductionSpec, index: int
    ) -> list[AtomRow]:
        c = self.cache
        if fusion in c.gates:  # the atom rows show the gate's own numbers
            self._ready(c.text_transform[fusion], c.fusion_input_norm[fusion], c.gates[fusion])
        return crystal_atoms(self.cache, fusion, self.alpha(fusion, reduction), index)

    def correlation(self, fusion: str, reduction: str | ReductionSpec) -> AlphaTargetCorrelation:
        spec = parse_reduction(reduction)
        return self._cached(
            ("correlation", fusion, spec.name),
            lambda: alpha_target_correlation(
                self.crystal_alpha(fusion, spec), self.cache.targets, self.cache.atom_counts
            ),
        )

    # ------------------------------------------------------------------ layers
    def layer_flow(self, source: str | None = None) -> list[LayerFlowRow]:
        self._ready_fields("text_projection", "text_transform", "layer_norms", "flows")
        return list(
            self._cached(("layer_flow", source), lambda: layer_flow_rows(self.cache, source))
        )

    # ------------------------------------------------------------------ text effect
    def text_effect(self, fusion: str) -> list[ConditionEffect] | None:
        """Statistics of the counterfactual re-runs at ``fusion``; None until they ran."""
        run = self.cache.counterfactuals.get(fusion)
        if run is None:
            return None
        return self._cached(
            ("text_effect", fusion, id(run)),
            lambda: text_effects(
                fusion, run.classification, run.baseline, run.outputs, self.cache.targets
            ),
        )

    # ------------------------------------------------------------------ findings
    def verdicts(self) -> list[str]:
        """One line per finding: collapse per fusion module, then MATCH/SKIPPED per source."""
        lines = [f"{f}: {self.collapse(f).verdict}" for f in self.cache.fusion_modules]
        if not self.cache.fusion_modules:
            lines.append("no middle-fusion module in this model: there is no alpha to inspect")
        for src in self.cache.text_sources:
            lines.append(_flow_verdict(src.name, src.width, self.layer_flow(src.name)))
        return lines


def _flow_verdict(name: str, width: int, rows: list[LayerFlowRow]) -> str:
    matched = [r for r in rows if r.status == MATCH]
    skipped = [r for r in rows if r.status != MATCH]
    widths = "/".join(str(w) for w in sorted({r.layer_width for r in skipped}))
    if not rows:
        return f"{name} ({width}): no layers captured"
    if not matched:
        return f"{name} ({width}) vs {widths}-wide layers: all {len(rows)} pairs SKIPPED"
    if not skipped:
        head = f"{name} ({width}): all {len(rows)} layers MATCH"
    else:
        head = (
            f"{name} ({width}): {len(matched)} of {len(rows)} layers MATCH, "
            f"{len(skipped)} SKIPPED ({widths}-wide)"
        )
    scored = [r for r in matched if r.cos_mean is not None]
    if not scored:
        return head
    best = max(scored, key=lambda r: r.cos_mean)  # type: ignore[arg-type, return-value]
    null = f", null {best.null_mean:.2f}" if best.null_mean is not None else ""
    return f"{head}; peak cos {best.cos_mean:.2f} at {best.label}{null}"
