"""The alpha-tui explorer application.

The app opens at once: with a ``loader`` it shows a progress screen while the
capture runs in a thread worker (the keyboard stays live and `q` cancels through a
threading.Event the loader polls); with a ``session`` (tests, cached runs) it goes
straight to the explorer. The app never imports torch: everything heavy is behind
the loader callable.

The first frame is the loading screen, so this module imports only what that screen
needs: the explorer (panes, plots, the analysis session) lives in
``alpha_tui.tui.explorer`` and is imported when a session is ready, and the loader
starts after the first frame is rendered. ``PANE_CLASSES``, ``PANE_IDS``,
``ExplorerScreen`` and ``initial_state`` are still importable from here (lazily).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Header, Static
from textual.worker import Worker, WorkerState

from alpha_tui.analysis.reductions import parse_reduction
from alpha_tui.errors import UserError
from alpha_tui.tui.commands import ExplorerCommands
from alpha_tui.tui.containment import append_log, default_log_path, failure_from
from alpha_tui.tui.frame_probe import FIRST_FRAME, probe_from_env
from alpha_tui.tui.widgets.error_screen import ErrorScreen
from alpha_tui.tui.widgets.key_bar import KeyBar
from alpha_tui.tui.widgets.progress_panel import ProgressPanel

if TYPE_CHECKING:
    from alpha_tui.analysis.session import AnalysisSession
    from alpha_tui.tui.explorer import ExplorerScreen
    from alpha_tui.tui.panes.text_effect import TextEffectRunner

ProgressCallback = Callable[[int, int, str], None]
Loader = Callable[[ProgressCallback, threading.Event], "AnalysisSession"]

#: names that moved to alpha_tui.tui.explorer, still importable from this module
_EXPLORER_NAMES = ("PANE_CLASSES", "PANE_IDS", "ExplorerScreen", "initial_state")


def __getattr__(name: str) -> Any:
    if name in _EXPLORER_NAMES:
        from alpha_tui.tui import explorer

        return getattr(explorer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _explorer():
    """The explorer module, imported on first use (it pulls in every pane)."""
    from alpha_tui.tui import explorer

    return explorer


# ---------------------------------------------------------------------- loading


class LoadProgress(Message):
    """New progress is waiting in the app's ProgressSlot."""


