"""SVG snapshots of every pane on make_cache(seed=0) at 100x32.

Regenerate the baselines after an intended visual change with
``pytest tests/test_tui_snapshots.py --snapshot-update`` and review the SVG diff.
Determinism: fixed theme, animations off, no clock, every worker finished before
the screenshot.
"""

from __future__ import annotations

import pytest

pytest.importorskip("textual")

from synthetic import make_cache

from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.tui.app import PANE_CLASSES, AlphaTuiApp

SIZE = (100, 32)


def snapshot_app() -> AlphaTuiApp:
    app = AlphaTuiApp(session=AnalysisSession(make_cache(seed=0)))
    app.theme = "textual-dark"
    app.animation_level = "none"
    return app


def showing(key: str, *more: str):
    async def run_before(pilot) -> None:
        await pilot.pause()  # let the tabs finish mounting, or the key is undone
        for k in (key, *more):
            await pilot.press(k)
            for _ in range(3):
                await pilot.app.workers.wait_for_complete()
                await pilot.pause()
        # A table pane takes focus when it is shown, a moment later under load, and a
        # focused table draws its header bold: drawn unfocused, the picture is the same
        # however busy the machine is.
        pilot.app.set_focus(None)
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("pane", PANE_CLASSES, ids=[c.pane_id for c in PANE_CLASSES])
def test_pane_snapshot(pane, snap_compare) -> None:
    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=showing(pane.key))


def test_layers_text_projection_snapshot(snap_compare) -> None:
    """The seed report's mismatch: every layer SKIPPED, a sentence instead of a plot."""
    assert snap_compare(snapshot_app(), terminal_size=SIZE, run_before=showing("4", "t"))
