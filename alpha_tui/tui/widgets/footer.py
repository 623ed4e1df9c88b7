"""Footer that rebuilds its keys once per burst of binding changes, and only when
the keys it would show differ from the ones it shows.

Textual's Footer schedules a full recompose (every key a new widget, each styled) on
every ``bindings_changed``, and one pane switch announces several (focus moves, the
pane's keys change): on a busy machine that was four rebuilds, about half a second,
before the first Overview frame. A rebuild reads the bindings current when it runs,
so one per refresh shows the same keys. Most pane switches keep the same keys (only
Elements, Crystals and Text effect add their own), and rebuilding forty identical
key widgets was most of a pane switch's time: the footer compares what it would
show with what it shows and keeps its widgets when they are the same.
"""

from __future__ import annotations

from collections.abc import Hashable

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer


class CoalescingFooter(Footer):
    _rebuild_pending = False
    #: what the last compose showed (see _shown_keys); None before the first one
    _composed: Hashable | None = None

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if self.is_attached and screen is self.screen and not self._rebuild_pending:
            self._rebuild_pending = True
            self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_pending = False
        await self.recompose()

    def _shown_keys(self) -> Hashable:
        """Everything Footer.compose reads, as one comparable value."""
        if not self._bindings_ready:
            return None
        keys = tuple(
            (
                binding.key,
                binding.key_display,
                binding.description,
                binding.action,
                binding.group,
                enabled,
                tooltip,
            )
            for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
            if binding.show
        )
        palette = self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE
        return keys, palette, self.compact

    def compose(self) -> ComposeResult:
        self._composed = self._shown_keys()
        yield from super().compose()

    async def recompose(self) -> None:
        if self._composed is not None and self._shown_keys() == self._composed:
            return
        await super().recompose()
