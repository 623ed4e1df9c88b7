"""Where a key-to-repaint goes: per press, the pane's compute, its apply, and the rest.

    PYTHONPATH=. .venv/bin/python tests/benchmarks/repaint_profile.py \
        [--store DIR] [--atoms 1000000] [--cprofile 8] [--widgets 6]

Runs fig_frames' own sequence (``r`` x10 on Alpha, then digits 2..8,1,2,3; the same
Pilot helpers, imported) on ``--store`` (a sample store, e.g. from ``alpha-tui extract``)
and/or a synthetic store of ``--atoms`` atoms, and prints one line per press:

* ``compute``: the pane's ``compute`` in its worker thread (0 when its view was
  already known for that state: a revisit, or a warm-up that finished first);
* ``apply``: the pane's ``apply`` on the UI thread (widgets updated);
* ``rest``: everything else on the way to the next refresh: Textual's tab switch,
  layout, and each widget's render (plotext draws here).

``--cprofile N`` adds the N functions with most own time on the UI thread per press
(the worker thread is not profiled: its share is the ``compute`` column); ``--widgets N``
the N largest of: each widget class's render, the stylesheet's restyles, and layout.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

import fig_frames
import harness  # noqa: F401 - puts the repository root on sys.path


def _instrument(explorer, timings: dict[str, dict[str, float]]) -> None:
    """Wrap each pane's compute and apply (on the instance) to time them."""
    for pane_id, pane in explorer.panes.items():
        slot = timings.setdefault(pane_id, {"compute": 0.0, "apply": 0.0})

        def timed(fn, field, slot=slot):
            def run(*args, **kwargs):
                start = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    slot[field] += (time.perf_counter() - start) * 1000

            return run

        pane.compute = timed(pane.compute, "compute")
        pane.apply = timed(pane.apply, "apply")


def _install_breakdown() -> dict[str, float]:
    """Time, per press, each widget class's render_lines, the stylesheet's restyles
    (outermost calls only) and the screen's layout refreshes (which hold the renders).

    The rows at 83e9fa9 (Textual's Footer) pointed at restyles and renders of FooterKey
    widgets on every pane switch; the same run there with ``CoalescingFooter.recompose``
    replaced by a no-op before the app started took 10-135 ms off each switch
    (sample median ~150 -> ~70 ms), which is what widgets/key_bar.py removed.
    """
    from textual.css.stylesheet import Stylesheet
    from textual.screen import Screen
    from textual.widget import Widget

    spent: dict[str, float] = {}
    css_depth = [0]  # the stylesheet's calls nest (update_nodes -> apply): count the outer

    def wrap(owner, name: str, label, nest: list[int] | None = None) -> None:
        original = getattr(owner, name)
        depth = nest if nest is not None else [0]

        def run(self, *args, **kwargs):
            depth[0] += 1
            start = time.perf_counter()
            try:
                return original(self, *args, **kwargs)
            finally:
                depth[0] -= 1
                if nest is None or depth[0] == 0:
                    key = label(self)
                    spent[key] = spent.get(key, 0.0) + (time.perf_counter() - start) * 1000

        setattr(owner, name, run)

    wrap(Widget, "render_lines", lambda w: f"render {type(w).__name__}")
    wrap(Stylesheet, "apply", lambda _s: "css apply", nest=css_depth)
    wrap(Stylesheet, "update_nodes", lambda _s: "css update_nodes", nest=css_depth)
    wrap(Screen, "_refresh_layout", lambda _s: "layout + compositor (holds the renders)")
    return spent


def _top_spent(spent: dict[str, float], n: int) -> str:
    rows = sorted(spent.items(), key=lambda kv: -kv[1])[:n]
    return "\n".join(f"      {ms:8.1f} ms  {what}" for what, ms in rows)


def _top(profile: cProfile.Profile, n: int, sort: str) -> str:
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats(sort).print_stats(n)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    return "\n".join("      " + ln for ln in lines[start : start + n + 1])


def profile(
    session, label: str, cprofile: int, sort: str = "tottime", widgets: int = 0
) -> None:
    timings: dict[str, dict[str, float]] = {}
    rows: list[tuple[str, float, float, float]] = []
    original = fig_frames._press_and_wait
    spent = _install_breakdown() if widgets else None

    async def press(app, pilot, key, shown):
        if not timings:
            _instrument(app.explorer, timings)
        for slot in timings.values():
            slot["compute"] = slot["apply"] = 0.0
        prof = cProfile.Profile() if cprofile else None
        if spent is not None:
            spent.clear()
        if prof is not None:
            prof.enable()
        try:
            elapsed = await original(app, pilot, key, shown)
        finally:
            if prof is not None:
                prof.disable()
        compute = sum(s["compute"] for s in timings.values())
        apply = sum(s["apply"] for s in timings.values())
        rows.append((key, elapsed, compute, apply))
        if prof is not None:
            rows[-1] += (_top(prof, cprofile, sort),)  # type: ignore[assignment]
        if spent is not None:
            rows[-1] += (_top_spent(spent, widgets),)  # type: ignore[assignment]
        return elapsed

    fig_frames._press_and_wait = press
    try:
        result = asyncio.run(fig_frames._repaints(session))
    finally:
        fig_frames._press_and_wait = original
    labels = [f"r -> {name}" for name in result.reduction_names] + [
        f"{key} -> {name}" for key, name in zip(result.pane_keys, result.pane_labels, strict=True)
    ]
    print(f"\n== {label}")
    print(f"{'press':<28}{'total':>9}{'compute':>9}{'apply':>9}{'rest':>9}  (ms)")
    for text, row in zip(labels, rows, strict=False):
        key, total, compute, apply = row[:4]
        print(f"{text:<28}{total:9.1f}{compute:9.1f}{apply:9.1f}{total - compute - apply:9.1f}")
        for detail in row[4:]:
            print(detail)
    for note in result.notes:
        print("note:", note)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", type=Path, help="a sample store folder")
    parser.add_argument("--atoms", type=int, default=0, help="also a synthetic store (0: no)")
    parser.add_argument("--cprofile", type=int, default=0, help="top N UI-thread functions")
    parser.add_argument("--sort", default="tottime", help="pstats order: tottime, cumtime")
    parser.add_argument(
        "--widgets", type=int, default=0, help="top N of render per widget class, CSS, layout"
    )
    args = parser.parse_args()
    from store_bench import synthetic_store

    from alpha_tui.analysis.session import AnalysisSession
    from alpha_tui.store.reader import open_store

    if args.store is not None:
        profile(
            AnalysisSession(open_store(args.store)),
            f"store {args.store}",
            args.cprofile,
            args.sort,
            args.widgets,
        )
    if args.atoms:
        with tempfile.TemporaryDirectory() as tmp:
            big = Path(tmp) / "synthetic"
            synthetic_store(big, args.atoms, 256)
            label = f"{args.atoms:,} x 256 synthetic store"
            session = AnalysisSession(open_store(big))
            profile(session, label, args.cprofile, args.sort, args.widgets)
    if args.store is None and not args.atoms:
        sys.exit("nothing to profile: give --store and/or --atoms")


if __name__ == "__main__":
    main()
