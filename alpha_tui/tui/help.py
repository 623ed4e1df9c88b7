"""The `?` screen: every key, what each pane shows, and what each reduction means.

The key list is built from the explorer's own bindings, so help cannot drift from
what the keys actually do.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from alpha_tui.tui.widgets.reduction_picker import reduction_help_table

PANES_TEXT = """\
1 Overview      checkpoint (path, sha256, where the config came from), device, backend,
                dataset size, fusion modules, problems (skipped rows, NaN/Inf) and findings
2 Alpha         histogram of one alpha per atom under the chosen reduction, guides at
                0.3 (text-heavy below) and 0.7 (graph-heavy above), statistics, and the
                variance-collapse check built from v_d, each dim's variance across atoms:
                N_eff = mean v_d / Var(mean alpha) is H for independent dims and 1 when
                all move together; "between-dim share" is pooled spread that no reduction
                can turn into atom diversity; "no per-atom variation" when every dim's
                std over atoms is <= 1e-6
3 Elements      alpha per element (min-count filter, sortable), selected elements against
                all atoms, periodic-table heat map (symbol + shade, value when wide)
4 Layers        cosine of each layer with the chosen text source (mean ± std, null
                baseline from another crystal's text), norms, and MATCH/SKIPPED per pair
5 Crystals      one row per crystal; l/m/h jump to lowest/median/highest mean alpha;
                the highlighted crystal's atoms with alpha and injection
6 Correlations  crystal mean alpha against the target (Pearson r) and by crystal size
7 Text effect   g re-runs the model with the text changed at this fusion module only
                (late fusion and other modules keep the crystal's own text): another
                crystal's text, the dataset-mean text, gate shut (alpha = 0), gate = its
                per-dimension mean over all atoms, text zeroed before text_projection.
                Per condition: mean |Δ prediction| (classification: change of the class
                probabilities), MAE (accuracy) with / without the change and the 95 %
                paired-bootstrap CI of its change, the |Δ| histogram, crystals by |Δ|
                (v/i sort, enter shows one in Crystals), mean |Δ| per element on the
                periodic table (each atom carries its crystal's |Δ|); c next condition
8 Dims          scale balance at the fusion module: median, p5, p95 per atom of ||x||
                (node features in), ||t|| (text injected, text_scale included), ||α⊙t||,
                ||x||/||t||, ||α⊙t||/||x|| and ||out − LN(x)|| (what the text changed after
                the LayerNorm); "text scale that would equalise norms" = current scale x
                median ||x||/||t||. Counts of dims always open (> 0.95 for 99 % of atoms),
                always shut (< 0.05 for 99 %) or varying: the first two carry no atom
                information. Covariance spectrum: eigenvalues of the gate's [H, H]
                covariance over atoms, largest first with their share; participation
                ratio PR = (Σλ)²/Σλ² is how many directions the variation really spans.
                Heat map: atoms sampled evenly along pc1 (rows) x dims by mean (columns,
                neighbours averaged to fit); the shade character is the value.
                Table: dims by mean; up/down selects one and shows its histogram over
                atoms and the elements whose atoms open it most.

Reading the guides: "text-heavy" (< 0.3) and "graph-heavy" (> 0.7) are the users'
labels, kept so numbers compare with their figures. In the fusion module
out = LayerNorm(x + alpha * text), so a larger alpha lets more text in."""


#: Which pane an action belongs to (everything else works everywhere).
SCOPES = {
    "toggle_element": "Elements",
    "min_count": "Elements",
    "sort_elements": "Elements",
    "sort_crystals": "Crystals",
    "jump": "Crystals",
    "text_source": "Layers",
    "effect_run": "Text effect",
    "effect_cancel": "Text effect",
    "effect_condition": "Text effect",
    "sort_effect": "Text effect",
}
KEY_NAMES = {"question_mark": "?", "plus": "+", "minus": "-"}
EXTRA_KEYS = (
    ("q, ctrl+c", "quit (cancels loading)", ""),
    ("ctrl+p", "command palette: every action, reductions and themes by name", ""),
    ("enter / click header", "sort a table by that column", ""),
)


def key_rows(bindings: Iterable[Binding]) -> list[tuple[str, str, str]]:
    """(keys, description, pane) for every described binding, plus app-level keys."""
    rows: list[tuple[str, str, str]] = []
    for b in bindings:
        if not b.description:
            continue
        keys = ", ".join(KEY_NAMES.get(k.strip(), k.strip()) for k in b.key.split(","))
        action = b.action.split("(", 1)[0]
        rows.append((keys, b.tooltip or b.description, SCOPES.get(action, "")))
    return rows + list(EXTRA_KEYS)


def keys_table(bindings: Iterable[Binding]) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_column(style="italic")
    for keys, description, scope in key_rows(bindings):
        table.add_row(keys, description, scope)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss_help", "Close"),
        Binding("question_mark", "dismiss_help", "Close", show=False),
        Binding("q", "dismiss_help", "Close", show=False),
    ]

    def __init__(self, bindings: Iterable[Binding]) -> None:
        super().__init__()
        self.bindings = list(bindings)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            yield Static(Text("keys", style="bold"))
            yield Static(keys_table(self.bindings), id="help-keys")
            yield Static(Text("\npanes", style="bold"))
            yield Static(PANES_TEXT, markup=False)
            yield Static(Text("\nreductions (r / R cycle, p to type one)", style="bold"))
            yield Static(reduction_help_table(), id="help-reductions")
            yield Static(
                "\nmeaning is never carried by colour alone: shades, markers and words "
                "say the same thing; the theme can be changed from the command palette "
                "(ctrl+p).",
                markup=False,
            )
        box.border_title = "alpha-tui help"
        box.border_subtitle = "escape to close"

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
