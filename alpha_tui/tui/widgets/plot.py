"""A plotext plot that redraws itself from a painter, in the active theme's colours.

Series colours are taken from the Textual theme (primary, accent, ...) each time the
plot renders, so switching theme recolours the plots too. When there is nothing to
draw, or the widget is too small for plotext, a plain sentence is shown instead:
an empty frame would look like "no signal" when it means "no data".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.app import RenderResult
from textual.color import Color
from textual_plotext import PlotextPlot
from textual_plotext.plot import Plot

MIN_WIDTH = 16
MIN_HEIGHT = 5

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Palette:
    primary: RGB
    secondary: RGB
    accent: RGB
    warning: RGB
    error: RGB
    success: RGB
    foreground: RGB


Painter = Callable[[Plot, Palette], None]


def theme_palette(variables: dict[str, str]) -> Palette:
    def rgb(name: str, fallback: str = "foreground") -> RGB:
        value = variables.get(name) or variables.get(fallback) or "#888888"
        return Color.parse(value).rgb

    return Palette(
        primary=rgb("primary"),
        secondary=rgb("secondary", "primary"),
        accent=rgb("accent", "primary"),
        warning=rgb("warning", "accent"),
        error=rgb("error", "accent"),
        success=rgb("success", "primary"),
        foreground=rgb("foreground"),
    )


class ThemedPlot(PlotextPlot):
    DEFAULT_CSS = """
    ThemedPlot {
        width: 1fr;
        height: 1fr;
        min-height: 3;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._painter: Painter | None = None
        self._message: str = "computing…"
        #: the last plot drawn and what it was drawn from (see render)
        self._drawn: tuple[tuple[object, ...], RenderResult] | None = None

    def on_mount(self) -> None:
        super().on_mount()
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.refresh())

    def paint(self, painter: Painter) -> None:
        self._painter = painter
        self._message = ""
        self.refresh()

    def show_message(self, message: str) -> None:
        self._painter = None
        self._message = message
        self.refresh()

    @property
    def message(self) -> str:
        return self._message

    def render(self) -> RenderResult:
        if self._painter is None:
            return Text(self._message, justify="center", style="italic")
        if self.size.width < MIN_WIDTH or self.size.height < MIN_HEIGHT:
            return Text("(enlarge the window to see this plot)", style="italic")
        # Textual renders a widget again whenever it is refreshed (shown again after
        # another tab, a layout pass); plotext's build costs tens of ms per plot, so a
        # plot is drawn once per painter, size and theme and kept until one changes.
        key = (self._painter, self.size, self.app.theme)
        if self._drawn is not None and self._drawn[0] == key:
            return self._drawn[1]
        plt = self.plt
        plt.clear_figure()
        self._painter(plt, theme_palette(self.app.theme_variables))
        drawn = super().render()
        self._drawn = (key, drawn)
        return drawn
