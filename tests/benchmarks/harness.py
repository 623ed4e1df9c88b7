"""Shared shape of every benchmark figure, and the one way comparisons are timed.

Each ``fig_*.py`` module beside this file declares ``LANE = "modern"`` or ``"dgl"`` and
a function ``figures(quick: bool) -> list[Figure]``, and ends with
``if __name__ == "__main__": harness.main(figures)``. ``bench.py`` runs every module of
its lane in a fresh interpreter (so no module's heap or imports shape another's), collects
the figures into ``results.json`` and renders the README table.

Comparisons are ratios measured in one run with A and B alternated, because these
machines drift by up to 2x between minutes; a figure keeps its samples so min, median
and max are of the same quantity the target speaks of.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULT_MARK = "BENCH-FIGURES "


@dataclass
class Figure:
    """One measured quantity with its target; ``direction`` says which side meets it."""

    name: str
    unit: str
    samples: list[float]
    target: float | None = None
    direction: str = "<="  # "<=" or ">="; ignored when target is None
    note: str = ""
    extra: dict[str, float | str] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return float(statistics.median(self.samples))

    @property
    def met(self) -> bool | None:
        if self.target is None or not self.samples:
            return None
        if self.direction == ">=":
            return self.median >= self.target
        return self.median <= self.target

    def as_dict(self) -> dict:
        out = asdict(self)
        out.update(
            min=min(self.samples) if self.samples else None,
            median=self.median if self.samples else None,
            max=max(self.samples) if self.samples else None,
            met=self.met,
            n=len(self.samples),
        )
        return out


def time_once(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def alternate(
    a: Callable[[], object], b: Callable[[], object], repeat: int = 5, warmup: int = 1
) -> tuple[list[float], list[float]]:
    """Times of ``a`` and ``b`` run in turn (ABAB...), after ``warmup`` untimed rounds."""
    for _ in range(warmup):
        a()
        b()
    times_a, times_b = [], []
    for i in range(repeat):
        # swap the order every round so neither side always runs on a warmer cache
        if i % 2 == 0:
            times_a.append(time_once(a))
            times_b.append(time_once(b))
        else:
            times_b.append(time_once(b))
            times_a.append(time_once(a))
    return times_a, times_b


def ratios(times_a: list[float], times_b: list[float]) -> list[float]:
    """Per-round ratios a/b: each pair ran back to back, so drift cancels within a pair."""
    return [ta / tb for ta, tb in zip(times_a, times_b, strict=True)]


def main(figures: Callable[[bool], list[Figure]]) -> None:
    """Entry point of a figure module: print its figures as one JSON line for bench.py."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repeats, smaller inputs")
    args = parser.parse_args()
    result = [f.as_dict() for f in figures(args.quick)]
    for item in result:
        line = f"{item['name']}: median {item['median']} {item['unit']}"
        print(f"{line} (target {item['target']}, met {item['met']})", file=sys.stderr)
    print(RESULT_MARK + json.dumps(result))
