"""Training the two sample checkpoints, reproducibly, on two CPU cores.

The split is by parent compound (a strained or rattled variant never sits on the other
side of the split from its parent), so the held-out MAE is an honest one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from alpha_tui.checkpoint.config import ModelConfig
from alpha_tui.data.batching import collate
from alpha_tui.data.graphs import CrystalGraph
from alpha_tui.model.build import build_untrained
from alpha_tui.samples.variants import VARIANTS

ProgressCallback = Callable[[int, int, str], None]


@dataclass(frozen=True)
class TrainSettings:
    epochs: int = 20
    batch_size: int = 16
    learning_rate: float = 1e-3
    weight_decay: float = 1e-5
    diversity_weight: float = 0.0  # > 0: loss = task - w * std(gate values), the seed report's term
    seed: int = 0


@dataclass
class Split:
    train: list[int]
    val: list[int]
    test: list[int]


@dataclass
class TrainResult:
    model: nn.Module
    best_epoch: int
    history: list[dict[str, float]]
    mae: dict[str, float]  # train / val / test / baseline (test, predicting the train mean)
    gate_std: float | None


def parent_of(crystal_id: str) -> str:
    """Variant ids are '<parent><suffix>' (variants.VARIANTS); parents group the split."""
    for spec in VARIANTS:
        if spec.suffix and crystal_id.endswith(spec.suffix):
            return crystal_id.removesuffix(spec.suffix)
    return crystal_id


def group_split(ids: Sequence[str], seed: int, val: float = 0.15, test: float = 0.15) -> Split:
    parents = sorted({parent_of(i) for i in ids})
    rng = random.Random(seed)
    rng.shuffle(parents)
    n_test = max(1, round(len(parents) * test))
    n_val = max(1, round(len(parents) * val))
    test_p = set(parents[:n_test])
    val_p = set(parents[n_test : n_test + n_val])
    split = Split([], [], [])
    for index, crystal_id in enumerate(ids):
        parent = parent_of(crystal_id)
        (split.test if parent in test_p else split.val if parent in val_p else split.train).append(
            index
        )
    return split


def _gate_collector(model: nn.Module) -> tuple[list[torch.Tensor], list]:
    gates: list[torch.Tensor] = []
    handles = []
    for module in model.modules():
        children = dict(module.named_children())
        if "gate" in children and "text_transform" in children:
            handles.append(
                children["gate"].register_forward_hook(lambda _m, _a, out: gates.append(out))
            )
    return gates, handles


def _batches(indices: list[int], size: int, shuffle: bool, rng: random.Random) -> list[list[int]]:
    order = list(indices)
    if shuffle:
        rng.shuffle(order)
    return [order[i : i + size] for i in range(0, len(order), size)]


def evaluate(
    model: nn.Module,
    graphs: Sequence[CrystalGraph],
    text: np.ndarray,
    targets: np.ndarray,
    indices: list[int],
    batch_size: int = 32,
) -> float:
    if not indices:
        return math.nan
    model.eval()
    errors = []
    with torch.no_grad():
        for chunk in _batches(indices, batch_size, False, random.Random(0)):
            batch = collate([graphs[i] for i in chunk], text[chunk])
            pred = model(batch).reshape(-1).numpy()
            errors.append(np.abs(pred - targets[chunk]))
    return float(np.concatenate(errors).mean())


def train_model(
    config: ModelConfig,
    graphs: Sequence[CrystalGraph],
    text: np.ndarray,
    targets: np.ndarray,
    split: Split,
    settings: TrainSettings,
    progress: ProgressCallback | None = None,
    label: str = "train",
) -> TrainResult:
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    model = build_untrained(config, backend="native")
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay
    )
    steps = settings.epochs * math.ceil(len(split.train) / settings.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=settings.learning_rate, total_steps=max(steps, 1)
    )
    targets_t = torch.as_tensor(targets, dtype=torch.float32)
    gates, handles = _gate_collector(model)
    best = (math.inf, 0, None)
    history = []
    try:
        for epoch in range(1, settings.epochs + 1):
            model.train()
            losses = []
            for chunk in _batches(split.train, settings.batch_size, True, rng):
                gates.clear()
                batch = collate([graphs[i] for i in chunk], text[chunk])
                pred = model(batch).reshape(-1)
                loss = nn.functional.l1_loss(pred, targets_t[chunk])
                if settings.diversity_weight and gates:
                    loss = loss - settings.diversity_weight * torch.cat(gates).std()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
                losses.append(float(loss.detach()))
            val_mae = evaluate(model, graphs, text, targets, split.val)
            history.append({"epoch": epoch, "loss": float(np.mean(losses)), "val_mae": val_mae})
            if val_mae < best[0]:
                state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                best = (val_mae, epoch, state)
            if progress is not None:
                progress(epoch, settings.epochs, f"{label} (val MAE {val_mae:.3f} eV)")
    finally:
        for handle in handles:
            handle.remove()
    model.load_state_dict(best[2])
    model.eval()
    # The gate spread is read off the held-out split's own MAE pass (val when there is
    # no test split), so that split is run through the network once, not twice.
    held_out = "test" if split.test else "val"
    gates_eval, handles = _gate_collector(model)
    try:
        maes = {held_out: evaluate(model, graphs, text, targets, getattr(split, held_out))}
    finally:
        for handle in handles:
            handle.remove()
    gate_std = float(torch.cat(gates_eval).std()) if gates_eval else None
    for name in ("train", "val", "test"):
        if name not in maes:
            maes[name] = evaluate(model, graphs, text, targets, getattr(split, name))
    train_mean = float(targets[split.train].mean())
    mae = {
        "train": maes["train"],
        "val": maes["val"],
        "test": maes["test"],
        "baseline_test": float(np.abs(targets[split.test] - train_mean).mean()),
        "baseline_val": float(np.abs(targets[split.val] - train_mean).mean()),
    }
    return TrainResult(model, best[1], history, mae, gate_std)
