"""Modal to type a reduction spec (``dim:5``, ``quantile:0.9``, ``weighted:w.npy``).

Input is parsed with the analysis engine's ``parse_reduction`` and then tried on the
data (off the UI thread) by the ``validate`` callable, so a dimension past H or a
weights file of the wrong length is an inline message in the dialog, never a crash
and never a pane left in an error state.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static
from textual.worker import get_current_worker

from alpha_tui.analysis.reductions import DEFAULT_CYCLE, describe, parse_reduction
from alpha_tui.errors import UserError
from alpha_tui.tui.containment import summarize

Validator = Callable[[str], None]


EXAMPLES = "type e.g. max, dim:5, quantile:0.9, weighted:w.npy"
WEIGHTED_HELP = "weighted mean with a .npy/.txt/.csv vector of length H"


def reduction_help_rows() -> list[tuple[str, str]]:
    rows = [(name, describe(parse_reduction(name))) for name in DEFAULT_CYCLE]
    rows.append(("weighted:FILE", WEIGHTED_HELP))
    return rows


def reduction_help_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for name, text in reduction_help_rows():
        table.add_row(name, text)
    return table


class ReductionPicker(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: str, *, validate: Validator | None = None) -> None:
        super().__init__()
        self.current = current
        self.validate = validate

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box"):
            yield Static(
                "reduction: how the H gate values of an atom become one alpha", id="picker-title"
            )
            yield Input(
                placeholder=f"now {self.current}: {EXAMPLES}",
                id="picker-input",
            )
            yield Static("", id="picker-error", markup=False)
            yield Static(reduction_help_table(), id="picker-help")
            yield Static("enter: apply · escape: cancel", id="picker-hint")

    def on_mount(self) -> None:
        self.query_one("#picker-input", Input).focus()

    def show_error(self, message: str) -> None:
        error = self.query_one("#picker-error", Static)
        error.update(f"✗ {message}" if message else "")
        error.set_class(bool(message), "-visible")

    @on(Input.Changed, "#picker-input")
    def _clear_error(self) -> None:
        self.show_error("")

    @on(Input.Submitted, "#picker-input")
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            spec = parse_reduction(event.value)
        except UserError as exc:
            self.show_error(exc.message)
            return
        if self.validate is None:
            self.dismiss(spec.name)
            return
        self.query_one("#picker-error", Static).update(f"checking {spec.name}…")
        self._check(spec.name)

    @work(thread=True, exclusive=True, group="picker")
    def _check(self, name: str) -> None:
        assert self.validate is not None
        try:
            self.validate(name)
        except UserError as exc:
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self.show_error, exc.message)
            return
        except Exception as exc:  # noqa: BLE001 - a bug must not end the session
            self.log.error(f"reduction picker: {name}: {exc!r}")
            if not get_current_worker().is_cancelled:
                message = f"cannot compute {name}: {summarize(exc)}; pick another reduction"
                self.app.call_from_thread(self.show_error, message)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self.dismiss, name)

    def action_cancel(self) -> None:
        self.dismiss(None)
