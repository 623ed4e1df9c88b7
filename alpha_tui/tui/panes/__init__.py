"""The six explorer panes, one module each; every pane renders from a ViewState."""
