"""One hooked pass over the dataset that fills an ActivationCache.

Text tensors are per crystal and depend only on the text embedding, so every text
source (``text_projection`` and each fusion module's ``text_transform``) is computed
for all crystals before the pass. That lets the hooks compare each layer with its own
crystal's text and, as a null baseline, with the text of a different crystal chosen
by a fixed derangement, without keeping any full layer tensor.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from alpha_tui.capture.cache import ActivationCache, LayerFlow, LayerInfo, TextSource
from alpha_tui.capture.hooks import (
    HookNames,
    find_fusion_modules,
    find_layers,
    first_tensor,
    get_module,
    hooks_attached,
)
from alpha_tui.capture.memory import HeapTrimmer
from alpha_tui.capture.rows import RowTable
from alpha_tui.data.batching import collate
from alpha_tui.data.graph_source import atom_counts as atom_counts_of
from alpha_tui.data.graphs import CrystalGraph
from alpha_tui.data.row_file import RowFile
from alpha_tui.errors import UserError
from alpha_tui.problems import Problem

ProgressCallback = Callable[[int, int, str], None]
#: per-crystal text vectors: in memory, or on disk and read by slice
TextRows = np.ndarray | RowFile
NULL_SEED = 20240601  # fixed so the null baseline is the same on every run


class CaptureCancelled(Exception):
    """The user asked to stop while the pass was running."""


@dataclass
class CaptureInput:
    ids: list[str]
    formulas: list[str]
    targets: np.ndarray  # [C]
    graphs: Sequence[CrystalGraph]
    text: TextRows  # [C, T_in] text-encoder embeddings
    # Per crystal [L_i, T_in] token states; only for fine-grained attention models.
    text_tokens: Sequence[np.ndarray] | None = None


@dataclass
class _Accumulator:
    """Per-atom results in their final arrays (capture/rows.py), keyed by (kind, name...)."""

    rows: RowTable
    widths: dict[str, int] = field(default_factory=dict)  # in first-seen order

    @property
    def order(self) -> list[str]:
        return list(self.widths)


def derangement(n: int, seed: int = NULL_SEED) -> np.ndarray | None:
    """A permutation with no fixed point (Sattolo's cycle), or None when n < 2."""
    if n < 2:
        return None
    rng = np.random.default_rng(seed)
    perm = np.arange(n)
    for i in range(n - 1, 0, -1):
        j = int(rng.integers(0, i))
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def shard_window(n: int, batch_size: int, rank: int, world: int) -> tuple[int, int]:
    """Rank ``rank``'s contiguous crystals: whole batches, as even as batches allow."""
    batches = -(-n // batch_size)
    lo = rank * batches // world
    hi = (rank + 1) * batches // world
    return min(lo * batch_size, n), min(hi * batch_size, n)


def put_atomic_numbers(out: np.ndarray, row: int, graphs: Sequence[CrystalGraph]) -> None:
    """A batch's atomic numbers at their rows (a function, so no loop variable keeps the
    batch's last graph alive into the next batch)."""
    for graph in graphs:
        out[row : row + graph.num_nodes] = graph.atomic_numbers
        row += graph.num_nodes


def layer_label(name: str, alignn_count: int) -> str:
    """The users' names: Layer 1..4 are ALIGNN, Layer 5..8 are GCN."""
    match = re.fullmatch(r"alignn_layers\.(\d+)", name)
    if match:
        return f"Layer {int(match.group(1)) + 1} (ALIGNN)"
    match = re.fullmatch(r"gcn_layers\.(\d+)", name)
    if match:
        return f"Layer {alignn_count + int(match.group(1)) + 1} (GCN)"
    match = re.search(r"layer_(\d+)$", name)
    if match:
        return f"Fusion after Layer {int(match.group(1)) + 1}"
    return name


def text_rows(rows: TextRows, start: int, stop: int, device: torch.device | str) -> torch.Tensor:
    return torch.as_tensor(rows[start:stop], dtype=torch.float32, device=device)


def compute_text_sources(
    model: nn.Module,
    rows: TextRows,
    fusion_modules: list[str],
    names: HookNames,
    device: torch.device | str,
    chunk: int = 512,
) -> dict[str, torch.Tensor]:
    """Every crystal's projected and transformed text, 512 rows at a time (the rows
    themselves may be on disk: data/row_file.py)."""
    projection = get_module(model, names.text_projection)
    text64 = torch.cat(
        [projection(text_rows(rows, i, i + chunk, device)) for i in range(0, len(rows), chunk)]
    )
    sources = {names.text_projection: text64}
    for fusion in fusion_modules:
        transform = get_module(model, f"{fusion}.{names.text_transform_child}")
        text = transform(text64)
        # Later forks multiply by a learnt scalar before injecting; keep what is injected.
        scale = getattr(get_module(model, fusion), "text_scale", None)
        if isinstance(scale, torch.Tensor):
            text = text * scale
        sources[f"{fusion}.{names.text_transform_child}"] = text
    return sources


def text_scales(model: nn.Module, fusion_modules: list[str]) -> dict[str, float]:
    """The scalar each fork multiplies the transformed text by, where it has one."""
    scales = {}
    for fusion in fusion_modules:
        scale = getattr(model.get_submodule(fusion), "text_scale", None)
        if isinstance(scale, torch.Tensor) and scale.numel() == 1:
            scales[fusion] = float(scale.detach().cpu().reshape(()).item())
    return scales


def _cosine(x: torch.Tensor, t: torch.Tensor) -> np.ndarray:
    return F.cosine_similarity(x, t, dim=1, eps=1e-8).float().cpu().numpy()


def _norm(x: torch.Tensor) -> np.ndarray:
    return x.norm(dim=1).float().cpu().numpy()


def capture(
    model: nn.Module,
    data: CaptureInput,
    *,
    names: HookNames | None = None,
    batch_size: int = 16,
    device: torch.device | str = "cpu",
    prediction_available: bool = True,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    window: tuple[int, int] | None = None,
    spill_results: bool = False,
    notes: list[str] | None = None,
) -> ActivationCache:
    """``window=(lo, hi)`` captures crystals lo..hi-1 only (one rank of a sharded
    extract): text sources and the null derangement still span the whole dataset and
    ``lo`` must be a multiple of ``batch_size``, so every batch, and every number, is
    the one a single pass computes. ``null_permutation`` stays global.

    ``spill_results`` keeps the per-atom results in temporary files (capture/rows.py);
    when that is not possible they stay in memory and a line saying so goes to ``notes``.
    """
    names = names or HookNames()
    device = torch.device(device)
    n = len(data.ids)
    if n == 0:
        raise UserError("nothing to capture: the dataset has no usable crystals")
    lo, hi = window if window is not None else (0, n)
    if not (0 <= lo <= hi <= n and lo % batch_size == 0):
        raise ValueError(f"window {window} must lie in [0, {n}] and start on a batch boundary")
    if lo == hi:
        batches = -(-n // batch_size)
        raise UserError(
            f"this process has no crystals: {n} crystals make only {batches} batches of "
            f"{batch_size}; use fewer processes or a smaller --batch-size"
        )
    model.eval()
    fusion_modules = find_fusion_modules(model, names)
    layers = find_layers(model, names)
    if not layers and not fusion_modules:
        raise UserError(
            "found no layers (alignn_layers.*, gcn_layers.*) and no fusion module with "
            "'gate' and 'text_transform' children; use --layer-containers to name them"
        )
    perm = derangement(n)
    # counts up front (a GraphSource knows them unloaded): the graphs stream per batch
    atom_counts = atom_counts_of(data.graphs)[lo:hi]
    n_atoms = int(atom_counts.sum())
    acc = _Accumulator(RowTable(n_atoms, spill=spill_results))
    atomic_numbers = np.empty(n_atoms, dtype=np.int16)
    put = acc.rows.put
    # preallocated like the rows: a small array kept per batch can land above that
    # batch's freed tensors and keep the heap from shrinking back (not measured alone)
    predictions = np.empty(hi - lo, dtype=np.float64)
    predicted = 0
    # Per batch: each source's text gathered per atom (own crystal, and null partner).
    batch_text: dict[str, torch.Tensor] = {}
    batch_null: dict[str, torch.Tensor] = {}

    with torch.no_grad():
        sources = compute_text_sources(model, data.text, fusion_modules, names, device)
        null_index = torch.as_tensor(perm, device=device) if perm is not None else None

        def record_layer(name: str, x: torch.Tensor) -> None:
            acc.widths.setdefault(name, int(x.shape[1]))
            put(("norm", name), _norm(x))
            for source, text in batch_text.items():
                if text.shape[1] != x.shape[1]:
                    continue
                put(("cos", name, source), _cosine(x, text))
                if source in batch_null:
                    put(("null", name, source), _cosine(x, batch_null[source]))

        def layer_hook(name: str):
            def hook(_module: nn.Module, _args: tuple, output: object) -> None:
                record_layer(name, first_tensor(output))

            return hook

        def fusion_hook(name: str):
            def hook(_module: nn.Module, args: tuple, output: object) -> None:
                x_in = args[0]
                put(("fusion_norm", name), _norm(x_in))
                out = first_tensor(output)
                norm = getattr(_module, "layer_norm", None)
                if isinstance(norm, nn.Module):
                    put(("ln_change", name), _norm(out - norm(x_in)))
                record_layer(name, out)

            return hook

        def gate_hook(name: str):
            def hook(_module: nn.Module, _args: tuple, output: object) -> None:
                put(("gate", name), first_tensor(output).float().cpu().numpy())

            return hook

        hooks = {name: layer_hook(name) for name in layers}
        for fusion in fusion_modules:
            hooks[fusion] = fusion_hook(fusion)
            hooks[f"{fusion}.{names.gate_child}"] = gate_hook(fusion)

        trim_heap = HeapTrimmer()
        with hooks_attached(model, hooks):
            for start in range(lo, hi, batch_size):
                if cancel is not None and cancel.is_set():
                    raise CaptureCancelled()
                stop = min(start + batch_size, hi)
                graphs = data.graphs[start:stop]
                tokens = None if data.text_tokens is None else data.text_tokens[start:stop]
                batch = collate(graphs, data.text[start:stop], tokens).to(device)
                put_atomic_numbers(atomic_numbers, acc.rows.offset, graphs)
                del graphs  # streamed: the batch's graphs go with the batch
                counts = batch.batch_num_nodes
                crystal_of_atom = torch.repeat_interleave(
                    torch.arange(start, stop, device=device), counts
                )
                for source, text in sources.items():
                    batch_text[source] = text[crystal_of_atom]
                    if null_index is not None:
                        batch_null[source] = text[null_index[crystal_of_atom]]
                out = model(batch)
                acc.rows.offset += int(counts.sum())
                if out is not None and prediction_available:
                    predictions[start - lo : stop - lo] = out.reshape(stop - start, -1)[:, 0].cpu()
                    predicted += stop - start
                del batch, out
                batch_text.clear()
                batch_null.clear()
                acc.rows.release()
                trim_heap()
                if progress is not None:
                    progress(stop - lo, hi - lo, "capture")

    if acc.rows.offset != n_atoms:
        raise RuntimeError(f"{acc.rows.offset} of {n_atoms} atoms went through the model")
    held = acc.rows.held_note()
    if held and notes is not None:
        notes.append(held)
    alignn_count = sum(1 for name in acc.order if name.startswith("alignn_layers."))
    layer_infos = [
        LayerInfo(name, layer_label(name, alignn_count), acc.widths[name], name in fusion_modules)
        for name in acc.order
    ]
    text_sources = [TextSource(name, int(t.shape[1])) for name, t in sources.items()]
    flows: dict[tuple[str, str], LayerFlow] = {}
    for info in layer_infos:
        for source in text_sources:
            key = (info.name, source.name)
            flows[key] = LayerFlow(
                info.name,
                source.name,
                info.width,
                source.width,
                acc.rows.get(("cos", *key)) if ("cos", *key) in acc.rows else None,
                acc.rows.get(("null", *key)) if ("null", *key) in acc.rows else None,
            )
    if predicted not in (0, hi - lo):
        raise RuntimeError(f"the model predicted {predicted} of {hi - lo} crystals")
    pred = predictions if predicted and prediction_available else None
    cache = ActivationCache(
        crystal_ids=list(data.ids[lo:hi]),
        formulas=list(data.formulas[lo:hi]),
        targets=np.asarray(data.targets, dtype=np.float64)[lo:hi],
        atom_counts=atom_counts,
        text_projection=sources[names.text_projection][lo:hi].float().cpu().numpy(),
        atom_crystal=np.repeat(np.arange(hi - lo, dtype=np.int32), atom_counts),
        atomic_numbers=atomic_numbers,
        fusion_modules=fusion_modules,
        gates={f: acc.rows.get(("gate", f)) for f in fusion_modules},
        text_transform={
            f: sources[f"{f}.{names.text_transform_child}"][lo:hi].float().cpu().numpy()
            for f in fusion_modules
        },
        fusion_input_norm={f: acc.rows.get(("fusion_norm", f)) for f in fusion_modules},
        layers=layer_infos,
        layer_norms={info.name: acc.rows.get(("norm", info.name)) for info in layer_infos},
        text_sources=text_sources,
        flows=flows,
        null_permutation=perm,
        predictions=pred,
        fusion_ln_change={
            f: acc.rows.get(("ln_change", f))
            for f in fusion_modules
            if ("ln_change", f) in acc.rows
        },
        text_scale=text_scales(model, fusion_modules),
    )
    cache.meta["problems"] = [p.to_dict() for p in non_finite_problems(cache)]
    return cache


def non_finite_problems(cache: ActivationCache) -> list[Problem]:
    """NaN/Inf anywhere in what we keep is reported, never averaged away silently."""
    problems = []
    checks: dict[str, np.ndarray] = {f"{f}.gate": g for f, g in cache.gates.items()}
    checks.update({f"{name} (norm)": v for name, v in cache.layer_norms.items()})
    if cache.predictions is not None:
        checks["prediction"] = cache.predictions
    for name, values in checks.items():
        bad = ~np.isfinite(values)
        if bad.any():
            rows = np.unique(np.nonzero(bad)[0])
            if values.shape[0] == cache.n_atoms:
                crystals = sorted({cache.crystal_ids[i] for i in cache.atom_crystal[rows]})
            else:
                crystals = sorted({cache.crystal_ids[i] for i in rows})
            problems.append(
                Problem(
                    "non-finite",
                    name,
                    f"{int(bad.sum())} NaN/Inf values in {len(crystals)} crystals "
                    f"(first: {', '.join(crystals[:3])})",
                )
            )
    return problems
