"""Command-palette provider: every explorer action, plus direct choices.

Besides the keyed actions ("reduction: next"), the palette offers choices that
would take several key presses ("reduction: max", "fusion: layer_3", "text source:
text_projection"). The explorer screen owns the list so the palette and the keys
call the same methods.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from textual.command import DiscoveryHit, Hit, Hits, Provider

Command = tuple[str, Callable[[], object], str]


@runtime_checkable
class HasCommands(Protocol):
    def palette_commands(self) -> list[Command]: ...


class ExplorerCommands(Provider):
    def _commands(self) -> list[Command]:
        screen = self.screen
        if isinstance(screen, HasCommands):
            return screen.palette_commands()
        return []

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
