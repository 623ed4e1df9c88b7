"""alpha-tui: see what the text half of a multimodal ALIGNN model is really doing."""

__version__ = "0.1.0"
