"""What the first frames need: a light app module, the frame probe, lazy panes, one paint.

The timings themselves are benchmark figures (tests/benchmarks/fig_frames.py); these
tests pin the mechanisms those figures rely on.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("textual")

from synthetic import make_cache

from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.tui.app import PANE_IDS, AlphaTuiApp
from alpha_tui.tui.frame_probe import (
    ENV_VAR,
    FIRST_FRAME,
    OVERVIEW_DATA,
    FrameProbe,
    probe_from_env,
    read_events,
)

ROOT = Path(__file__).resolve().parents[1]
SIZE = (120, 40)


@pytest.fixture(scope="module")
def session() -> AnalysisSession:
    return AnalysisSession(make_cache(seed=0))


async def settle(app, pilot) -> None:
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


def modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport json, sys; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_app_module_leaves_the_explorer_for_later() -> None:
    loaded = modules_after("import alpha_tui.cli, alpha_tui.tui.app")
    heavy = {"torch", "plotext", "alpha_tui.tui.explorer", "alpha_tui.analysis.session"}
    assert not heavy & loaded
    assert not {m for m in loaded if m.startswith("alpha_tui.tui.panes")}


def test_option_checks_before_the_first_frame_need_no_torch() -> None:
    code = (
        "from alpha_tui.cli import build_parser, checked_run_args\n"
        "from alpha_tui.errors import UserError\n"
        "try:\n"
        "    checked_run_args(build_parser().parse_args(['--batch-size', '0']))\n"
        "except UserError as exc:\n"
        "    print('refused:', exc.message)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code + "import sys; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout.splitlines()
    assert out == ["refused: --batch-size must be at least 1", "False"]


def test_probe_writes_each_event_once_and_stops_after_the_data(tmp_path: Path) -> None:
    stops: list[str] = []
    log = tmp_path / "frames.log"
    probe = FrameProbe(log, lambda: stops.append("stop"))
    probe.mark(FIRST_FRAME)
    probe.mark(FIRST_FRAME)
    assert stops == []
    probe.mark(OVERVIEW_DATA)
    lines = log.read_text().splitlines()
    assert [line.split()[0] for line in lines] == [FIRST_FRAME, OVERVIEW_DATA]
    events = read_events(log)
    assert events[FIRST_FRAME] == float(lines[0].split()[1])
    assert events[FIRST_FRAME] <= events[OVERVIEW_DATA]
    assert stops == ["stop"]
    assert probe_from_env({}, lambda: None) is None
    assert probe_from_env({ENV_VAR: str(log)}, lambda: None).path == log


async def test_app_stamps_first_frame_then_overview_and_exits(
    session: AnalysisSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "frames.log"
    monkeypatch.setenv(ENV_VAR, str(log))
    app = AlphaTuiApp(session=session)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(200):
            if OVERVIEW_DATA in read_events(log) and not app.is_running:
                break
            await pilot.pause(0.02)
    events = read_events(log)
    assert list(events) == [FIRST_FRAME, OVERVIEW_DATA]
    assert events[FIRST_FRAME] <= events[OVERVIEW_DATA]
    assert app.explorer is None or app.explorer.panes["overview"].view is not None
    assert not app.is_running


async def test_other_panes_mount_after_the_first_view(session: AnalysisSession) -> None:
    app = AlphaTuiApp(session=session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        explorer = app.explorer
        assert explorer.panes["overview"].view is not None
        assert all(explorer.panes[p].is_mounted for p in PANE_IDS)
        assert all(explorer.panes[p].view is None for p in PANE_IDS[1:])  # nothing computed


async def test_a_pane_paints_each_view_once(session: AnalysisSession) -> None:
    """Textual calls every class's worker handler in the MRO: a subclass that also
    called super() painted twice and cancelled its own atoms request."""
    app = AlphaTuiApp(session=session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        painted: dict[str, int] = {}
        for pane_id in ("crystals", "text_effect", "alpha"):
            pane = app.explorer.panes[pane_id]
            original = pane.apply

            def counting(view, original=original, pane_id=pane_id) -> None:
                painted[pane_id] = painted.get(pane_id, 0) + 1
                original(view)

            pane.apply = counting  # type: ignore[method-assign]
        for key in ("5", "7", "2"):
            await pilot.press(key)
            await settle(app, pilot)
        assert painted == {"crystals": 1, "text_effect": 1, "alpha": 1}
        await pilot.press("r")
        await settle(app, pilot)
        assert painted["alpha"] == 2
