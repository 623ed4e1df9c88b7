"""Pane 1: what was loaded, how, and what went wrong along the way.

Everything a reader needs before trusting the other panes: which checkpoint (path and
sha256), where its config came from (file, checkpoint, or inferred from shapes), the
device and graph backend, how many crystals and atoms made it in, every problem
recorded on the way (skipped rows, unimplemented keys, NaN/Inf) and the one-line
verdicts of the analysis.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from rich.table import Table as RichTable
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from alpha_tui.checkpoint.assumptions import assumptions_in
from alpha_tui.tui.formatting import fmt_count
from alpha_tui.tui.frame_probe import OVERVIEW_DATA
from alpha_tui.tui.panes.base import Pane, Table
from alpha_tui.tui.state import ViewState

MAX_PROBLEMS_SHOWN = 200
CONFIG_KEYS = (
    "alignn_layers",
    "gcn_layers",
    "hidden_features",
    "use_middle_fusion",
    "middle_fusion_layers",
    "middle_fusion_hidden_dim",
    "use_cross_modal_attention",
    "link",
    "classification",
)


# Where the text vectors came from and which preprocessing produced them.
TEXT_ROWS = (
    ("text_embeddings", "text vectors"),
    ("text_preprocessing", "text preprocessing"),
    ("text_tokens", "text tokens"),
)


@dataclass(frozen=True)
class OverviewView:
    rows: list[tuple[str, str, str]]  # (section, key, value)
    problems: list[dict[str, str]]
    verdicts: list[str]
    active_fusion: str


def _config_text(config: Any) -> str:
    if not isinstance(config, dict) or not config:
        return "—"
    keys = [k for k in CONFIG_KEYS if k in config] or sorted(config)[:12]
    return ", ".join(f"{k}={config[k]}" for k in keys)


def graph_canonize_text(canonize: bool) -> str:
    """Why the setting matters: the users' training and their extraction scripts differed."""
    if canonize:
        return (
            "jarvis use_canonize=True, as the users' training built them (their extraction "
            "scripts used False: rerun with --graph-canonize false to reproduce those figures)"
        )
    return (
        "jarvis use_canonize=False (--graph-canonize false), as the users' extraction "
        "scripts built them; training used True, so alphas and predictions differ from "
        "what the model saw in training"
    )


def capture_checkpoint_text(ckpt: dict[str, Any]) -> str:
    """Stores are keyed by checkpoint bytes, so the path is the one the capture saw."""
    path = ckpt.get("path", "unknown (not recorded)")
    return f"{path} (the path when captured; a copy with the same SHA-256 reuses the store)"


def overview_rows(session: Any) -> list[tuple[str, str, str]]:
    cache = session.cache
    meta: dict[str, Any] = cache.meta or {}
    ckpt = meta.get("checkpoint") or {}
    data = meta.get("data") or {}
    rows: list[tuple[str, str, str]] = [
        ("checkpoint", "path", str(ckpt.get("path", "—"))),
        ("checkpoint", "sha256", str(ckpt.get("sha256", "—"))),
        ("checkpoint", "config source", str(ckpt.get("config_source", "—"))),
        ("checkpoint", "config", _config_text(ckpt.get("config"))),
    ]
    for sentence in assumptions_in(meta):
        rows.append(("checkpoint", "assumed", sentence))
    for note in meta.get("notes") or []:
        rows.append(("checkpoint", "note", str(note)))
    store = meta.get("store") or {}
    if store:  # first: whoever reads the screen should know no model ran
        captured = f"captured {store.get('created')} on {store.get('device')}"
        rows.insert(0, ("store", "activations", f"from store {store.get('path')}, {captured}"))
        rows.insert(1, ("store", "checkpoint at capture", capture_checkpoint_text(ckpt)))
    rows += [
        ("run", "device", str(meta.get("device", "—"))),
        ("run", "backend", str(meta.get("backend", "—"))),
        ("run", "predictions", "yes" if cache.predictions is not None else "not available"),
        ("data", "root", str(data.get("root", "—"))),
        ("data", "rows read", fmt_count(data.get("n_rows"))),
        ("data", "crystals", fmt_count(cache.n_crystals)),
        ("data", "atoms", fmt_count(cache.n_atoms)),
    ]
    if "primitive_cells" in data:
        cells = (
            "primitive cells (atoms per crystal may be fewer than in the CIF)"
            if data["primitive_cells"]
            else "cells as written in the CIF files (not reduced to primitive)"
        )
        rows.append(("data", "cells", cells))
    if "graph_canonize" in data:
        rows.append(("data", "graphs", graph_canonize_text(bool(data["graph_canonize"]))))
    for key, label in TEXT_ROWS:
        if key in data:
            rows.append(("data", label, str(data[key])))
    for name in session.fusion_modules:
        rows.append(("model", "fusion module", f"{name} (H={cache.hidden_size(name)})"))
    if not session.fusion_modules:
        rows.append(("model", "fusion module", "none"))
    for source in cache.text_sources:
        rows.append(("model", "text source", f"{source.name} (width {source.width})"))
    return rows


