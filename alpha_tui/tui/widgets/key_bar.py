"""The bottom line of keys, drawn as one widget instead of one widget per key.

Textual's Footer holds a styled widget per key and rebuilds them all whenever the
screen's bindings change. Every pane enables keys of its own, so each pane switch
rebuilt about forty of them: up to 135 ms of a 100-250 ms pane switch on the sample
(``tests/benchmarks/repaint_profile.py`` with the footer's rebuild patched out, Intel
Xeon, 2026-12-02). One line of text made from the same bindings costs the repaint of
one row. It keeps what the Footer offered: keys grouped by Binding.Group, disabled keys
dimmed, the command-palette key on the right, a tooltip per key, and a click on a key
presses it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.screen import Screen
from textual.widget import Widget

#: between two items on the line
GAP = "  "
#: where keys that do not fit are left out
MORE = "…"


@dataclass(frozen=True)
class KeyItem:
    key: str  # what a click sends (App.simulate_key)
    display: str
    description: str  # "" for a key drawn inside a group
    enabled: bool
    tooltip: str


@dataclass(frozen=True)
class KeyGroup:
    """Keys of one Binding.Group drawn together under one label ("12345678 panes")."""

    keys: tuple[KeyItem, ...]
    label: str


Item = KeyItem | KeyGroup


def key_items(
    bindings: Iterable[tuple[Binding, bool, str]], key_display: Callable[[Binding], str]
) -> list[Item]:
    """What the line shows: one key per action (the first bound), and the actions of
    one Binding.Group together where its first one is, under its label when there are
    two or more. Textual's Footer groups only neighbours in the screen's key order, so
    a key bound elsewhere first ("i", a Crystals sort) split the Text-effect sort keys.

    ``bindings`` are (binding, enabled, tooltip) in the screen's order, shown ones only.
    """
    by_action: dict[str, tuple[Binding, bool, str]] = {}
    for binding, enabled, tooltip in bindings:
        by_action.setdefault(binding.action, (binding, enabled, tooltip))
    buckets: dict[object, list[tuple[Binding, bool, str]]] = {}
    for action, entry in by_action.items():
        group = entry[0].group
        buckets.setdefault(group if group is not None else action, []).append(entry)
    items: list[Item] = []
    for run in buckets.values():
        group = run[0][0].group
        if group is not None and len(run) > 1:
            keys = tuple(
                KeyItem(b.key, key_display(b), "", enabled, tooltip or b.description)
                for b, enabled, tooltip in run
            )
            items.append(KeyGroup(keys, group.description))
        else:
            items.extend(
                KeyItem(b.key, key_display(b), b.description, enabled, tooltip)
                for b, enabled, tooltip in run
            )
    return items


@dataclass(frozen=True)
class Span:
    """One run of text on the line: which key it presses (None for a label or a gap)."""

    text: str
    role: str  # "key", "description", "label" (drawn as a description) or "gap"
    item: KeyItem | None


#: between the keys and the command-palette key, which sits at the right end
PALETTE_RULE = (Span(" ", "gap", None), Span("│", "label", None), Span(" ", "gap", None))


def chunks(items: list[Item]) -> list[list[Span]]:
    """Each item's spans, the gap before it included. Spaces are spans of their own,
    so no drawn word starts with one (an SVG viewer may drop a leading space)."""
    out: list[list[Span]] = []
    for n, item in enumerate(items):
        chunk = [Span(GAP, "gap", None)] if n else []
        if isinstance(item, KeyGroup):
            chunk.extend(Span(k.display, "key", k) for k in item.keys)
            chunk += [Span(" ", "gap", None), Span(item.label, "label", None)]
        else:
            chunk.append(Span(item.display, "key", item))
            if item.description:
                chunk += [Span(" ", "gap", item), Span(item.description, "description", item)]
        out.append(chunk)
    return out


def width_of(spans: list[Span]) -> int:
    return sum(len(s.text) for s in spans)


def fit(left: list[list[Span]], right: list[Span], width: int) -> list[Span]:
    """Whole items of ``left`` from the left edge while they fit, then MORE if some do
    not (the help screen lists every key); ``right`` against the right edge."""
    room = max(0, width - width_of(right))
    out: list[Span] = []
    used = 0
    for n, chunk in enumerate(left):
        reserve = 0 if n == len(left) - 1 else len(GAP + MORE)
        if used + width_of(chunk) + reserve > room:
            if used + len(GAP + MORE) <= room:
                out += [Span(GAP, "gap", None), Span(MORE, "label", None)]
                used += len(GAP + MORE)
            break
        out.extend(chunk)
        used += width_of(chunk)
    if right:
        out.append(Span(" " * (room - used), "gap", None))
        out.extend(right)
    return out


class KeyBar(Widget, can_focus=False):
    """The screen's keys on one line, redrawn (not rebuilt) when they change."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {"key-bar--key", "key-bar--description", "key-bar--hover"}
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        width: 1fr;
        padding: 0 1;
        color: $footer-foreground;
        background: $footer-background;
        & > .key-bar--key {
            color: $footer-key-foreground;
            text-style: bold;
        }
        & > .key-bar--description {
            color: $footer-description-foreground;
        }
        & > .key-bar--hover {
            background: $block-hover-background;
        }
    }
    """

    def __init__(self, *, show_command_palette: bool = True, id: str | None = None) -> None:
        super().__init__(id=id)
        self.show_command_palette = show_command_palette
        self.items: list[Item] = []
        self.palette: KeyItem | None = None
        #: the line as last drawn, to find the key under the mouse
        self._drawn: list[Span] = []
        self._hover: KeyItem | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self.bindings_changed)
        self.call_after_refresh(self.bindings_changed, self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def bindings_changed(self, screen: Screen) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        active = screen.active_bindings
        shown = [(b.binding, b.enabled, b.tooltip) for b in active.values() if b.binding.show]
        items = key_items(shown, self.app.get_key_display)
        palette = None
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            found = active.get(self.app.COMMAND_PALETTE_BINDING)
            if found is not None:
                b = found.binding
                shown_key = self.app.get_key_display(b)
                palette = KeyItem(b.key, shown_key, b.description, found.enabled, b.tooltip)
        if (items, palette) != (self.items, self.palette):
            self.items, self.palette = items, palette
            self.refresh()

    def line(self, width: int) -> list[Span]:
        right = []
        if self.palette is not None:
            right = [*PALETTE_RULE, *chunks([self.palette])[0]]
        return fit(chunks(self.items), right, width)

    def render(self) -> Text:
        self._drawn = self.line(self.content_size.width)
        styles = {
            role: self.get_component_rich_style(f"key-bar--{role}")
            for role in ("key", "description")
        }
        styles["label"] = styles["description"]
        hover = self.get_component_rich_style("key-bar--hover")
        text = Text(no_wrap=True, overflow="crop", end="")
        for span in self._drawn:
            style = styles.get(span.role, Style())
            if span.item is not None and not span.item.enabled:
                style += Style(dim=True)
            if span.item is not None and span.item is self._hover:
                style += hover
            text.append(span.text, style)
        return text

    def item_at(self, x: int) -> KeyItem | None:
        """The key drawn at column ``x`` of the content (None between keys)."""
        start = 0
        for span in self._drawn:
            if start <= x < start + len(span.text):
                return span.item
            start += len(span.text)
        return None

    def _content_x(self, event: events.MouseEvent) -> int:
        return event.x - self.styles.padding.left

    def on_mouse_move(self, event: events.MouseMove) -> None:
        item = self.item_at(self._content_x(event))
        if item is not self._hover:
            self._hover = item
            self.tooltip = (item.tooltip or item.description) if item is not None else None
            self.refresh()

    def on_leave(self, event: events.Leave) -> None:
        if self._hover is not None:
            self._hover = None
            self.tooltip = None
            self.refresh()

    def on_click(self, event: events.Click) -> None:
        item = self.item_at(self._content_x(event))
        if item is None:
            return
        if item.enabled:
            self.app.simulate_key(item.key)
        else:
            self.app.bell()
