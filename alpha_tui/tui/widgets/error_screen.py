"""Full screen for a start-up failure the user can fix (a UserError).

Shows the one-line message and nothing else: a traceback would bury the one thing
the user has to change (a path, a flag, a checkpoint key).
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Static

from alpha_tui.tui.widgets.key_bar import KeyBar


class ErrorScreen(Screen[None]):
    BINDINGS = [
        Binding("q", "quit_app", "Quit"),
        Binding("escape", "quit_app", "Quit", show=False),
        Binding("enter", "quit_app", "Quit", show=False),
    ]

    def __init__(self, message: str, *, title: str = "alpha-tui could not start") -> None:
        super().__init__()
        self.message = message
        self.heading = title

    def compose(self) -> ComposeResult:
        with Center(id="error-center"):
            with Vertical(id="error-box"):
                yield Static(f"✗ {self.heading}", id="error-title")
                yield Static(self.message, id="error-message", markup=False)
                yield Static("press q to quit", id="error-hint")
        yield KeyBar()

    def action_quit_app(self) -> None:
        # no exit message: the CLI prints the one line (Textual would print it again,
        # wrapped to the terminal width, so a long message came out as three lines)
        self.app.exit(return_code=2)
