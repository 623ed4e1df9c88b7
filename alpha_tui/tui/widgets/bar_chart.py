"""Horizontal bar chart drawn as text: label, bar, value on one row per group.

The value is printed next to each bar and the baseline is stated, so the chart reads
without colour and a bar that starts above zero cannot pass for a ratio.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from alpha_tui.tui.formatting import fmt

EIGHTHS = " ▏▎▍▌▋▊▉█"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    note: str = ""


def bar_cells(value: float, lo: float, hi: float, width: int) -> str:
    """A bar of ``width`` cells at most, with eighth-cell resolution."""
    if width <= 0:
        return ""
    frac = 0.0 if hi <= lo else min(1.0, max(0.0, (value - lo) / (hi - lo)))
    eighths = round(frac * width * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[rest] if rest else "")).ljust(width)


class HBarChart(Widget):
    DEFAULT_CSS = """
    HBarChart {
        height: auto;
        width: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._bars: list[Bar] = []
        self._title = ""
        self._baseline = 0.0

    def show(self, bars: list[Bar], *, title: str, baseline: float) -> None:
        self._bars, self._title, self._baseline = bars, title, baseline
        self.refresh(layout=True)

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return len(self._bars) + 2

    def render(self) -> Text:
        values = [b.value for b in self._bars if b.value is not None]
        hi = max(values) if values else 1.0
        label_width = max((len(b.label) for b in self._bars), default=0)
        value_texts = [fmt(b.value) for b in self._bars]
        value_width = max((len(v) for v in value_texts), default=0)
        note_width = max((len(b.note) for b in self._bars), default=0)
        bar_width = max(4, self.size.width - label_width - value_width - note_width - 4)
        accent = self.app.theme_variables.get("accent", "") if self.is_attached else ""
        bar_style = f"bold {accent}".strip()
        text = Text(no_wrap=True, overflow="crop")
        text.append(self._title + "\n", style="bold")
        for bar, value_text in zip(self._bars, value_texts, strict=True):
            text.append(bar.label.ljust(label_width) + " ")
            if bar.value is None:
                text.append("(no crystals)".ljust(bar_width), style="italic")
            else:
                text.append(bar_cells(bar.value, self._baseline, hi, bar_width), style=bar_style)
            text.append(" " + value_text.rjust(value_width) + " " + bar.note + "\n")
        text.append(f"bars start at {fmt(self._baseline, 3)}", style="italic")
        return text
