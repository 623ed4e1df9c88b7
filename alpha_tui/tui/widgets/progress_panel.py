"""Start-up progress: stage, done/total, rate and ETA while the loader runs.

Rate and ETA are measured per stage (a stage restarts the clock) because stages run
at very different speeds: building graphs is not running the model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar, Static


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "--:--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:d}:{secs:02d}"


def format_rate(rate: float | None) -> str:
    if rate is None or not math.isfinite(rate) or rate <= 0:
        return "—/s"
    if rate >= 100:
        return f"{rate:,.0f}/s"
    if rate >= 1:
        return f"{rate:.1f}/s"
    return f"{rate:.2f}/s"


@dataclass
class StageClock:
    """Rate and ETA of one stage from the first report of that stage."""

    stage: str
    started: float
    done_at_start: int

    def rate(self, done: int, now: float) -> float | None:
        elapsed = now - self.started
        if elapsed <= 0 or done <= self.done_at_start:
            return None
        return (done - self.done_at_start) / elapsed

    def eta(self, done: int, total: int, now: float) -> float | None:
        rate = self.rate(done, now)
        if rate is None or total <= 0:
            return None
        return max(0.0, (total - done) / rate)


def progress_line(stage: str, done: int, total: int, rate: float | None, eta: float | None) -> str:
    total_text = f"{total:,}" if total > 0 else "?"
    return f"{stage}: {done:,}/{total_text} · {format_rate(rate)} · ETA {format_duration(eta)}"


class ProgressPanel(Vertical):
    DEFAULT_CSS = """
    ProgressPanel {
        height: auto;
        width: 1fr;
    }
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self._clock = clock
        self._stage: StageClock | None = None
        self._finished: list[str] = []
        self.line = "starting…"

    def compose(self) -> ComposeResult:
        yield Static("starting…", id="progress-stage")
        yield ProgressBar(total=None, show_eta=False, id="progress-bar")
        yield Static("", id="progress-history")

    def report(self, done: int, total: int, stage: str) -> None:
        now = self._clock()
        if self._stage is None or self._stage.stage != stage:
            if self._stage is not None:
                self._finished.append(f"✓ {self._stage.stage}")
            self._stage = StageClock(stage, now, done)
        rate = self._stage.rate(done, now)
        eta = self._stage.eta(done, total, now)
        self.line = progress_line(stage, done, total, rate, eta)
        self.query_one("#progress-stage", Static).update(self.line)
        bar = self.query_one("#progress-bar", ProgressBar)
        if total > 0:
            bar.update(total=total, progress=min(done, total))
        else:
            bar.update(total=None)
        self.query_one("#progress-history", Static).update("  ".join(self._finished))
