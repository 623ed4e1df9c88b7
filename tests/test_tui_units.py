"""Pure helpers of the TUI: state transitions, formatting, progress maths, layouts."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("textual")

from synthetic import make_cache

from alpha_tui.analysis.crystals import CrystalSummary
from alpha_tui.analysis.elements import element_symbol
from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.tui.formatting import fmt, fmt_share, reduction_label, safe_token, shade
from alpha_tui.tui.panes.crystals import jump_target, sort_crystals
from alpha_tui.tui.panes.layers import tick_labels
from alpha_tui.tui.state import (
    MIN_COUNT_STEPS,
    ViewState,
    cycle,
    default_text_source,
    step_min_count,
)
from alpha_tui.tui.widgets.histogram import axis_ticks
from alpha_tui.tui.widgets.periodic_table import compact_value, element_position
from alpha_tui.tui.widgets.progress_panel import StageClock, format_duration, progress_line


def test_cycle_wraps_and_starts_unknown_values_at_the_ends() -> None:
    options = ("a", "b", "c")
    assert cycle(options, "a", 1) == "b"
    assert cycle(options, "c", 1) == "a"
    assert cycle(options, "a", -1) == "c"
    assert cycle(options, "dim:7", 1) == "a"
    assert cycle(options, "dim:7", -1) == "c"
    with pytest.raises(ValueError):
        cycle((), "a", 1)


def test_min_count_steps_move_along_the_ladder() -> None:
    assert step_min_count(1, 1) == 2
    assert step_min_count(7, 1) == 10  # an odd typed value snaps to the next step
    assert step_min_count(7, -1) == 5
    assert step_min_count(1, -1) == 1
    assert step_min_count(MIN_COUNT_STEPS[-1], 1) == MIN_COUNT_STEPS[-1]


def test_view_state_is_immutable_and_toggles_elements() -> None:
    state = ViewState(fusion="f", reduction="mean")
    on = state.toggled_element("O")
    assert on.selected_elements == frozenset({"O"}) and state.selected_elements == frozenset()
    assert on.toggled_element("O").selected_elements == frozenset()
    assert state.with_(reduction="max").reduction == "max" and state.reduction == "mean"


def test_default_text_source_prefers_the_active_fusion_transform() -> None:
    sources = ["text_projection", "m.layer_1.text_transform", "m.layer_2.text_transform"]
    assert default_text_source(sources, "m.layer_2") == "m.layer_2.text_transform"
    assert default_text_source(sources, "other") == "m.layer_1.text_transform"
    assert default_text_source(["text_projection"], "x") == "text_projection"
    assert default_text_source([], "x") is None


def test_number_formatting() -> None:
    assert fmt(0.406563) == "0.4066"
    assert fmt(None) == fmt(math.nan) == "—"
    assert fmt_share(0.0035211) == "0.4%"
    assert shade(0.0, 0.0, 1.0) == "▁" and shade(1.0, 0.0, 1.0) == "█"
    assert shade(0.5, 0.5, 0.5) == "▄"  # no spread: the middle block, neither extreme
    assert reduction_label("max", 256) == "max over 256 gate dims"
    assert reduction_label("dim:5", 256) == "gate dim 5 of 256"
    assert reduction_label("weighted:/a/b/w.npy", 16).endswith("(w.npy)")
    assert safe_token("quantile:0.9") == "quantile-0.9"


def test_axis_ticks_are_readable() -> None:
    values, labels = axis_ticks(0.0, 1.0)
    assert len(values) == 11 and labels[3] == "0.3"
    values, labels = axis_ticks(0.28750000000000003, 0.5875)
    assert labels[0] == "0.288" and labels[-1] == "0.588" and len(values) == 5


def test_progress_rate_and_eta_per_stage() -> None:
    clock = StageClock("graphs", started=100.0, done_at_start=0)
    assert clock.rate(50, 110.0) == pytest.approx(5.0)
    assert clock.eta(50, 100, 110.0) == pytest.approx(10.0)
    assert clock.rate(0, 110.0) is None and clock.eta(0, 100, 110.0) is None
    assert format_duration(3725) == "1:02:05" and format_duration(65) == "1:05"
    assert format_duration(None) == "--:--"
    line = progress_line("graphs", 50, 100, 5.0, 10.0)
    assert line == "graphs: 50/100 · 5.0/s · ETA 0:10"


def test_periodic_positions_are_unique_and_familiar() -> None:
    positions = {z: element_position(z) for z in range(1, 119)}
    assert all(p is not None for p in positions.values())
    assert len(set(positions.values())) == 118
    assert positions[1] == (0, 0) and positions[2] == (0, 17)
    assert positions[8] == (1, 15)  # O: period 2, group 16
    assert positions[26] == (3, 7)  # Fe: period 4, group 8
    assert positions[57][0] == 7 and positions[89][0] == 8  # La / Ac in the f rows
    assert positions[72] == (5, 3) and positions[86] == (5, 17)  # Hf group 4, Rn group 18
    assert element_symbol(26) == "Fe"


def test_compact_value_fits_three_characters() -> None:
    for value, text in (
        (0.43, ".43"),
        (0.004, ".00"),
        (-0.42, "-.4"),
        (1.23, "1.2"),
        (42.0, " 42"),
    ):
        assert compact_value(value) == text
    assert all(len(compact_value(v)) == 3 for v in (0.999, -0.96, -5.5, 9.99, 123.0, 1e6))


def test_crystal_jumps_and_sort_put_missing_last() -> None:
    def c(i: int, alpha: float, target: float) -> CrystalSummary:
        return CrystalSummary(i, f"C{i}", "X", target, None, 1, alpha)

    crystals = [c(0, 0.5, 1.0), c(1, 0.2, math.nan), c(2, 0.9, 3.0), c(3, math.nan, 2.0)]
    assert jump_target(crystals, "lowest") == 1
    assert jump_target(crystals, "highest") == 2
    assert jump_target(crystals, "median") == 0
    assert [x.index for x in sort_crystals(crystals, "target", False)] == [0, 3, 2, 1]
    assert [x.index for x in sort_crystals(crystals, "target", True)] == [2, 3, 0, 1]
    assert [x.index for x in sort_crystals(crystals, "prediction", False)] == [0, 1, 2, 3]


def test_tick_labels_follow_the_users_layer_numbers() -> None:
    session = AnalysisSession(make_cache(seed=0))
    rows = session.layer_flow("text_projection")
    assert tick_labels(rows) == ["L1", "L2", "L3", "F", "L4", "L5", "L6", "L7", "L8"]
