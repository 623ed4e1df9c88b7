"""Running the model with forward hooks and keeping what the analysis needs.

``cache`` is torch-free on purpose: the analysis layer and the TUI import it.
"""
