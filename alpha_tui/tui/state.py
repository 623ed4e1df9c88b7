"""The explorer's view state: one small immutable value every pane renders from.

Panes never keep their own copy of "which fusion / which reduction": they receive a
``ViewState`` and redraw when the part they depend on changes, so a key press that
changes the state can never leave two panes disagreeing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

#: Steps for the Elements pane's minimum-count filter; `+`/`-` move along them so a
#: real dataset (counts in the thousands) is reachable in a few presses.
MIN_COUNT_STEPS: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


@dataclass(frozen=True)
class ViewState:
    fusion: str
    reduction: str  # canonical ReductionSpec.name
    text_source: str | None = None
    selected_elements: frozenset[str] = field(default_factory=frozenset)
    min_count: int = 1

    def with_(self, **changes: object) -> ViewState:
        return replace(self, **changes)  # type: ignore[arg-type]

    def toggled_element(self, symbol: str) -> ViewState:
        selected = set(self.selected_elements)
        selected.symmetric_difference_update({symbol})
        return replace(self, selected_elements=frozenset(selected))


def cycle(options: Sequence[str], current: str | None, step: int) -> str:
    """Next (step=+1) or previous (step=-1) option, wrapping; an unknown current
    value starts from the beginning (forward) or the end (backward)."""
    if not options:
        raise ValueError("nothing to cycle through")
    try:
        index = list(options).index(current) if current is not None else -1
    except ValueError:
        index = -1
    if index < 0:
        return options[0] if step > 0 else options[-1]
    return options[(index + step) % len(options)]


def step_min_count(current: int, step: int) -> int:
    """Move to the next larger (step>0) or smaller (step<0) filter step."""
    if step > 0:
        for value in MIN_COUNT_STEPS:
            if value > current:
                return value
        return current
    for value in reversed(MIN_COUNT_STEPS):
        if value < current:
            return value
    return 1


def default_text_source(text_sources: Sequence[str], fusion: str) -> str | None:
    """Prefer the active fusion module's text_transform: the only text tensor whose
    width matches the layers (the text_projection is the seed report's mismatch)."""
    preferred = f"{fusion}.text_transform"
    if preferred in text_sources:
        return preferred
    for name in text_sources:
        if name.endswith(".text_transform"):
            return name
    return text_sources[0] if text_sources else None
