"""Atoms x gate dimensions as a text heat map that fits whatever size it is given.

The widget asks its provider for a map of exactly the rows and columns it can show
(atoms sampled along pc1, dims ordered by mean and averaged into columns), so no
number on screen is a resampling of another one. Each cell is a shade character
(readable without colour) on a background blended from the theme's surface to its
primary colour; the scale is the gate's own range, 0 to 1.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.widget import Widget

from alpha_tui.analysis.dims import HeatMap
from alpha_tui.analysis.elements import element_symbol
from alpha_tui.tui.formatting import shade

HeatMapProvider = Callable[[int, int], HeatMap]
LABEL_WIDTH = 4  # element symbol of the sampled atom
LEGEND = "0" + "".join(shade(v / 8, 0.0, 1.0) for v in range(9)) + "1"


class GateHeatMap(Widget):
    DEFAULT_CSS = """
    GateHeatMap {
        height: 1fr;
        width: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._provider: HeatMapProvider | None = None
        self._atomic_numbers: object = None
        self.shown: HeatMap | None = None  # the map last drawn, for tests and export

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.refresh())

    def show(self, provider: HeatMapProvider, atomic_numbers: object) -> None:
        self._provider, self._atomic_numbers = provider, atomic_numbers
        self.refresh()

    def grid_size(self) -> tuple[int, int]:
        """Rows and columns of cells that fit: one line goes to the title, one column is
        kept free so a full row never wraps."""
        return max(1, self.size.height - 1), max(1, self.size.width - LABEL_WIDTH - 1)

    def render(self) -> Text:
        if self._provider is None:
            return Text("")
        rows, cols = self.grid_size()
        hm = self._provider(rows, cols)
        self.shown = hm
        per_col = max(len(g) for g in hm.dim_groups)
        text = Text(no_wrap=True, overflow="crop")
        text.append(f"shade {LEGEND} · ")
        text.append(f"atoms ↓pc1 × dims →mean ({per_col}/col)\n", style="bold")
        variables = self.app.theme_variables
        base = Color.parse(variables.get("surface", "#222222"))
        hot = Color.parse(variables.get("primary", "#4477aa"))
        z = self._atomic_numbers
        for r, atom in enumerate(hm.atoms.tolist()):
            symbol = element_symbol(int(z[atom])) if z is not None else ""  # type: ignore[index]
            text.append(f"{symbol:<{LABEL_WIDTH}}"[:LABEL_WIDTH])
            for value in hm.values[r].tolist():
                background = base.blend(hot, 0.1 + 0.9 * min(1.0, max(0.0, value)))
                style = Style(
                    color=background.get_contrast_text(1.0).rich_color,
                    bgcolor=background.rich_color,
                )
                text.append(shade(value, 0.0, 1.0), style=style)
            if r < len(hm.atoms) - 1:
                text.append("\n")
        return text
