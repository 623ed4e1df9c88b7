"""Benchmark hook: when did the first frame, and the first Overview with data, reach the screen.

Set ``ALPHA_TUI_BENCH_FRAMES=<file>`` and the app appends one line
``<event> <time.monotonic()>`` per event to the file, then exits after the Overview has
painted its data. ``time.monotonic()`` is the system-wide CLOCK_MONOTONIC on Linux, so
the benchmark (tests/benchmarks/fig_frames.py) subtracts the time it took just before
spawning the process and gets "seconds since process start" without trusting the app
to know when it started. Events are stamped after Textual's next completed screen
refresh, i.e. once the compositor has rendered the frame that shows them.

Unset (every normal run), nothing here runs beyond one environment lookup.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ENV_VAR = "ALPHA_TUI_BENCH_FRAMES"
FIRST_FRAME = "first_frame"
OVERVIEW_DATA = "overview_data"


@dataclass
class FrameProbe:
    """Appends ``event monotonic_seconds`` lines to ``path``; each event once."""

    path: Path
    on_done: Callable[[], None] | None = None
    seen: set[str] = field(default_factory=set)

    def mark(self, event: str) -> None:
        if event in self.seen:
            return
        self.seen.add(event)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(f"{event} {time.monotonic():.6f}\n")
        if event == OVERVIEW_DATA and self.on_done is not None:
            self.on_done()


def probe_from_env(environ: Mapping[str, str], on_done: Callable[[], None]) -> FrameProbe | None:
    value = environ.get(ENV_VAR)
    return FrameProbe(Path(value), on_done) if value else None


def read_events(path: Path) -> dict[str, float]:
    """The events a run wrote, for the benchmark: name -> monotonic seconds."""
    if not path.exists():
        return {}
    out: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition(" ")
        if value:
            out.setdefault(name, float(value))
    return out
