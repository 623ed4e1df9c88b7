"""The key bar: one drawn line that shows, groups, dims and presses the screen's keys."""

from __future__ import annotations

import pytest

pytest.importorskip("textual")

from synthetic import make_cache
from test_tui_pilot import settle
from textual.app import App, ComposeResult
from textual.binding import Binding

from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.tui.app import AlphaTuiApp
from alpha_tui.tui.help import HelpScreen
from alpha_tui.tui.widgets.key_bar import (
    GAP,
    MORE,
    PALETTE_RULE,
    KeyBar,
    KeyGroup,
    KeyItem,
    Span,
    chunks,
    fit,
    key_items,
)

SIZE = (120, 40)
PANES = Binding.Group("panes", compact=True)
SORT = Binding.Group("sort", compact=True)


def shown(line: list[Span]) -> str:
    return "".join(s.text for s in line)


def test_key_items_group_one_binding_group_where_it_first_appears() -> None:
    bindings = [
        (Binding("1", "pane('a')", "A", group=PANES), True, ""),
        (Binding("q", "quit", "quit"), True, "leave"),
        (Binding("2", "pane('b')", "B", group=PANES), True, ""),
        (Binding("i", "sort('index')", "i", group=SORT), False, "by index"),
        (Binding("Q", "quit", "quit again"), True, ""),  # second key, same action
    ]
    items = key_items(bindings, lambda b: b.key.upper())
    assert items == [
        KeyGroup((KeyItem("1", "1", "", True, "A"), KeyItem("2", "2", "", True, "B")), "panes"),
        KeyItem("q", "Q", "quit", True, "leave"),
        # a group of one is drawn as a plain key with its own description
        KeyItem("i", "I", "i", False, "by index"),
    ]


def test_fit_keeps_whole_items_and_puts_the_palette_at_the_right_edge() -> None:
    items = [
        KeyGroup((KeyItem("1", "1", "", True, ""), KeyItem("2", "2", "", True, "")), "panes"),
        KeyItem("r", "r", "reduction", True, ""),
        KeyItem("s", "s", "save", True, ""),
    ]
    palette = KeyItem("ctrl+p", "^p", "palette", True, "")
    right = [*PALETTE_RULE, *chunks([palette])[0]]
    full = "12 panes" + GAP + "r reduction" + GAP + "s save"
    assert shown(fit(chunks(items), right, 45)) == full + " " * (45 - 13 - len(full)) + (
        " │ ^p palette"
    )
    # 30 columns: 17 left for the keys; "s save" would not fit, so MORE stands for it
    line = shown(fit(chunks(items), right, 30))
    assert line == "12 panes" + GAP + MORE + " " * (17 - 8 - 3) + " │ ^p palette"
    assert len(line) == 30
    # no palette, and everything fits exactly: no padding, no MORE
    assert shown(fit(chunks(items), [], len(full))) == full


class Gated(App[None]):
    """A key that is shown but disabled (check_action None), as the Footer dims it."""

    BINDINGS = [
        Binding("x", "go", "go"),
        Binding("y", "stay", "stay"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.went = 0
        self.bells = 0

    def compose(self) -> ComposeResult:
        yield KeyBar(show_command_palette=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return None if action == "stay" else True

    def action_go(self) -> None:
        self.went += 1

    def bell(self) -> None:
        self.bells += 1


def column_of(bar: KeyBar, text: str) -> int:
    """The widget-relative x of the first drawn span whose text is ``text``."""
    x = bar.styles.padding.left
    for span in bar._drawn:
        if span.text == text:
            return x
        x += len(span.text)
    raise AssertionError(f"{text!r} is not drawn: {shown(bar._drawn)!r}")


async def test_a_click_presses_an_enabled_key_and_rings_on_a_disabled_one() -> None:
    app = Gated()
    async with app.run_test(size=(60, 5)) as pilot:
        await pilot.pause()
        bar = app.query_one(KeyBar)
        assert shown(bar._drawn).startswith("x go" + GAP + "y stay")
        assert [s.item.enabled for s in bar._drawn if s.role == "key"] == [True, False]
        await pilot.click(KeyBar, offset=(column_of(bar, "go"), 0))
        await pilot.click(KeyBar, offset=(column_of(bar, "y"), 0))
        await pilot.click(KeyBar, offset=(column_of(bar, GAP), 0))  # between keys: nothing
        await pilot.pause()
        assert (app.went, app.bells) == (1, 1)
        # the disabled key is drawn dim, the enabled one is not
        strip = bar.render_line(0)
        styles = {seg.text: seg.style for seg in strip if seg.text in ("x", "y")}
        assert styles["y"].dim and not styles["x"].dim


async def test_the_explorer_bar_follows_the_pane_without_mounting_anything() -> None:
    app = AlphaTuiApp(session=AnalysisSession(make_cache(seed=0)))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        bar = app.screen.query_one(KeyBar)
        overview = shown(bar._drawn)
        assert overview.startswith("12345678 panes" + GAP + "? help" + GAP + "rR reduction")
        assert overview.endswith("│ ^p palette")
        assert "select" not in overview
        await pilot.press("3")
        await settle(app, pilot)
        elements = shown(bar._drawn)
        assert "+- min count" + GAP + "space select" in elements
        assert len(bar.children) == 0  # drawn, never a widget per key
        await pilot.click(KeyBar, offset=(column_of(bar, "?"), 0))
        await settle(app, pilot)
        assert isinstance(app.screen, HelpScreen)
