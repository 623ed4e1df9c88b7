"""A periodic-table heat map of mean alpha per element.

Every coloured cell also carries its symbol and a shade character (and the value
itself when the widget is wide enough), so the map reads without colour. Colours
are blended from the active theme's surface and primary colours.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.widget import Widget

from alpha_tui.tui.formatting import fmt, shade

N_COLS = 18
F_ROW_LANTHANIDES = 7
F_ROW_ACTINIDES = 8
N_ROWS = 9


def element_position(z: int) -> tuple[int, int] | None:
    """(row, column) in the usual 18-column layout; the f-block goes to rows 7-8."""
    if z == 1:
        return 0, 0
    if z == 2:
        return 0, 17
    if 3 <= z <= 18:
        period_start = 3 if z <= 10 else 11
        row = 1 if z <= 10 else 2
        offset = z - period_start
        return row, offset if offset < 2 else offset + 10
    if 19 <= z <= 54:
        row = 3 if z <= 36 else 4
        return row, (z - 19) % 18
    for start, row, f_row in ((55, 5, F_ROW_LANTHANIDES), (87, 6, F_ROW_ACTINIDES)):
        if start <= z < start + 32:
            offset = z - start
            if offset < 2:
                return row, offset
            if offset < 17:  # La..Lu / Ac..Lr
                return f_row, offset + 1
            return row, offset - 14
    return None


def compact_value(value: float) -> str:
    """Three characters: ".43", "-.4", "1.2", "12", "≫"."""
    if 0.0 <= value < 0.995:
        return f"{value:.2f}"[1:]
    if -0.95 < value < 0.0:
        return "-" + f"{-value:.1f}"[1:]
    if abs(value) < 9.95:
        return f"{value:.1f}" if value >= 0 else f"{value:.0f}".rjust(3)
    if abs(value) < 999.5:
        return f"{value:.0f}".rjust(3)[:3]
    return "  ≫"


@dataclass(frozen=True)
class ElementCell:
    symbol: str
    z: int
    mean: float
    count: int


class PeriodicTable(Widget):
    DEFAULT_CSS = """
    PeriodicTable {
        height: auto;
        width: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._cells: dict[int, ElementCell] = {}
        self._symbols: dict[int, str] = {}
        self._selected: frozenset[str] = frozenset()
        self._range: tuple[float, float] = (0.0, 1.0)

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.refresh())

    def show(
        self,
        cells: Iterable[ElementCell],
        *,
        symbols: dict[int, str],
        selected: frozenset[str],
    ) -> None:
        self._cells = {c.z: c for c in cells}
        self._symbols = symbols
        self._selected = selected
        means = [c.mean for c in self._cells.values()]
        self._range = (min(means), max(means)) if means else (0.0, 1.0)
        self.refresh(layout=True)

    def get_content_height(self, container: object, viewport: object, width: int) -> int:
        return N_ROWS + 2

    def _cell_width(self) -> int:
        width = self.size.width or 80
        if width >= N_COLS * 6:
            return 6
        if width >= N_COLS * 4:
            return 4
        return 3

    def _cell_text(self, z: int, cell_width: int) -> tuple[str, Style]:
        variables = self.app.theme_variables
        base = Color.parse(variables.get("surface", "#222222"))
        hot = Color.parse(variables.get("primary", "#4477aa"))
        muted = Color.parse(variables.get("foreground-muted", variables.get("foreground", "#888")))
        symbol = self._symbols.get(z, "")
        if len(symbol) > 2:  # no symbol known for this Z (superheavy): keep the grid shape
            symbol = "··"
        cell = self._cells.get(z)
        if cell is None:
            body = symbol.ljust(cell_width)[:cell_width]
            return body, Style(color=muted.rich_color, dim=True)
        lo, hi = self._range
        frac = 0.5 if hi <= lo else (cell.mean - lo) / (hi - lo)
        background = base.blend(hot, 0.15 + 0.85 * frac)
        mark = shade(cell.mean, lo, hi)
        if cell_width >= 6:
            body = f"{symbol:<2}{compact_value(cell.mean)} "
        elif cell_width >= 4:
            body = f"{symbol:<2}{mark} "
        else:
            body = f"{symbol:<2}{mark}"
        selected = symbol in self._selected
        style = Style(
            color=background.get_contrast_text(1.0).rich_color,
            bgcolor=background.rich_color,
            bold=selected,
            underline=selected,
        )
        return body, style

    def render(self) -> Text:
        cell_width = self._cell_width()
        grid: dict[tuple[int, int], int] = {}
        for z in range(1, 119):
            pos = element_position(z)
            if pos is not None:
                grid[pos] = z
        text = Text(no_wrap=True, overflow="crop")
        for row in range(N_ROWS):
            if row == F_ROW_LANTHANIDES:
                text.append("\n")
            for col in range(N_COLS):
                z = grid.get((row, col))
                if z is None:
                    text.append(" " * cell_width)
                    continue
                body, style = self._cell_text(z, cell_width)
                text.append(body, style)
            text.append("\n")
        lo, hi = self._range
        if self._cells:
            text.append(
                f"shade ▁ {fmt(lo, 3)} … █ {fmt(hi, 3)} mean alpha · dim symbol: absent or "
                "below min count · underlined: selected",
                style="italic",
            )
        else:
            text.append("no element passes the minimum-count filter", style="italic")
        return text
