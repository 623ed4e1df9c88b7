"""Footer that rebuilds its keys once per burst of binding changes.

Textual's Footer schedules a full recompose (every key a new widget, each styled) on
every ``bindings_changed``, and one pane switch announces several (focus moves, the
pane's keys change): on a busy machine that was four rebuilds, about half a second,
before the first Overview frame. A rebuild reads the bindings current when it runs,
so one per refresh shows the same keys.
"""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Footer


class CoalescingFooter(Footer):
    _rebuild_pending = False

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
