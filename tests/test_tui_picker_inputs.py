"""The reduction picker refuses impossible values inline and keeps the session's state.

Every value below parses or nearly parses but cannot be served by a gate of width H:
each must leave the picker open with a one-line message, the explorer's state as it
was, and the app running; a valid value afterwards still works.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("textual")

from synthetic import make_cache
from test_reduction_validation import write_npy_header
from textual.widgets import Input, Static

from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.errors import UserError
from alpha_tui.tui.app import AlphaTuiApp, ExplorerScreen
from alpha_tui.tui.formatting import fmt
from alpha_tui.tui.widgets.reduction_picker import ReductionPicker
from alpha_tui.tui.widgets.stats_table import StatsTable


async def settle(app: AlphaTuiApp, pilot, rounds: int = 4) -> None:
    for _ in range(rounds):
        await app.workers.wait_for_complete()
        await pilot.pause()


def impossible_values(tmp_path: Path, hidden: int) -> list[tuple[str, str]]:
    short = tmp_path / "short.npy"
    np.save(short, np.ones(hidden - 1))
    huge = write_npy_header(tmp_path / "huge.npy", (2**40,), b"\0" * 64)
    rng = np.random.default_rng(7)
    junk = ["".join(chr(int(c)) for c in rng.integers(33, 126, size=12)) for _ in range(3)]
    return [
        (f"dim:{hidden}", f"the gate has {hidden} dims"),
        (f"dim:{10**40}", "out of range"),
        ("dim:-1", "dim index must be >= 0"),
        ("quantile:1.01", "quantile must be in [0, 1]"),
        ("quantile:-1e-9", "quantile must be in [0, 1]"),
        ("quantile:nan", "quantile must be in [0, 1]"),
        ("topk-mean:0", "topk-mean needs K >= 1"),
        (f"topk-mean:{hidden + 1}", f"use 1..{hidden}"),
        (f"weighted:{short}", f"has {hidden - 1} values but the gate has {hidden} dims"),
        (f"weighted:{huge}", "declares 1099511627776 values"),
        (f"weighted:{tmp_path / 'none.npy'}", "not found"),
        ("weighted:", "needs a parameter"),
        ("mean:3", "takes no parameter"),
        *[(j, "reduction") for j in junk],
    ]


async def test_picker_refuses_impossible_values_and_keeps_state(tmp_path: Path) -> None:
    session = AnalysisSession(make_cache(seed=0))
    fusion = session.fusion_modules[0]
    hidden = session.cache.hidden_size(fusion)
    app = AlphaTuiApp(session=session, failure_log=tmp_path / "explorer.log")
    app.animation_level = "none"
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2", "r")  # a state that is not the default
        await settle(app, pilot)
        explorer = app.screen
        assert isinstance(explorer, ExplorerScreen) and explorer.state.reduction == "max"
        before = explorer.state
        await pilot.press("p")
        await settle(app, pilot)
        picker = app.screen
        assert isinstance(picker, ReductionPicker)
        cases = impossible_values(tmp_path, hidden)
        for value, fragment in cases:
            field = picker.query_one("#picker-input", Input)
            field.value = value
            await pilot.press("enter")
            await settle(app, pilot)
            assert app.screen is picker, f"{value!r} closed the picker"
            message = str(picker.query_one("#picker-error", Static).render())
            assert message.startswith("✗ ") and fragment in message, (value, message)
            assert "\n" not in message
            assert field.value == value, "the typed text stays for correction"
            assert explorer.state == before
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is explorer and explorer.state == before
        stats = app.screen.query_one("#alpha-stats", StatsTable)
        assert stats.value("mean") == fmt(session.stats(fusion, "max").mean)
        # a valid value still works after all that
        await pilot.press("p")
        await settle(app, pilot)
        app.screen.query_one("#picker-input", Input).value = f"topk-mean:{hidden}"
        await pilot.press("enter")
        await settle(app, pilot)
        assert app.screen is explorer and explorer.state.reduction == f"topk-mean:{hidden}"
        gates = np.asarray(session.cache.gates[fusion], dtype=np.float64)
        assert stats.value("mean") == fmt(gates.mean(axis=1).mean())
    assert app.return_code in (None, 0)
    assert len(cases) >= 15


def test_initial_reduction_uses_the_same_rule() -> None:
    session = AnalysisSession(make_cache(seed=0))
    hidden = session.cache.hidden_size(session.fusion_modules[0])
    with pytest.raises(UserError, match=f"dim:{hidden} is out of range"):
        AlphaTuiApp(session=session, initial_reduction=f"dim:{hidden}")
