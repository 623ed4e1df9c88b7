"""One line under the tabs saying what every pane is currently showing."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from alpha_tui.tui.state import ViewState


def status_text(state: ViewState, fusion_modules: list[str], pane_id: str) -> str:
    parts = []
    if fusion_modules:
        position = fusion_modules.index(state.fusion) + 1 if state.fusion in fusion_modules else 0
        parts.append(f"fusion {state.fusion} ({position}/{len(fusion_modules)})")
    parts.append(f"reduction {state.reduction}")
    if pane_id == "layers":
        source = state.text_source or "—"
        parts.append(f"text {source.removeprefix('middle_fusion_modules.')}")
    if pane_id == "elements":
        parts.append(f"min count {state.min_count}")
        if state.selected_elements:
            parts.append("selected " + "+".join(sorted(state.selected_elements)))
    return " · ".join(parts)


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        width: 1fr;
    }
    """

    def show(self, state: ViewState, fusion_modules: list[str], pane_id: str) -> None:
        self.update(
            Text(status_text(state, fusion_modules, pane_id), no_wrap=True, overflow="ellipsis")
        )
