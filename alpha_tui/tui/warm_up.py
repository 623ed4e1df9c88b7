"""Compute the panes' views before they are shown, so a first visit only paints.

The explorer runs this in one background thread when the session is ready, and again
once the view state has stayed the same for a moment after a change (a run of key
presses does not start one per press). Panes are warmed one after the other in the
order a user reaches them with the digit keys from the active pane, and the run
stops between two panes as soon as the state changes or the explorer cancels it: a
view of an old state is never painted (see ``Pane.compute_ahead``, which keys every
result by the state it was computed for).

A key that reaches a pane before its warm-up finished simply computes the view
itself, as without warm-up; the two computations share the session's memo.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from alpha_tui.tui.state import ViewState

#: quiet time after a view change before the other panes are warmed for it
WARM_UP_DELAY_S = 0.5


class Warmable(Protocol):
    pane_id: str

    def compute_ahead(self, state: ViewState) -> bool: ...


def warm_order(pane_ids: Sequence[str], active: str) -> list[str]:
    """The panes after ``active`` in key order, wrapping, without ``active`` itself."""
    ids = list(pane_ids)
    if active not in ids:
        return ids
    start = ids.index(active)
    return ids[start + 1 :] + ids[:start]


def warm_up(panes: Sequence[Warmable], state: ViewState, stop: Callable[[], bool]) -> list[str]:
    """Compute each pane's view of ``state`` ahead; the ids of the panes computed."""
    done = []
    for pane in panes:
        if stop():
            break
        try:
            computed = pane.compute_ahead(state)
        except Exception:  # noqa: BLE001 - the pane meets it again, contained, when shown
            continue
        if computed:
            done.append(pane.pane_id)
    return done
