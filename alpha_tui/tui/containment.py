"""Keep a drawing bug inside the widget that has it.

Textual ends the whole app on any exception raised while a widget renders, and over
SSH that loses an in-memory session that took minutes to compute. Panes wrap their
widgets' ``render`` and ``render_lines`` here: a failure is turned into a one-line
message drawn in place of the widget, handed to the pane to report and log, and the
widget stays in that state until the pane paints new data (``reset_widget``).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.segment import Segment
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

#: attribute set on a wrapped widget: the failure text, or None while it draws fine
FAILED_ATTR = "_alpha_tui_render_failure"
WRAPPED_ATTR = "_alpha_tui_contained"
LOG_NAME = "explorer.log"


@dataclass(frozen=True)
class Failure:
    """One contained exception: where, a one-line summary and the traceback for the log."""

    where: str
    summary: str
    detail: str

    def line(self, pane_title: str) -> str:
        return f"✗ {pane_title}: {self.where} failed ({self.summary}); the rest still works"


Reporter = Callable[[Failure], None]


def summarize(exc: BaseException) -> str:
    """``Type: first line of the message``, short enough for one screen line."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    summary = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return summary if len(summary) <= 120 else summary[:119] + "…"


def failure_from(where: str, exc: BaseException) -> Failure:
    detail = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return Failure(where=where, summary=summarize(exc), detail=detail)


def describe_widget(widget: Widget) -> str:
    name = type(widget).__name__
    return f"{name}#{widget.id}" if widget.id else name


def _message_strips(message: str, crop: Region, width: int) -> list[Strip]:
    """The message on the widget's first line, blank lines below, cut to ``crop``."""
    lines = []
    for y in range(crop.y, crop.y + crop.height):
        text = message if y == 0 else ""
        strip = Strip([Segment(text[:width].ljust(width))], width)
        lines.append(strip.crop(crop.x, crop.x + crop.width))
    return lines


def contain_widget(widget: Widget, report: Reporter) -> bool:
    """Wrap ``widget`` once; True when it was newly wrapped."""
    if getattr(widget, WRAPPED_ATTR, False):
        return False
    render = widget.render
    render_lines = widget.render_lines

    def fail(exc: Exception, stage: str) -> str:
        failure = failure_from(f"{describe_widget(widget)} {stage}", exc)
        message = f"✗ cannot draw this ({failure.summary})"
        setattr(widget, FAILED_ATTR, message)
        report(failure)
        return message

    def safe_render() -> Any:
        failed = getattr(widget, FAILED_ATTR, None)
        if failed is not None:
            return Text(failed, style="italic")
        try:
            return render()
        except Exception as exc:  # noqa: BLE001 - the point is to contain any bug
            return Text(fail(exc, "render"), style="italic")

    def safe_render_lines(crop: Region) -> list[Strip]:
        try:
            return render_lines(crop)
        except Exception as exc:  # noqa: BLE001
            message = getattr(widget, FAILED_ATTR, None) or fail(exc, "render")
            return _message_strips(message, crop, max(widget.size.width, crop.right))

    widget.render = safe_render  # type: ignore[method-assign]
    widget.render_lines = safe_render_lines  # type: ignore[method-assign]
    setattr(widget, WRAPPED_ATTR, True)
    return True


def is_failed(widget: Widget) -> bool:
    return getattr(widget, FAILED_ATTR, None) is not None


def reset_widget(widget: Widget) -> None:
    """Let a failed widget try again (new data may draw fine)."""
    if getattr(widget, FAILED_ATTR, None) is not None:
        setattr(widget, FAILED_ATTR, None)
        widget.refresh(layout=True)


def append_log(path: Path, pane: str, failure: Failure, when: datetime | None = None) -> None:
    """Append one record; the caller decides what a failing log write means."""
    when = when or datetime.now()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(f"--- {when:%Y-%m-%d %H:%M:%S} pane {pane}: {failure.where}\n")
        fh.write(failure.detail.rstrip() + "\n")


def default_log_path() -> Path:
    # imported here: the data package is only needed when a failure is logged
    from alpha_tui.data.graph_cache import default_cache_root

    return default_cache_root() / "logs" / LOG_NAME
