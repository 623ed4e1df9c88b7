"""SVG screenshots of every pane, rendered by the app itself (for the README).

Runs the real explorer headless so the pictures can never drift from what users see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.tui.app import PANE_CLASSES, AlphaTuiApp

THEME = "textual-dark"


def render_pane_screenshots(
    session: AnalysisSession, out_dir: Path, size: tuple[int, int] = (110, 34)
) -> list[Path]:
    """One ``<n>-<pane>.svg`` per pane in ``out_dir``; returns the paths in pane order."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    app = AlphaTuiApp(session=session, snapshot_dir=out_dir)
    app.theme = THEME
    app.animation_level = "none"  # pictures of finished states, not of tweens
    saved: list[Path] = []

    async def auto_pilot(pilot: Any) -> None:
        await pilot.pause()  # let the tabs finish mounting before the first key
        for cls in PANE_CLASSES:
            await pilot.press(cls.key)
            for _ in range(3):
                await app.workers.wait_for_complete()
                await pilot.pause()
            await pilot.wait_for_scheduled_animations()
            name = f"{cls.key}-{cls.pane_id}.svg"  # the pane's key: 7 may be absent
            path = app.save_screenshot(filename=name, path=str(out_dir))
            saved.append(Path(path))
        app.exit()

    app.run(headless=True, size=size, auto_pilot=auto_pilot)
    return saved