class ProgressSlot:
    """Latest (done, total, stage) from the loader thread; coalesces reports."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: tuple[int, int, str] | None = None
        self._pending = False

    def put(self, value: tuple[int, int, str]) -> bool:
        """Store ``value``; True when the caller should post a wake-up message."""
        with self._lock:
            self._value = value
            if self._pending:
                return False
            self._pending = True
            return True

    def take(self) -> tuple[int, int, str] | None:
        """The latest value (kept, so a panel mounted later can still show it)."""
        with self._lock:
            self._pending = False
            return self._value


class LoadingScreen(Screen[None]):
    BINDINGS = [
        Binding("q", "app.quit", "Cancel and quit"),
        Binding("escape", "app.quit", "Cancel and quit", show=False),
    ]

    def on_mount(self) -> None:
        self.post_message(LoadProgress())

    def compose(self) -> ComposeResult:
        yield Header()
        with Center(id="loading-center"):
            with Vertical(id="loading-box"):
                yield Static("loading: building graphs and running the model", id="loading-title")
                yield ProgressPanel(id="progress")
                yield Static("q / ctrl+c: cancel", id="loading-hint")
        yield KeyBar()


# ---------------------------------------------------------------------- app


class AlphaTuiApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "alpha-tui"
    COMMANDS = App.COMMANDS | {ExplorerCommands}
    BINDINGS = [
        Binding("q", "quit", "quit"),
        Binding("ctrl+c", "quit", "quit", show=False, priority=True),
    ]

    def __init__(
        self,
        *,
        loader: Loader | None = None,
        session: AnalysisSession | None = None,
        title: str = "alpha-tui",
        snapshot_dir: Path = Path("alpha-tui-snapshots"),
        initial_fusion: str | None = None,
        initial_reduction: str = "mean",
        failure_log: Path | None = None,
        debug: bool = False,
        text_effect: TextEffectRunner | None = None,
    ) -> None:
        if loader is None and session is None:
            raise ValueError("AlphaTuiApp needs a loader or a session")
        super().__init__()
        self.title = title
        self.loader = loader
        self.session = session
        self.snapshot_dir = Path(snapshot_dir)
        #: where panes log contained failures; None: <cache root>/logs/explorer.log
        self.failure_log = failure_log
        #: re-raise unexpected loading errors (the CLI's --debug) instead of one line
        self.reraise_load_errors = debug
        self.initial_fusion = initial_fusion
        self.initial_reduction = parse_reduction(initial_reduction).name
        self.cancel_event = threading.Event()
        self.text_effect = text_effect  # counterfactual runner from the CLI (holds the model)
        self._progress = ProgressSlot()
        self.error_message: str | None = None
        #: benchmark hook (ALPHA_TUI_BENCH_FRAMES); None in every normal run
        self.frame_probe = probe_from_env(os.environ, self.exit)
        self._initial_state = (
            _explorer().initial_state(session, initial_fusion, self.initial_reduction)
            if session is not None
            else None
        )

    def get_default_screen(self) -> Screen[Any]:
        if self.session is not None and self._initial_state is not None:
            return _explorer().ExplorerScreen(
                self.session, self._initial_state, self.snapshot_dir, self.text_effect
            )
        return LoadingScreen()

    def on_mount(self) -> None:
        if self.frame_probe is not None:
            self.call_after_refresh(self.frame_probe.mark, FIRST_FRAME)
        if self.session is None and self.loader is not None:
            # after the first frame: the loader's imports (torch...) in its thread would
            # otherwise compete for the GIL with painting the loading screen
            self.call_after_refresh(self._load)

    @property
    def explorer(self) -> ExplorerScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, _explorer().ExplorerScreen):
                return screen
        return None

    # ------------------------------------------------------------- loading
    def _progress_callback(self) -> ProgressCallback:
        """Thread-side reporter: keeps only the latest value and has at most one
        message in flight, so a loader reporting every item never floods the UI and
        the last value before a long pause is always the one shown."""

        def report(done: int, total: int, stage: str) -> None:
            if self.cancel_event.is_set():
                return
            if not self._progress.put((int(done), int(total), str(stage))):
                return
            try:
                self.post_message(LoadProgress())
            except RuntimeError:  # the app is shutting down
                pass

        return report

    @work(thread=True, exclusive=True, group="load")
    def _load(self) -> tuple[str, Any]:
        assert self.loader is not None
        try:
            session = self.loader(self._progress_callback(), self.cancel_event)
        except UserError as exc:
            return ("error", exc.message)
        except Exception as exc:
            if self.cancel_event.is_set():
                return ("cancelled", None)
            if self.reraise_load_errors:
                raise
            return ("error", self._log_load_failure(exc))
        except BaseException:
            if self.cancel_event.is_set():
                return ("cancelled", None)
            raise
        if self.cancel_event.is_set():
            return ("cancelled", None)
        return ("ok", session)

    def _log_load_failure(self, exc: Exception) -> str:
        """A bug while loading: the traceback goes to the log, the screen gets one line."""
        failure = failure_from("loading", exc)
        path = self.failure_log or default_log_path()
        try:
            append_log(Path(path), "loading", failure)
            where = f"details in {path}"
        except OSError:
            where = "the log could not be written"
        return f"unexpected error while loading ({failure.summary}); {where}; --debug shows it"

    def on_load_progress(self, message: LoadProgress) -> None:
        value = self._progress.take()
        if value is None:
            return
        for panel in self.screen.query(ProgressPanel):
            panel.report(*value)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "load" or event.state != WorkerState.SUCCESS:
            return
        kind, value = event.worker.result
        if kind == "cancelled":
            self.exit()
        elif kind == "error":
            self.show_error(value)
        else:
            self._start_explorer(value)

    def show_error(self, message: str) -> None:
        self.error_message = message
        self.push_screen(ErrorScreen(message))

    def _start_explorer(self, session: AnalysisSession) -> None:
        try:
            state = _explorer().initial_state(session, self.initial_fusion, self.initial_reduction)
        except UserError as exc:
            self.show_error(exc.message)
            return
        self.session = session
        screen = _explorer().ExplorerScreen(session, state, self.snapshot_dir, self.text_effect)
        self.push_screen(screen)

    def on_unmount(self) -> None:
        """However the app ends (quit, crash, test teardown), stop a running loader."""
        self.cancel_event.set()

    async def action_quit(self) -> None:
        """Quit; while loading, first tell the loader to stop (it polls the event)."""
        self.cancel_event.set()
        self.exit()
