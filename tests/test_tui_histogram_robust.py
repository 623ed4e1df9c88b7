"""The histogram painter draws any histogram the engine can produce, at any plot size.

Two real failures led here: selecting a rare element crashed plotext's legend (its
shares lay above the y range, so plotext dropped every point of a labelled series),
and a span of 1e-12 made plotext draw a line of 10^12 cells (a hang). Hypothesis
tries counts, spans and sizes; every build must finish and show the tick labels.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("textual_plotext")

from hypothesis import given, settings
from hypothesis import strategies as st
from textual_plotext.plot import Plot

from alpha_tui.tui.widgets.histogram import Series, axis_ticks, bin_position, histogram_painter
from alpha_tui.tui.widgets.plot import Palette

PALETTE = Palette(*[(200, 100, 50)] * 7)


def build(painter, width: int, height: int) -> str:
    plot = Plot()
    plot.clear_figure()
    plot.plotsize(width, height)
    painter(plot, PALETTE)
    return plot.build()


def test_rare_selection_above_all_atoms_share_is_drawn() -> None:
    """The crash case: one selected atom is a share of 1.0 in its bin, while the
    largest share of all atoms is 1/20; the overlay marker must be on the canvas."""
    edges = np.linspace(0.0, 1.0, 21)
    main = Series("all atoms", edges, np.ones(20))
    overlay = Series("U (1 atoms)", edges, np.r_[np.zeros(19), 1.0])
    text = build(histogram_painter(main, overlay=overlay, density=True), 60, 20)
    assert "●" in text
    assert "U (1 atoms)" in text  # the legend is drawn, not skipped


def test_empty_overlay_is_left_out() -> None:
    edges = np.linspace(0.0, 1.0, 11)
    main = Series("all atoms", edges, np.arange(10))
    overlay = Series("Xx (0 atoms)", edges, np.zeros(10))
    text = build(histogram_painter(main, overlay=overlay, density=True), 60, 20)
    assert "Xx (0 atoms)" not in text and "all atoms" in text


def test_bin_position_maps_edges_to_bin_units() -> None:
    assert bin_position(0.3, 0.0, 1.0, 40) == pytest.approx(12.0)
    assert bin_position(0.5, 0.5, 0.5, 7) == 3.5  # no span: the middle, not a ZeroDivision
    assert axis_ticks(-1e308, 1e308)[1] == ["-1e+308", "1e+308"]


spans = st.sampled_from([1e-300, 1e-12, 1e-6, 1.0, 1e6, 1e300])


@settings(max_examples=60, deadline=2000)
@given(
    lo=st.floats(-1e6, 1e6, allow_nan=False),
    span=spans,
    counts=st.lists(st.integers(0, 10**6), min_size=1, max_size=60),
    selected=st.lists(st.integers(0, 50), min_size=0, max_size=60),
    width=st.integers(16, 200),
    height=st.integers(5, 60),
    density=st.booleans(),
)
def test_any_histogram_builds(lo, span, counts, selected, width, height, density) -> None:
    n = len(counts)
    edges = np.linspace(lo, lo + span, n + 1)
    main = Series("all atoms", edges, np.asarray(counts))
    picked = (selected + [0] * n)[:n]
    overlay = Series("sel", edges, np.asarray(picked)) if selected else None
    text = build(histogram_painter(main, overlay=overlay, density=density), width, height)
    assert isinstance(text, str) and text
