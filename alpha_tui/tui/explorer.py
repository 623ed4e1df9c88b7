"""The explorer screen: eight panes over one AnalysisSession, and every key that drives them.

Kept apart from the app so the first frame (the loading screen) needs none of the
panes, plots or analysis modules: the app imports this module only when a session is
ready (alpha_tui.tui.frame_probe measures that first frame).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import AwaitMount, MountError, Widget
from textual.widgets import Header, TabbedContent, TabPane

from alpha_tui.analysis.reductions import DEFAULT_CYCLE, validate_reduction
from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.errors import UserError
from alpha_tui.tui.commands import Command
from alpha_tui.tui.containment import failure_from
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
from alpha_tui.tui.warm_up import WARM_UP_DELAY_S, warm_order, warm_up
from alpha_tui.tui.widgets.key_bar import KeyBar
from alpha_tui.tui.widgets.reduction_picker import ReductionPicker
from alpha_tui.tui.widgets.status_bar import StatusBar

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
#: refreshes a shown pane's main widget may take to become focusable after a tab switch
REFOCUS_TRIES = 5

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
        #: panes mounted after the first one (see _mount): pane id -> its mount
        self._mounts: dict[str, AwaitMount] = {}
        #: pane id -> the widget last focused inside it while it was shown (_activate)
        self._pane_focus: dict[str, Widget] = {}
        #: the pending warm-up after a view change (see _warm_up_later)
        self._warm_timer: Timer | None = None

    # ------------------------------------------------------------- layout
    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusBar(id="status-bar")
        with TabbedContent(initial=PANE_IDS[0], id="panes"):
            for pane_id, pane in self.panes.items():
                with TabPane(f"{pane.key} {pane.title}", id=pane_id):
                    if pane_id == PANE_IDS[0]:
                        yield pane  # the others mount after its first view (_mount_rest)
        yield KeyBar()

    def on_mount(self) -> None:
        self._activate(self.active_pane_id)

    # ------------------------------------------------------------- lazy panes
    def _mount(self, pane_id: str) -> AwaitMount | None:
        """Mount a pane into its tab on first use; None when it was composed.

        Composing all eight panes (tables, plots, a periodic table) before the first
        frame costs more than the 1 s the Overview may take to show its data, so only
        the first pane is composed; the others follow once it has painted, one at a
        time, or at once when their key is pressed first.
        """
        pane = self.panes[pane_id]
        if pane_id not in self._mounts and pane.parent is None:
            tab = self.query_one(f"TabPane#{pane_id}", TabPane)
            self._mounts[pane_id] = tab.mount(pane)
        return self._mounts.get(pane_id)

    async def _activate_when_mounted(self, pane_id: str) -> None:
        try:
            mounting = self._mount(pane_id)
        except MountError:  # the app is closing
            return
        if mounting is not None:
            await mounting
        if self._shown_pane == pane_id:
            self._activate(pane_id)

    @on(Pane.ViewShown)
    def _first_view_shown(self, message: Pane.ViewShown) -> None:
        if not self._mounts:  # after that view reached the screen, not before
            self.call_after_refresh(self.run_worker, self._mount_rest(), group="mount-panes")

    async def _mount_rest(self) -> None:
        """Mount the panes not shown yet, one per turn of the event loop: as a worker,
        so key presses are served between two mounts."""
        for pane_id in PANE_IDS:
            try:
                mounting = self._mount(pane_id)
            except MountError:  # the app is closing (q pressed before all were mounted)
                return
            if mounting is not None:
                await mounting
        self._warm_up()

    # ------------------------------------------------------------- warm-up
    def _warm_up(self) -> None:
        """Compute the other panes' views of the state in force, in one thread."""
        self._warm_timer = None
        panes = [self.panes[p] for p in warm_order(PANE_IDS, self.active_pane_id)]
        self.run_worker(
            self._warm_up_thread(panes, self.state),
            thread=True,
            exclusive=True,
            group="warm-up",
            exit_on_error=False,
        )

    def _warm_up_thread(self, panes: list[Pane], state: ViewState) -> Callable[[], list[str]]:
        def run() -> list[str]:
            from textual.worker import get_current_worker

            worker = get_current_worker()
            return warm_up(panes, state, lambda: worker.is_cancelled or self.state != state)

        return run

    def _warm_up_later(self) -> None:
        """After a view change: warm once the state has stayed put for a moment."""
        self.workers.cancel_group(self, "warm-up")
        if self._warm_timer is not None:
            self._warm_timer.stop()
        if self._mounts and all(p.is_mounted for p in self.panes.values()):
            self._warm_timer = self.set_timer(WARM_UP_DELAY_S, self._warm_up)

    @property
    def active_pane_id(self) -> str:
        return self.query_one("#panes", TabbedContent).active or PANE_IDS[0]

    @property
    def active_pane(self) -> Pane:
        return self.panes[self.active_pane_id]

    @on(events.DescendantFocus)
    def _focus_moved(self, event: events.DescendantFocus) -> None:
        pane = self.panes.get(self._shown_pane or "")
        if pane is not None and pane in event.widget.ancestors_with_self:
            self._pane_focus[pane.pane_id] = event.widget

    @on(TabbedContent.TabActivated, "#panes")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        pane_id = event.pane.id
        # TabbedContent re-announces the active tab when focus moves inside it; only a
        # real change of pane should move focus (else focus and tab events ping-pong).
        if pane_id in self.panes and pane_id != self._shown_pane:
            self._activate(pane_id)

    def _activate(self, pane_id: str) -> None:
        """Show ``pane_id`` and focus its main widget. Focus stays where it is only if
        it is where it was last inside this pane while the pane was shown: when the
        tab switch hides the focused widget, Textual moves focus to the next focusable
        one, which may be in the new pane (the min-count input, which eats keys)."""
        self._shown_pane = pane_id
        pane = self.panes[pane_id]
        if not pane.is_mounted:
            self.run_worker(self._activate_when_mounted(pane_id), group="mount-panes")
            return
        pane.show_state(self.state)
        self._update_status()
        target = pane.main_widget()
        focused = self.focused
        kept = self._pane_focus.get(pane_id)
        if focused is not None and focused is kept and pane in focused.ancestors_with_self:
            pass
        elif target is not None:
            if target.focusable:
                target.focus()
            # again after the switch's own focus moves, which may land after this one;
            # and the new pane may not be displayed yet, so its widget not focusable
            self.call_after_refresh(self._refocus, pane_id, target)
        else:
            self.set_focus(None)
        self.refresh_bindings()

    def _refocus(self, pane_id: str, target: Widget, tries: int = REFOCUS_TRIES) -> None:
        focused = self.focused
        pane = self.panes[pane_id]
        if self._shown_pane != pane_id or focused is target:
            return
        if not target.focusable:
            if tries > 1:  # still hidden by the tab switch: after the next refresh
                self.call_after_refresh(self._refocus, pane_id, target, tries - 1)
            return
        if focused is None or pane in focused.ancestors_with_self:
            target.focus()

    def _update_status(self) -> None:
        self.query_one(StatusBar).show(self.state, self.session.fusion_modules, self.active_pane_id)

    def set_state(self, state: ViewState) -> None:
        """The single place a view change happens: every pane follows from here."""
        self.state = state
        self._update_status()
        self.active_pane.show_state(state)
        self._warm_up_later()

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
