"""Frames the user waits for: first frame, first Overview with data, key-to-repaint.

Issue 11 figures 5 and 7, issue 10's "first Overview frame within 1.0 s of process
start, at least 10x faster than the capture it replaces".

* ``first_frame_s``: ``alpha-tui`` (the bundled sample, no store yet, so the loading
  screen) from spawn to its first rendered frame, in a pseudo-terminal
  (frames_pty.py, the ALPHA_TUI_BENCH_FRAMES probe).
* ``first_data_frame_store_sample_s``: ``alpha-tui STORE`` (the sample's store) from
  spawn to the rendered Overview with data; ``first_data_frame_auto_store_s`` the same
  through the automatic store reuse of ``alpha-tui`` (hashes checkpoint and data first).
* ``store_vs_capture_speedup``: time to the Overview with data, ``alpha-tui
  --recapture`` (graph cache warm, model run) over ``alpha-tui STORE``, alternated.
* ``repaint_*``: Pilot (``App.run_test``, headless, so the compositor renders but no
  terminal is written), median of 10: send a key event, wait until the pane shows the
  new view (its worker's computation included) and the next screen refresh is done.
  The key goes in as ``pilot.press`` sends it, but without the idle detection
  ``pilot.press`` adds after it (20 ms sleeps until the process is idle, twice; see
  ``_send_key``); ``pilot_press_floor_ms_*`` records that wait alone.
  ``r`` on the Alpha pane cycles reductions (each one computed for the first time);
  digits visit panes 2..8, 1, 2, 3 (first visits compute, revisits only repaint).
  On the sample session (its store) and on a 1,000,000 x 256 synthetic store
  (store_bench.synthetic_store; --quick: 200,000 atoms). A press not repainted within
  BUDGET_S stops its series with that elapsed time as a lower bound (said in the note).
  Each figure's ``extra`` holds every press's time by reduction / pane ("#2": the
  pane's second press, a revisit), so a reader sees which pane is slow.

  Background warm-up (alpha_tui.tui.warm_up): once the panes are mounted the explorer
  computes every pane's view of the state in force in one thread, and again 0.5 s
  after a view change settles. The series start after the opening settle, which waits
  for every worker, that first warm-up included (a user reading the Overview); no
  wait is added after that. The ten ``r`` presses come faster than 0.5 s apart, so no
  pane is warmed for them, and the digit series starts right after the last one: the
  panes that depend on the reduction (Elements, Crystals, Correlations) meet a key
  before their warm-up for it, or while it runs (it starts 0.5 s after the last
  ``r``); they then compute the view themselves, as without warm-up, which is
  correct (a late warm-up result is keyed by its state and never painted) and is
  measured as it is. Panes that do not depend on the reduction (Layers, Text effect,
  Dims, Overview) were warmed by the first warm-up and only paint.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import harness
from frames_pty import FIRST_FRAME, OVERVIEW_DATA, run_in_pty

LANE = "modern"
ATOMS_1M = 1_000_000
SIZE = (120, 40)
PRESSES = 10
#: one key press may take this long before its series stops (a lower bound is kept):
#: keeps the module inside its 3 minutes when a pane is far from its target
BUDGET_S = 15.0


# ------------------------------------------------------------------ process start
def startup_figures(tmp: Path, quick: bool) -> tuple[list[harness.Figure], Path]:
    cache = tmp / "cache"
    limit = ["--limit", "60"] if quick else []
    scope = " (--quick: first 60 crystals)" if quick else ""
    repeat = 3 if quick else 5
    first = [
        run_in_pty(["--cache-dir", str(cache), *limit], FIRST_FRAME)[FIRST_FRAME]
        for _ in range(repeat)
    ]
    # the first full open captures (cold graph cache) and writes the automatic store
    run_in_pty(["--cache-dir", str(cache), *limit], OVERVIEW_DATA)
    (auto_store,) = (cache / "stores").iterdir()
    store = tmp / "sample_store"
    shutil.copytree(auto_store, store)

    captured: list[float] = []
    from_store: list[float] = []

    def capture() -> None:
        args = ["--cache-dir", str(cache), "--recapture", *limit]
        captured.append(run_in_pty(args, OVERVIEW_DATA)[OVERVIEW_DATA])

    def reopen() -> None:
        from_store.append(run_in_pty([str(store)], OVERVIEW_DATA)[OVERVIEW_DATA])

    harness.alternate(capture, reopen, repeat=repeat, warmup=0)
    auto = [
        run_in_pty(["--cache-dir", str(cache), *limit], OVERVIEW_DATA)[OVERVIEW_DATA]
        for _ in range(repeat)
    ]
    figures = [
        harness.Figure(
            "first_frame_s", "s", first, 1.0, note="alpha-tui on the sample, no store" + scope
        ),
        harness.Figure(
            "first_data_frame_store_sample_s",
            "s",
            from_store,
            1.0,
            note="alpha-tui STORE, Overview with data" + scope,
        ),
        harness.Figure(
            "first_data_frame_auto_store_s",
            "s",
            auto,
            1.0,
            note="alpha-tui with its store cached (key hashing included)" + scope,
        ),
        harness.Figure(
            "store_vs_capture_speedup",
            "x",
            harness.ratios(captured, from_store),
            10.0,
            direction=">=",
            note="time to Overview with data: --recapture / STORE, alternated" + scope,
            extra={"capture_s_median": statistics.median(captured)},
        ),
    ]
    return figures, store


# ------------------------------------------------------------------ key to repaint
async def _after_refresh(app) -> None:
    done = asyncio.Event()
    app.screen.call_after_refresh(done.set)
    await done.wait()


async def _until(predicate: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the pane never showed the new view")
        await asyncio.sleep(0.001)


async def _settle(app, pilot) -> None:
    for _ in range(3):
        await app.workers.wait_for_complete()
        await pilot.pause()


class TooSlow(Exception):
    """One key press took longer than the budget; its sample is a lower bound."""

    def __init__(self, key: str, elapsed_ms: float) -> None:
        super().__init__(key)
        self.key, self.elapsed_ms = key, elapsed_ms


def _send_key(app, key: str) -> None:
    """The key event ``pilot.press`` sends, without the idle waits it adds after it.

    ``pilot.press`` then sleeps in 20 ms steps until the whole process used under
    1 ms of CPU in one step, twice (textual._wait.wait_for_idle): at least 40 ms per
    press, more while any thread works, and no part of what a terminal user waits for
    (``pilot_press_floor_ms`` measures it on a key bound to nothing).
    """
    from textual import events

    event = events.Key(key, key if len(key) == 1 else None)
    event.set_sender(app)
    app._driver.send_message(event)


async def _press_and_wait(app, pilot, key: str, shown: Callable[[], bool]) -> float:
    """Key event sent -> ``shown()`` (the new view is in the pane) -> next refresh done.

    ``shown`` must be false until the key has been handled (it tests the new state).
    """
    start = time.perf_counter()
    try:
        _send_key(app, key)
        await _until(shown, timeout=BUDGET_S)
        await _after_refresh(app)
    except TimeoutError as exc:
        raise TooSlow(key, (time.perf_counter() - start) * 1000) from exc
    return (time.perf_counter() - start) * 1000


async def pilot_press_floor(app, pilot, presses: int = PRESSES) -> list[float]:
    """``pilot.press`` of a key bound to nothing, to the next refresh: the idle waits alone."""
    samples = []
    for _ in range(presses):
        start = time.perf_counter()
        await pilot.press("f12")
        await _after_refresh(app)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


async def _series(samples: list[float], notes: list[str], steps) -> None:
    """Run ``steps`` (coroutine factories) until one exceeds the budget."""
    for step in steps:
        try:
            samples.append(await step())
        except TooSlow as slow:
            samples.append(slow.elapsed_ms)
            notes.append(f"key {slow.key!r} not repainted within {BUDGET_S:.0f} s: series stopped")
            return


@dataclass
class Repaints:
    """One run of the key sequence: times in press order, with what each press showed."""

    reductions: list[float] = field(default_factory=list)
    reduction_names: list[str] = field(default_factory=list)
    panes: list[float] = field(default_factory=list)
    pane_keys: list[str] = field(default_factory=list)
    #: pane id, with "#2" on a pane's second press in the sequence (a revisit)
    pane_labels: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    pilot_floor: list[float] = field(default_factory=list)


async def _repaints(session) -> Repaints:
    from alpha_tui.tui.app import PANE_IDS, AlphaTuiApp

    app = AlphaTuiApp(session=session)
    app.animation_level = "none"
    out = Repaints()
    async with app.run_test(size=SIZE) as pilot:
        await _settle(app, pilot)  # Overview painted, the other panes mounted
        explorer = app.explorer
        alpha = explorer.panes["alpha"]
        await pilot.press("2")
        await _until(lambda: alpha.view is not None and alpha.is_current)
        await _settle(app, pilot)

        out.pilot_floor = await pilot_press_floor(app, pilot)

        async def reduction_step() -> float:
            before = explorer.state.reduction

            def shown() -> bool:
                want = explorer.state.reduction
                view = alpha.view
                return want != before and alpha.is_current and view is not None and (
                    view.reduction == want
                )

            elapsed = await _press_and_wait(app, pilot, "r", shown)
            out.reduction_names.append(explorer.state.reduction)
            return elapsed

        await _series(out.reductions, out.notes, [reduction_step] * PRESSES)

        def pane_step(pane_id: str, label: str):
            pane = explorer.panes[pane_id]

            def on_pane() -> bool:
                return (
                    explorer.active_pane_id == pane_id
                    and pane.is_current
                    and (pane.view is not None or pane.error is not None)
                )

            async def step() -> float:
                out.pane_keys.append(pane.key)
                out.pane_labels.append(label)
                return await _press_and_wait(app, pilot, pane.key, on_pane)

            return step

        order = [*PANE_IDS[1:], *PANE_IDS[:3]][:PRESSES]
        labels = [p if p not in order[:i] else f"{p}#2" for i, p in enumerate(order)]
        steps = [pane_step(p, label) for p, label in zip(order, labels, strict=True)]
        await _series(out.panes, out.notes, steps)
    return out


def per_key(labels: list[str], samples: list[float]) -> dict[str, float | str]:
    """Each press's time under its label (the README reader sees which pane is slow)."""
    return {label: round(ms, 1) for label, ms in zip(labels, samples, strict=False)}


