"""Choosing a graph backend without ever crashing on a broken DGL install.

DGL fails in many ways that are not ImportError: with torch newer than its wheel it
raises FileNotFoundError for a missing shared library, and other versions raise
OSError or RuntimeError at import or at the first kernel call. So "auto" imports it,
runs one tiny message-passing op against the native result, and falls back to
native with a one-line reason on any exception.
"""

from __future__ import annotations

import os

import torch

from alpha_tui.errors import UserError
from alpha_tui.model.backends.base import GraphBackend
from alpha_tui.model.backends.native import NativeBackend

BACKEND_NAMES: tuple[str, ...] = ("auto", "native", "dgl")


def _one_line(exc: BaseException, limit: int = 160) -> str:
    text = str(exc).strip().splitlines()
    detail = text[0] if text else ""
    line = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _smoke_test(backend: GraphBackend, device: torch.device) -> None:
    """Run the three graph ops on a 3-node graph and compare with the native backend."""
    src = torch.tensor([0, 1, 2, 2], dtype=torch.long, device=device)
    dst = torch.tensor([1, 2, 0, 1], dtype=torch.long, device=device)
    nodes = torch.arange(6, dtype=torch.float32, device=device).reshape(3, 2)
    edges = torch.linspace(0.5, 2.0, 8, device=device).reshape(4, 2)
    ours, ref = backend.graph(src, dst, 3), NativeBackend().graph(src, dst, 3)
    for name, args in (
        ("u_add_v", (nodes, nodes * 2)),
        ("u_mul_e_sum", (nodes, edges)),
        ("copy_e_sum", (edges,)),
    ):
        got = getattr(ours, name)(*args)
        want = getattr(ref, name)(*args)
        if got.shape != want.shape or not torch.allclose(got, want, atol=1e-6):
            raise RuntimeError(f"{backend.name} {name} disagrees with the native result")


def _load_dgl_backend(device: torch.device) -> GraphBackend:
    os.environ.setdefault("DGLBACKEND", "pytorch")
    from alpha_tui.model.backends.dgl_backend import DGLBackend

    backend = DGLBackend()
    _smoke_test(backend, device)
    return backend


def select_backend(
    name: str = "auto", *, device: str | torch.device = "cpu"
) -> tuple[GraphBackend, str | None]:
    """Return the backend and, when the choice deserves a word, a one-line diagnostic."""
    key = (name or "auto").strip().lower()
    if key == "native":
        return NativeBackend(), None
    if key not in BACKEND_NAMES:
        raise UserError(f"unknown graph backend {name!r}; use one of: {', '.join(BACKEND_NAMES)}")
    try:
        backend = _load_dgl_backend(torch.device(device))
    except Exception as exc:  # any DGL failure means "not usable here"
        reason = _one_line(exc)
        if key == "dgl":
            raise UserError(
                f"the DGL backend is not usable here ({reason}); use --backend native"
            ) from exc
        return NativeBackend(), f"DGL not usable ({reason}); using the native torch backend"
    return backend, None
