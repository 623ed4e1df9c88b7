"""Warnings raised while a user's file is read or the model built, kept as notes.

torch (and transformers, numpy) warn through ``warnings``; printed raw they would be
multi-line text on stderr that the CLI's one-line contract and a TUI screen cannot
hold, and the user would not see them again in the report. At each boundary that
reads a user's file the warnings are recorded instead and become notes, which the
Overview and the report show next to everything else alpha-tui noticed.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: distinct warnings kept per boundary; a storm of them is summarised by its count
MAX_NOTES = 5
MAX_CHARS = 240


def _first_line(message: object) -> str:
    text = str(message).strip()
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 3] + "..."


def warning_notes(caught: list[warnings.WarningMessage], where: str) -> list[str]:
    """One note per distinct (category, first line), in the order first raised."""
    seen: dict[tuple[str, str], None] = {}
    for item in caught:
        seen.setdefault((item.category.__name__, _first_line(item.message)), None)
    notes = [f"{where} warned: {kind}: {line}" for kind, line in list(seen)[:MAX_NOTES]]
    if len(seen) > MAX_NOTES:
        notes.append(f"{where} warned {len(seen) - MAX_NOTES} more distinct times")
    return notes


@contextmanager
def folded_warnings(where: str) -> Iterator[list[str]]:
    """Record every warning raised inside; the yielded list holds the notes on exit.

    ``where`` names the step for the user ("reading the checkpoint"). Warnings are
    process-wide state, so one raised by another thread meanwhile lands here too:
    a note instead of a stray line on the terminal.
    """
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield notes
    notes.extend(warning_notes(caught, where))