def repaint_figures(session, suffix: str, target: float, note: str) -> list[harness.Figure]:
    run = asyncio.run(_repaints(session))
    slow_note = ("; " + "; ".join(run.notes)) if run.notes else ""
    return [
        harness.Figure(
            f"repaint_reduction_ms_{suffix}",
            "ms",
            run.reductions,
            target,
            note=f"r on the Alpha pane, {note}; reductions {' '.join(run.reduction_names)}"
            + slow_note,
            extra=per_key(run.reduction_names, run.reductions),
        ),
        harness.Figure(
            f"repaint_pane_ms_{suffix}",
            "ms",
            run.panes,
            target,
            note=f"digit keys 2..8,1,2,3 (#2: second visit), {note}{slow_note}",
            extra=per_key(run.pane_labels, run.panes),
        ),
        harness.Figure(
            f"pilot_press_floor_ms_{suffix}",
            "ms",
            run.pilot_floor,
            None,
            note="pilot.press of a key bound to nothing, to the next refresh: the idle "
            "waits the repaint figures leave out",
        ),
    ]


def figures(quick: bool) -> list[harness.Figure]:
    from store_bench import synthetic_store

    from alpha_tui.analysis.session import AnalysisSession
    from alpha_tui.store.reader import open_store

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        out, store = startup_figures(tmp, quick)
        out += repaint_figures(AnalysisSession(open_store(store)), "sample", 100.0, "sample store")
        atoms = 200_000 if quick else ATOMS_1M
        big = tmp / "synthetic"
        synthetic_store(big, atoms, 256)
        label = f"{atoms:,} x 256 synthetic store"
        out += repaint_figures(AnalysisSession(open_store(big)), "1m", 150.0, label)
    return out


if __name__ == "__main__":
    harness.main(figures)
