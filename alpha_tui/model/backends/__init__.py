"""Graph backends: how EdgeGatedGraphConv's gather/scatter runs (torch or DGL).

Importing this package never imports DGL; ``select_backend`` does, on demand.
"""

from __future__ import annotations

from alpha_tui.model.backends.base import BackendGraph, GraphBackend
from alpha_tui.model.backends.native import NativeBackend, NativeGraph
from alpha_tui.model.backends.select import BACKEND_NAMES, select_backend

__all__ = [
    "BACKEND_NAMES",
    "BackendGraph",
    "GraphBackend",
    "NativeBackend",
    "NativeGraph",
    "select_backend",
]