class OverviewPane(Pane):
    pane_id = "overview"
    title = "Overview"
    key = "1"

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="overview-scroll"):
            # findings first: below the settings list they were out of sight at 40 rows
            yield Static("", id="overview-verdicts")
            yield Static("", id="overview-facts")
            yield Static("", id="overview-problems")

    def depends(self, state: ViewState) -> Hashable:
        return (state.fusion,)

    def main_widget(self) -> VerticalScroll:
        return self.query_one("#overview-scroll", VerticalScroll)

    def compute(self, state: ViewState) -> OverviewView:
        meta = self.session.cache.meta or {}
        problems = [
            {k: str(p.get(k, "")) for k in ("kind", "id", "reason")}
            for p in (meta.get("problems") or [])
            if isinstance(p, dict)
        ]
        return OverviewView(
            rows=overview_rows(self.session),
            problems=problems,
            verdicts=self.session.verdicts(),
            active_fusion=state.fusion,
        )

    def apply(self, view: OverviewView) -> None:
        facts = RichTable.grid(padding=(0, 1))
        facts.add_column(style="bold", no_wrap=True)
        facts.add_column(no_wrap=True)
        facts.add_column(overflow="fold")
        last = ""
        for section, key, value in view.rows:
            marker = ""
            if key == "fusion module" and value.split(" ")[0] == view.active_fusion:
                marker = "  ◀ active"
            facts.add_row(section if section != last else "", key, value + marker)
            last = section
        self.query_one("#overview-facts", Static).update(facts)

        verdicts = Text("findings\n", style="bold")
        for line in view.verdicts:
            verdicts.append("• " + line + "\n")
        self.query_one("#overview-verdicts", Static).update(verdicts)

        problems = Text(f"problems ({len(view.problems)})\n", style="bold")
        if not view.problems:
            problems.append("none recorded: no skipped rows, unimplemented keys or NaN/Inf\n")
        for p in view.problems[:MAX_PROBLEMS_SHOWN]:
            where = f" {p['id']}" if p["id"] else ""
            problems.append(f"• [{p['kind']}]{where}: {p['reason']}\n")
        if len(view.problems) > MAX_PROBLEMS_SHOWN:
            rest = len(view.problems) - MAX_PROBLEMS_SHOWN
            problems.append(f"… and {rest} more (press e to export them all as CSV)\n")
        self.query_one("#overview-problems", Static).update(problems)
        probe = getattr(self.app, "frame_probe", None)
        if probe is not None:  # benchmark hook: stamped once this frame is rendered
            self.call_after_refresh(probe.mark, OVERVIEW_DATA)

    def export_table(self) -> Table:
        view: OverviewView = self.view
        rows: list[list[Any]] = [[s, k, v] for s, k, v in view.rows]
        rows += [["finding", str(i + 1), line] for i, line in enumerate(view.verdicts)]
        rows += [
            ["problem", p["kind"], f"{p['id']}: {p['reason']}" if p["id"] else p["reason"]]
            for p in view.problems
        ]
        return ["section", "key", "value"], rows
