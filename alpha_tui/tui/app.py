"""The alpha-tui explorer application.

The app opens at once: with a ``loader`` it shows a progress screen while the
capture runs in a thread worker (the keyboard stays live and `q` cancels through a
threading.Event the loader polls); with a ``session`` (tests, cached runs) it goes
straight to the explorer. The app never imports torch: everything heavy is behind
the loader callable.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from alpha_tui.analysis.reductions import DEFAULT_CYCLE, parse_reduction, validate_reduction
from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.errors import UserError
from alpha_tui.tui.commands import Command, ExplorerCommands
from alpha_tui.tui.containment import append_log, default_log_path, failure_from
from alpha_tui.tui.formatting import short_fusion
from alpha_tui.tui.help import HelpScreen
from alpha_tui.tui.panes.alpha import AlphaPane
from alpha_tui.tui.panes.base import Pane
from alpha_tui.tui.panes.correlations import CorrelationsPane
from alpha_tui.tui.panes.crystals import CrystalsPane
from alpha_tui.tui.panes.dims import DimsPane
from alpha_tui.tui.panes.elements import ElementsPane, MinCountChanged
from alpha_tui.tui.panes.layers import LayersPane
from alpha_tui.tui.panes.overview import OverviewPane
from alpha_tui.tui.panes.text_effect import JumpToCrystal, TextEffectPane, TextEffectRunner
from alpha_tui.tui.snapshot import export_stem, save_csv, save_screen
from alpha_tui.tui.state import ViewState, cycle, default_text_source, step_min_count
from alpha_tui.tui.widgets.error_screen import ErrorScreen
from alpha_tui.tui.widgets.progress_panel import ProgressPanel
from alpha_tui.tui.widgets.reduction_picker import ReductionPicker
from alpha_tui.tui.widgets.status_bar import StatusBar

ProgressCallback = Callable[[int, int, str], None]
Loader = Callable[[ProgressCallback, threading.Event], AnalysisSession]

PANE_CLASSES: tuple[type[Pane], ...] = (
    OverviewPane,
    AlphaPane,
    ElementsPane,
    LayersPane,
    CrystalsPane,
    CorrelationsPane,
    TextEffectPane,
    DimsPane,
)
PANE_IDS: tuple[str, ...] = tuple(cls.pane_id for cls in PANE_CLASSES)

PANES_GROUP = Binding.Group("panes", compact=True)
REDUCTION_GROUP = Binding.Group("reduction", compact=True)
MIN_COUNT_GROUP = Binding.Group("min count", compact=True)
JUMP_GROUP = Binding.Group("low/med/high", compact=True)
SORT_GROUP = Binding.Group("sort", compact=True)


def initial_state(session: AnalysisSession, fusion: str | None, reduction: str) -> ViewState:
    """The first view; an unknown fusion name is a UserError naming the choices."""
    modules = session.fusion_modules
    if not modules:
        raise UserError(
            "this capture has no middle-fusion module, so there is no alpha to explore; "
            "check that the checkpoint uses use_middle_fusion=True"
        )
    if fusion is None:
        fusion = modules[0]
    elif fusion not in modules:
        matches = [m for m in modules if m.endswith(fusion) or short_fusion(m) == fusion]
        if len(matches) != 1:
            raise UserError(f"unknown fusion module '{fusion}': choose one of {', '.join(modules)}")
        fusion = matches[0]
    return ViewState(
        fusion=fusion,
        reduction=validate_reduction(reduction, session.cache.hidden_size(fusion)).name,
        text_source=default_text_source(session.text_sources, fusion),
    )


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
        yield Footer()


# ---------------------------------------------------------------------- explorer


def _pane_bindings() -> list[Binding]:
    out = []
    for cls in PANE_CLASSES:
        out.append(Binding(cls.key, f"pane('{cls.pane_id}')", cls.title, group=PANES_GROUP))
    return out


class ExplorerScreen(Screen[None]):
    BINDINGS = [
        *_pane_bindings(),
        Binding("tab", "cycle_pane(1)", "next pane", show=False, priority=True),
        Binding("shift+tab", "cycle_pane(-1)", "previous pane", show=False, priority=True),
        Binding("question_mark", "help", "help", tooltip="keys, panes and reductions"),
        Binding("r", "reduction(1)", "next", group=REDUCTION_GROUP, tooltip="next reduction"),
        Binding("R", "reduction(-1)", "prev", group=REDUCTION_GROUP, tooltip="previous reduction"),
        Binding("p", "pick_reduction", "pick", tooltip="type a reduction, e.g. dim:5"),
        Binding("f", "fusion(1)", "fusion", tooltip="next fusion module (every pane follows)"),
        Binding("t", "text_source(1)", "source", tooltip="next text source to compare with"),
        Binding("plus", "min_count(1)", "raise", group=MIN_COUNT_GROUP, tooltip="raise min count"),
        Binding(
            "minus", "min_count(-1)", "lower", group=MIN_COUNT_GROUP, tooltip="lower min count"
        ),
        Binding("space", "toggle_element", "select", tooltip="select / unselect element"),
        Binding("n", "sort_elements('z')", "n", group=SORT_GROUP, tooltip="sort by element"),
        Binding("c", "sort_elements('count')", "c", group=SORT_GROUP, tooltip="sort by count"),
        Binding("a", "sort_elements('mean')", "a", group=SORT_GROUP, tooltip="sort by mean"),
        Binding("d", "sort_elements('std')", "d", group=SORT_GROUP, tooltip="sort by std"),
        Binding("a", "sort_crystals('alpha')", "a", group=SORT_GROUP, tooltip="sort by mean alpha"),
        Binding("y", "sort_crystals('target')", "y", group=SORT_GROUP, tooltip="sort by target"),
        Binding(
            "P", "sort_crystals('prediction')", "P", group=SORT_GROUP, tooltip="sort by prediction"
        ),
        Binding("n", "sort_crystals('atoms')", "n", group=SORT_GROUP, tooltip="sort by size"),
        Binding("i", "sort_crystals('index')", "i", group=SORT_GROUP, tooltip="sort by index"),
        Binding("l", "jump('lowest')", "l", group=JUMP_GROUP, tooltip="lowest mean alpha"),
        Binding("m", "jump('median')", "m", group=JUMP_GROUP, tooltip="median mean alpha"),
        Binding("h", "jump('highest')", "h", group=JUMP_GROUP, tooltip="highest mean alpha"),
        Binding("g", "effect_run", "run", tooltip="re-run the model with the text changed here"),
        Binding("x", "effect_cancel", "stop", tooltip="stop the text-effect re-run"),
        Binding("c", "effect_condition(1)", "condition", tooltip="next counterfactual condition"),
        Binding("v", "sort_effect('delta')", "v", group=SORT_GROUP, tooltip="sort by |Δ|"),
        Binding("i", "sort_effect('index')", "i", group=SORT_GROUP, tooltip="sort by index"),
        Binding("s", "save_screen", "save", tooltip="save the screen as SVG + text"),
        Binding("e", "export_csv", "csv", tooltip="save the data of this pane as CSV"),
    ]

    def __init__(
        self,
        session: AnalysisSession,
        state: ViewState,
        snapshot_dir: Path,
        text_effect: TextEffectRunner | None = None,
    ) -> None:
        super().__init__()
        self.session = session
        self.state = state
        self.snapshot_dir = Path(snapshot_dir)
        self.panes: dict[str, Pane] = {
            cls.pane_id: TextEffectPane(session, text_effect)
            if cls is TextEffectPane
            else cls(session)
            for cls in PANE_CLASSES
        }
        self._shown_pane: str | None = None

    # ------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusBar(id="status-bar")
        with TabbedContent(initial=PANE_IDS[0], id="panes"):
            for pane_id, pane in self.panes.items():
                with TabPane(f"{pane.key} {pane.title}", id=pane_id):
                    yield pane
        yield Footer()

    def on_mount(self) -> None:
        self._activate(self.active_pane_id)

    @property
    def active_pane_id(self) -> str:
        return self.query_one("#panes", TabbedContent).active or PANE_IDS[0]

    @property
    def active_pane(self) -> Pane:
        return self.panes[self.active_pane_id]

    @on(TabbedContent.TabActivated, "#panes")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        pane_id = event.pane.id
        # TabbedContent re-announces the active tab when focus moves inside it; only a
        # real change of pane should move focus (else focus and tab events ping-pong).
        if pane_id in self.panes and pane_id != self._shown_pane:
            self._activate(pane_id)

    def _activate(self, pane_id: str) -> None:
        self._shown_pane = pane_id
        pane = self.panes[pane_id]
        pane.show_state(self.state)
        self._update_status()
        target = pane.main_widget()
        focused = self.focused
        if focused is not None and pane in focused.ancestors_with_self:
            pass
        elif target is not None and target.focusable:
            target.focus()
        else:
            self.set_focus(None)
        self.refresh_bindings()

    def _update_status(self) -> None:
        self.query_one(StatusBar).show(self.state, self.session.fusion_modules, self.active_pane_id)

    def set_state(self, state: ViewState) -> None:
        """The single place a view change happens: every pane follows from here."""
        self.state = state
        self._update_status()
        self.active_pane.show_state(state)

    # ------------------------------------------------------------- gating
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        pane = self.active_pane_id if self.is_mounted else ""
        if action in ("toggle_element", "min_count", "sort_elements"):
            return pane == "elements"
        if action in ("sort_crystals", "jump"):
            return pane == "crystals"
        if action in ("effect_run", "effect_cancel", "effect_condition", "sort_effect"):
            return pane == "text_effect"
        if action == "text_source":
            return pane == "layers" and len(self.session.text_sources) > 1
        if action == "fusion":
            return len(self.session.fusion_modules) > 1
        return True

    # ------------------------------------------------------------- actions
    def action_pane(self, pane_id: str) -> None:
        self.query_one("#panes", TabbedContent).active = pane_id

    def action_cycle_pane(self, step: int) -> None:
        self.action_pane(cycle(PANE_IDS, self.active_pane_id, step))

    def action_reduction(self, step: int) -> None:
        self.set_state(self.state.with_(reduction=cycle(DEFAULT_CYCLE, self.state.reduction, step)))

    def action_pick_reduction(self) -> None:
        session = self.session

        def validate(name: str) -> None:
            # the pure rule first (fast, one line), then the real computation
            for fusion in session.fusion_modules:
                validate_reduction(name, session.cache.hidden_size(fusion))
            for fusion in session.fusion_modules:
                session.alpha(fusion, name)

        def picked(name: str | None) -> None:
            if name:
                self.set_state(self.state.with_(reduction=name))

        self.app.push_screen(ReductionPicker(self.state.reduction, validate=validate), picked)

    def action_fusion(self, step: int) -> None:
        modules = self.session.fusion_modules
        new = cycle(modules, self.state.fusion, step)
        source = self.state.text_source
        if source == f"{self.state.fusion}.text_transform":
            source = default_text_source(self.session.text_sources, new)
        self.set_state(self.state.with_(fusion=new, text_source=source))
        self.notify(f"fusion module: {new}", timeout=2)

    def action_text_source(self, step: int) -> None:
        new = cycle(self.session.text_sources, self.state.text_source, step)
        self.set_state(self.state.with_(text_source=new))

    def action_min_count(self, step: int) -> None:
        self.set_state(self.state.with_(min_count=step_min_count(self.state.min_count, step)))

    @on(MinCountChanged)
    def _min_count_typed(self, message: MinCountChanged) -> None:
        self.set_state(self.state.with_(min_count=message.value))

    def action_toggle_element(self) -> None:
        pane = self.panes["elements"]
        assert isinstance(pane, ElementsPane)
        symbol = pane.cursor_symbol()
        if symbol is not None:
            self.set_state(self.state.toggled_element(symbol))

    def action_sort_elements(self, column: str) -> None:
        pane = self.panes["elements"]
        assert isinstance(pane, ElementsPane)
        pane.sort_by(column)

    def action_sort_crystals(self, column: str) -> None:
        pane = self.panes["crystals"]
        assert isinstance(pane, CrystalsPane)
        pane.sort_by(column)

    def action_jump(self, which: str) -> None:
        pane = self.panes["crystals"]
        assert isinstance(pane, CrystalsPane)
        pane.jump(which)

    @property
    def effect_pane(self) -> TextEffectPane:
        pane = self.panes["text_effect"]
        assert isinstance(pane, TextEffectPane)
        return pane

    def action_effect_run(self) -> None:
        self.effect_pane.start_run()

    def action_effect_cancel(self) -> None:
        self.effect_pane.cancel_run()

    def action_effect_condition(self, step: int) -> None:
        self.effect_pane.next_condition(step)

    def action_sort_effect(self, column: str) -> None:
        self.effect_pane.sort_by(column)

    @on(JumpToCrystal)
    def _jump_to_crystal(self, message: JumpToCrystal) -> None:
        pane = self.panes["crystals"]
        assert isinstance(pane, CrystalsPane)
        self.action_pane("crystals")
        pane.select_index(message.index)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.BINDINGS))

    def action_save_screen(self) -> None:
        stem = export_stem(self.active_pane_id, self.state.reduction)
        try:
            svg, txt = save_screen(self.app, self.snapshot_dir, stem)
        except OSError as exc:
            self._cannot_write(exc)
            return
        self.notify(f"saved {svg} and {txt.name}", title="screenshot")

    def action_export_csv(self) -> None:
        pane = self.active_pane
        if pane.view is None or not pane.is_current:
            self.notify("this pane is still computing: try again in a moment", severity="warning")
            return
        self._write_csv(pane, export_stem(pane.pane_id, self.state.reduction))

    @work(thread=True, group="export")
    def _write_csv(self, pane: Pane, stem: str) -> None:
        """Rows are built here, off the UI thread: the Alpha pane has one per atom."""
        try:
            header, rows = pane.export_table()
            path = save_csv(self.snapshot_dir, stem, header, rows)
        except OSError as exc:
            self.app.call_from_thread(self._cannot_write, exc)
            return
        except Exception as exc:  # noqa: BLE001 - a bug in one pane's export stays there
            self.app.call_from_thread(pane.report_failure, failure_from("CSV export", exc))
            return
        self.app.call_from_thread(
            self.notify, f"saved {path} ({len(rows)} rows)", title="CSV export"
        )

    def _cannot_write(self, exc: OSError) -> None:
        reason = exc.strerror or str(exc)
        self.notify(
            f"cannot write to {self.snapshot_dir}: {reason}; choose another folder "
            "with --snapshot-dir",
            title="export failed",
            severity="error",
        )

    # ------------------------------------------------------------- palette
    def palette_commands(self) -> list[Command]:
        commands: list[Command] = []
        for cls in PANE_CLASSES:
            commands.append(
                (f"pane: {cls.title}", lambda p=cls.pane_id: self.action_pane(p), f"key {cls.key}")
            )
        commands += [
            ("reduction: next", lambda: self.action_reduction(1), "key r"),
            ("reduction: previous", lambda: self.action_reduction(-1), "key R"),
            ("reduction: pick…", self.action_pick_reduction, "key p: type e.g. dim:5"),
        ]
        for name in DEFAULT_CYCLE:
            commands.append(
                (
                    f"reduction: {name}",
                    lambda n=name: self.set_state(self.state.with_(reduction=n)),
                    "show this reduction in every pane",
                )
            )
        for fusion in self.session.fusion_modules:
            commands.append(
                (
                    f"fusion: {fusion}",
                    lambda f=fusion: self.set_state(self.state.with_(fusion=f)),
                    "key f cycles",
                )
            )
        for source in self.session.text_sources:
            commands.append(
                (
                    f"text source: {source}",
                    lambda s=source: self.set_state(self.state.with_(text_source=s)),
                    "Layers pane; key t cycles",
                )
            )
        commands += [
            ("export: save screen as SVG + text", self.action_save_screen, "key s"),
            ("export: data of this pane as CSV", self.action_export_csv, "key e"),
            ("help: keys and panes", self.action_help, "key ?"),
        ]
        return commands


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
        self._initial_state = (
            initial_state(session, initial_fusion, self.initial_reduction)
            if session is not None
            else None
        )

    def get_default_screen(self) -> Screen[Any]:
        if self.session is not None and self._initial_state is not None:
            return ExplorerScreen(
                self.session, self._initial_state, self.snapshot_dir, self.text_effect
            )
        return LoadingScreen()

    def on_mount(self) -> None:
        if self.session is None and self.loader is not None:
            self._load()

    @property
    def explorer(self) -> ExplorerScreen | None:
        for screen in self.screen_stack:
            if isinstance(screen, ExplorerScreen):
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
            state = initial_state(session, self.initial_fusion, self.initial_reduction)
        except UserError as exc:
            self.show_error(exc.message)
            return
        self.session = session
        self.push_screen(ExplorerScreen(session, state, self.snapshot_dir, self.text_effect))

    def on_unmount(self) -> None:
        """However the app ends (quit, crash, test teardown), stop a running loader."""
        self.cancel_event.set()

    async def action_quit(self) -> None:
        """Quit; while loading, first tell the loader to stop (it polls the event)."""
        self.cancel_event.set()
        self.exit()
