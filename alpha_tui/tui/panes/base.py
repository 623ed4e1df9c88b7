"""What every pane shares: compute a view off the UI thread, then paint it.

A pane turns the part of the ViewState it depends on into a ``key``. When the key
changes, ``compute`` runs in a thread worker (exclusive per pane, so a fast run of
key presses only keeps the last request) and ``apply`` paints the result on the UI
thread. A result whose key is no longer the requested one is dropped, so a slow
computation can never paint over a newer one.

Any exception while computing, painting or drawing a pane stays in that pane: it is
shown as one line at the top of the pane, written to the explorer log, and the rest
of the session keeps working (see ``alpha_tui.tui.containment``). Panes get this by
subclassing ``Pane``; nothing to do in the subclass.
"""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.containers import Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.errors import UserError
from alpha_tui.tui.containment import (
    Failure,
    append_log,
    contain_widget,
    default_log_path,
    failure_from,
    is_failed,
    reset_widget,
)
from alpha_tui.tui.state import ViewState

Table = tuple[list[str], list[list[Any]]]


class PaneFailureLine(Static):
    """The one line a pane shows when part of it failed."""

    DEFAULT_CSS = """
    PaneFailureLine {
        height: 1;
        color: $text-error;
        text-style: bold;
    }
    """

    def __init__(self, text: str) -> None:
        super().__init__(text, markup=False, classes="pane-failure")


class Pane(Vertical):
    pane_id: ClassVar[str] = ""
    title: ClassVar[str] = ""
    key: ClassVar[str] = ""

    class ViewShown(Message):
        """A pane painted a computed view (the explorer mounts the other panes after
        the first one)."""

    def __init__(self, session: AnalysisSession) -> None:
        super().__init__(id=f"pane-{self.pane_id}", classes="pane")
        self.session = session
        self.state: ViewState | None = None
        self.view: Any = None
        self._requested: Hashable | None = None
        self.error: str | None = None
        #: every contained failure of this pane, oldest first (tests and the log read it)
        self.failures: list[Failure] = []
        #: (key, result) computed before the pane was shown; see compute_ahead
        self._ahead: tuple[Hashable, Any] | None = None

    # ------------------------------------------------------------- to override
    def depends(self, state: ViewState) -> Hashable:
        return (state.fusion, state.reduction)

    def compute(self, state: ViewState) -> Any:  # runs in a thread
        raise NotImplementedError

    def apply(self, view: Any) -> None:  # runs on the UI thread
        raise NotImplementedError

    def export_table(self) -> Table:
        raise NotImplementedError

    def main_widget(self) -> Widget | None:
        """The widget that should get focus when the pane is shown."""
        return None

    def show_error(self, message: str) -> None:
        self.app.notify(message, title="cannot show this view", severity="error")

    # ------------------------------------------------------------- containment
    def on_mount(self) -> None:
        self.contain_widgets()

    def contain_widgets(self) -> None:
        """Wrap every widget of the pane (again after a paint, for new children)."""
        for widget in self.query("*"):
            if not isinstance(widget, PaneFailureLine):
                contain_widget(widget, self.report_failure)

    def report_failure(self, failure: Failure) -> None:
        """Log now, show later: this may be called from inside a widget's render."""
        self.failures.append(failure)
        self.log.error(f"pane {self.pane_id}: {failure.where}\n{failure.detail}")
        note = ""
        path = getattr(self.app, "failure_log", None) or default_log_path()
        try:
            append_log(Path(path), self.pane_id, failure)
            note = f" · details in {path}"
        except OSError as exc:
            note = f" · could not write the log {path}: {exc.strerror or exc}"
        self.call_later(self._show_failure, failure.line(self.title) + note)

    def _show_failure(self, line: str) -> None:
        shown = self.query(PaneFailureLine)
        if shown:
            shown.first().update(line)
        elif self.children:
            self.mount(PaneFailureLine(line), before=0)
        else:
            self.mount(PaneFailureLine(line))

    def _clear_failures(self) -> None:
        for widget in self.query("*"):
            if is_failed(widget):
                reset_widget(widget)
        for line in self.query(PaneFailureLine):
            line.remove()

    # ------------------------------------------------------------- machinery
    def show_state(self, state: ViewState, *, force: bool = False) -> None:
        key = self.depends(state)
        if key == self._requested and not force:
            self.state = state
            return
        self.state = state
        self._requested = key
        ahead = self._take_ahead(key) if not force else None
        if ahead is not None:
            self._cancel_compute()
            self._show(key, ahead[1])
            return
        self.loading = self.view is None
        self._compute(state, key)

    @property
    def is_current(self) -> bool:
        return self.state is not None and self._requested == self.depends(self.state)

    def _result(self, state: ViewState) -> Any:
        """The view, or the UserError / contained Failure that replaces it."""
        try:
            return self.compute(state)
        except UserError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - a bug in one view must not end the app
            return failure_from("computing the view", exc)

    @work(thread=True, exclusive=True, group="pane")
    def _compute(self, state: ViewState, key: Hashable) -> tuple[Hashable, Any]:
        return key, self._result(state)

    def _cancel_compute(self) -> None:
        """A view known ahead replaces any computation still running for an older key."""
        self.workers.cancel_group(self, "pane")

    # ------------------------------------------------------------- computed ahead
    def compute_ahead(self, state: ViewState) -> bool:
        """Compute the view of ``state`` before the pane is shown (any thread).

        Kept for one key only: the explorer warms every pane for the state in force,
        and a newer state makes the older view useless. Returns False when there was
        nothing to do (the pane already shows or holds that view). Exceptions are
        kept like views, so the pane reports them when it is shown, as if computed then.
        """
        key = self.depends(state)
        if key == self._requested or self._ahead_key() == key:
            return False
        self._ahead = (key, self._result(state))
        return True

    def _ahead_key(self) -> Hashable | None:
        ahead = self._ahead
        return None if ahead is None else ahead[0]

    def _take_ahead(self, key: Hashable) -> tuple[Hashable, Any] | None:
        ahead, self._ahead = self._ahead, None
        if ahead is None or ahead[0] != key:
            return None
        return ahead

    # ------------------------------------------------------------- painting
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "pane" or event.state != WorkerState.SUCCESS:
            return
        event.stop()
        key, view = event.worker.result
        self._show(key, view)

    def _show(self, key: Hashable, view: Any) -> None:
        """Paint a computed result, unless a newer key was requested meanwhile."""
        if key != self._requested:
            return
        self.loading = False
        if isinstance(view, UserError):
            self.error = view.message
            self.show_error(view.message)
            return
        if isinstance(view, Failure):
            self.error = view.summary
            self.report_failure(view)
            return
        self.error = None
        self._clear_failures()
        self.view = view
        try:
            self.apply(view)
        except Exception as exc:  # noqa: BLE001
            self.error = str(exc)
            self.report_failure(failure_from("painting the view", exc))
        self.contain_widgets()
        self.post_message(self.ViewShown())


