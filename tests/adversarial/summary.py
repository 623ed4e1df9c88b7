"""Tallying driver results into the one summary line per class that `make test` shows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SUMMARY_KEY = pytest.StashKey[list[str]]()


@dataclass
class Tally:
    klass: str
    run: str = ""  # which set and seed, e.g. "set fresh, seed 3"
    tried: int = 0
    ok: int = 0
    errors: int = 0
    tracebacks: int = 0
    crashes: int = 0
    executed: int = 0
    partial: int = 0
    misses: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"adversarial: {self.klass} {self.tried} tried, {self.tracebacks} tracebacks, "
            f"{self.crashes} crashes, {self.executed} executed, {self.partial} partial, "
            f"{len(self.misses)} other misses ({self.ok} ok, {self.errors} one-line errors)"
            + (f" [{self.run}]" if self.run else "")
        )

    @property
    def clean(self) -> bool:
        return not (self.tracebacks or self.crashes or self.executed or self.partial or self.misses)


def tally(klass: str, log: Path, run: str = "") -> Tally:
    """Results of a driver log; a "start" line with no result after it is a crash."""
    out = Tally(klass, run)
    started: dict[int, str] = {}
    for line in log.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if "start" in record:
            started[record["start"]] = record["case"]
            continue
        started.pop(record.get("index", -1), None)
        out.tried += 1
        outcome = record["outcome"]
        out.ok += outcome == "ok"
        out.errors += outcome == "error"
        if outcome == "traceback":
            out.tracebacks += 1
            out.misses.append(f"{record['case']}: traceback {record['detail'][-300:]}")
        elif outcome not in ("ok", "error"):
            out.misses.append(f"{record['case']}: {outcome} {record.get('stderr', '')[-200:]}")
        out.executed += bool(record.get("executed"))
        out.partial += bool(record.get("partial"))
    for name in started.values():
        out.tried += 1
        out.crashes += 1
        out.misses.append(f"{name}: the process died")
    out.misses = [m for m in out.misses if "traceback" not in m] + [
        m for m in out.misses if "traceback" in m
    ]
    return out
