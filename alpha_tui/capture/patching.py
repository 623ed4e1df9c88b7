"""Counterfactual re-runs at one fusion module ("does the text matter?").

Each batch runs the layers before the fusion point once (embeddings, the ALIGNN
layers up to and including the one the module follows, earlier fusion modules with
the crystal's own text) and then, per condition, only the fusion module and the
layers after it. Graphs come from the capture input, streamed per batch from the graph
cache as the capture reads them (``data.graph_source``); no structure is parsed again.

What each condition changes (only at the patched module; the late-fusion head and
every other fusion module keep the crystal's own text, so the difference measures
what the text injected *here* does):

- ``other_text``: the module receives another crystal's projected text (the fixed
  derangement of the null baseline, ``run.derangement``); its gate sees that text too.
- ``mean_text``: the module receives ``text_projection`` of the dataset-mean text
  embedding (mean over crystals of the encoder vectors).
- ``gate_shut``: the module's gate output is replaced by 0, so ``out = LN(x)``.
- ``gate_mean``: the gate output is replaced by its per-dimension mean over all
  atoms of the capture (one [H] vector: no per-atom or per-crystal information).
- ``text_zeroed``: the module receives ``text_projection`` of an all-zero text
  embedding (the input to ``text_projection`` zeroed).

The unchanged run is the capture's own prediction; for classification checkpoints
the baseline suffix is run too, because the capture keeps only one output column.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from alpha_tui.capture.cache import ActivationCache, CounterfactualRun
from alpha_tui.capture.memory import HeapTrimmer
from alpha_tui.capture.run import (
    CaptureCancelled,
    CaptureInput,
    ProgressCallback,
    derangement,
    text_rows,
)
from alpha_tui.data.batching import collate
from alpha_tui.errors import UserError
from alpha_tui.model.network import MultimodalALIGNN, mean_pool

CONDITIONS: tuple[str, ...] = (
    "other_text",
    "mean_text",
    "gate_shut",
    "gate_mean",
    "text_zeroed",
)
BASELINE = "own_text"
TEXT_CONDITIONS = ("other_text", "mean_text", "text_zeroed")
STAGE = "text effect"


@dataclass
class ModelHandle:
    """What a counterfactual run needs from the pipeline: the live model and its input."""

    model: nn.Module
    data: CaptureInput
    device: torch.device
    batch_size: int = 16


@dataclass
class _Prefix:
    """The state of one batch just before the patched fusion module."""

    g: object
    lg: object
    x: torch.Tensor
    y: torch.Tensor
    z: torch.Tensor | None
    text64: torch.Tensor  # [B, P] own projected text
    counts: torch.Tensor


def fusion_index(model: MultimodalALIGNN, fusion: str) -> int:
    """ALIGNN layer index the module follows (``middle_fusion_modules.layer_2`` -> 2)."""
    short = fusion.rsplit(".", 1)[-1]
    if short not in model.middle_fusion_modules:
        raise UserError(
            f"no fusion module {fusion!r}; the checkpoint has: "
            + ", ".join(f"middle_fusion_modules.{k}" for k in model.middle_fusion_modules)
        )
    return int(short.removeprefix("layer_"))


def run_prefix(model: MultimodalALIGNN, batch, k: int) -> _Prefix:
    """Everything up to the input of fusion module ``layer_k`` (mirrors forward)."""
    g, lg = model.backend.prepare(batch)
    z = model.angle_embedding(batch.angle_cos) if len(model.alignn_layers) else None
    text64 = model.text_projection(batch.text)
    x = model.atom_embedding(batch.atom_features)
    y = model.edge_embedding(torch.norm(batch.bond_r, dim=1))
    counts = batch.batch_num_nodes
    for i in range(k + 1):
        x, y, z = model.alignn_layers[i](g, lg, x, y, z)
        if i < k and i in model.fusion_layer_indices:
            x = model.middle_fusion_modules[f"layer_{i}"](x, text64, counts)
    return _Prefix(g, lg, x, y, z, text64, counts)


@contextmanager
def gate_replaced(module: nn.Module, value: torch.Tensor | None) -> Iterator[None]:
    """While active, the module's gate returns ``value`` broadcast to its output shape."""
    if value is None:
        yield
        return

    def hook(_m: nn.Module, _args: tuple, output: torch.Tensor) -> torch.Tensor:
        return value.to(output.dtype).expand_as(output)

    handle = module.gate.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def run_suffix(
    model: MultimodalALIGNN,
    state: _Prefix,
    k: int,
    fusion_text: torch.Tensor,
    gate: torch.Tensor | None = None,
) -> torch.Tensor:
    """Fusion module ``layer_k`` with the given text / gate, then the rest of the network.

    Returns the linked output [B, K] (K = 1 for regression).
    """
    module = model.middle_fusion_modules[f"layer_{k}"]
    with gate_replaced(module, gate):
        x = module(state.x, fusion_text, state.counts)
    y, z = state.y, state.z
    for i in range(k + 1, len(model.alignn_layers)):
        x, y, z = model.alignn_layers[i](state.g, state.lg, x, y, z)
        if i in model.fusion_layer_indices:
            x = model.middle_fusion_modules[f"layer_{i}"](x, state.text64, state.counts)
    for layer in model.gcn_layers:
        x, y = layer(state.g, x, y)
    graph64 = model.graph_projection(mean_pool(x, state.counts))
    out = model._link(model._head(graph64, state.text64))
    return out.reshape(out.shape[0], -1)