class SortablePane(Pane):
    """A pane whose main table re-sorts on a key press or a header click.

    Sorting only reorders rows already computed, so it never goes back to the
    worker: the subclass refills its table from ``self.view``.
    """

    #: sort key (also the table column key) -> (column label, attribute sorted on)
    SORTS: ClassVar[dict[str, tuple[str, str]]] = {}
    #: the column sorted on before the user picks one
    default_sort: ClassVar[str] = ""
    #: id of the sorted table: header clicks on the pane's other tables are not sorts
    sort_table: ClassVar[str] = ""

    def __init__(self, session: AnalysisSession) -> None:
        super().__init__(session)
        self.sort_column = self.default_sort
        self.sort_reverse = False

    def _fill_table(self, view: Any) -> None:
        raise NotImplementedError

    def sort_by(self, column: str) -> None:
        """Same column again flips the direction; a new column starts ascending."""
        if column == self.sort_column:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_column, self.sort_reverse = column, False
        if self.view is not None:
            self._fill_table(self.view)

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        if event.data_table.id == self.sort_table and key in self.SORTS:
            self.sort_by(str(key))

    def label_sort_column(self, table: DataTable[Any]) -> None:
        """Arrow on the sorted column's header, plain labels elsewhere."""
        arrow = "▼" if self.sort_reverse else "▲"
        for key, (label, _) in self.SORTS.items():
            column = table.columns.get(key)  # type: ignore[call-overload]
            if column is not None:
                column.label = Text(f"{label} {arrow}" if key == self.sort_column else label)
        table.refresh()