def as_outputs(out: torch.Tensor, classification: bool) -> np.ndarray:
    """[B, K] float64: the prediction (regression, first column) or class probabilities."""
    arr = out.double().cpu().numpy()
    if not classification:
        return arr[:, :1]
    if arr.shape[1] == 1:  # single-logit head: sigmoid output is P(class 1)
        return np.concatenate([1.0 - arr, arr], axis=1)
    return np.exp(arr)  # log_softmax -> probabilities


def _check(model: nn.Module, cache: ActivationCache) -> MultimodalALIGNN:
    if not isinstance(model, MultimodalALIGNN):
        raise UserError("text-effect runs need the reference network; this model is not one")
    if not model.prediction_available:
        raise UserError(
            "this checkpoint's predictions are unavailable (unimplemented modules), so "
            "there is no prediction to compare under a changed text"
        )
    if cache.predictions is None and not model.classification:
        raise UserError("the capture has no predictions to compare with")
    return model


def run_text_effect(
    handle: ModelHandle,
    cache: ActivationCache,
    fusion: str,
    *,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> CounterfactualRun:
    """All five conditions at ``fusion``; the result is also stored on the cache."""
    model = _check(handle.model, cache)
    k = fusion_index(model, fusion)
    data, device = handle.data, handle.device
    n = len(data.ids)
    classification = bool(model.classification)
    perm = derangement(n)
    gate_mean = torch.as_tensor(
        np.asarray(cache.gates[fusion], dtype=np.float64).mean(axis=0),
        dtype=torch.float32,
        device=device,
    )
    outputs: dict[str, list[np.ndarray]] = {c: [] for c in (BASELINE, *CONDITIONS)}
    started = clock()
    model.eval()
    trim_heap = HeapTrimmer()
    with torch.no_grad():
        # the text rows 512 at a time (they may be on disk: data/row_file.py)
        projection = model.text_projection
        projected, total = [], None
        for i in range(0, n, 512):
            rows = text_rows(data.text, i, i + 512, device)
            projected.append(projection(rows))
            part = rows.double().sum(dim=0, keepdim=True)
            total = part if total is None else total + part
        text64_all = torch.cat(projected)
        mean64 = projection((total / n).float())
        width = data.text.shape[1]
        zero64 = projection(torch.zeros((1, width), dtype=torch.float32, device=device))
        for start in range(0, n, handle.batch_size):
            if cancel is not None and cancel.is_set():
                raise CaptureCancelled()
            stop = min(start + handle.batch_size, n)
            batch = collate(data.graphs[start:stop], data.text[start:stop]).to(device)
            state = run_prefix(model, batch, k)
            b = stop - start
            own = state.text64
            other = text64_all[torch.as_tensor(perm[start:stop])] if perm is not None else own
            texts = {
                "other_text": other,
                "mean_text": mean64.expand(b, -1),
                "text_zeroed": zero64.expand(b, -1),
            }
            gates = {"gate_shut": torch.zeros_like(gate_mean), "gate_mean": gate_mean}
            if classification:
                outputs[BASELINE].append(as_outputs(run_suffix(model, state, k, own), True))
            for condition in CONDITIONS:
                if condition in texts:
                    out = run_suffix(model, state, k, texts[condition])
                else:
                    out = run_suffix(model, state, k, own, gates[condition])
                outputs[condition].append(as_outputs(out, classification))
            del batch, state
            trim_heap()
            if progress is not None:
                progress(stop, n, STAGE)
    if outputs[BASELINE]:
        baseline = np.concatenate(outputs[BASELINE])
    else:
        baseline = np.asarray(cache.predictions, dtype=np.float64).reshape(n, 1)
    run = CounterfactualRun(
        fusion=fusion,
        classification=classification,
        baseline=baseline,
        outputs={c: np.concatenate(outputs[c]) for c in CONDITIONS},
        seconds=float(clock() - started),
    )
    cache.counterfactuals[fusion] = run
    return run
