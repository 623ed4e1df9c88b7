"""Sharded extract under ``torchrun``: each rank captures whole batches, rank 0 merges.

Ranks take disjoint contiguous slices of whole batches (``capture.run.shard_window``),
so every batch, and therefore every number, is the one a single process computes;
the text sources and the null derangement span the whole dataset on every rank.
Each rank writes its shard as a store under ``.shards-<name>/``; after a barrier rank 0
concatenates them in rank order and writes the one store. Merging is by field: arrays
are concatenated (``atom_crystal`` re-offset, the global ``null_permutation`` taken
once), the per-crystal string lists concatenated, everything else must agree across
ranks or the merge fails loudly rather than guess.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from alpha_tui.capture.cache import ActivationCache
from alpha_tui.store.index import StoreInputs, key_document
from alpha_tui.store.reader import open_store
from alpha_tui.store.writer import write_store

PER_CRYSTAL_LISTS = {"crystal_ids", "formulas"}
GLOBAL_ARRAYS = {"null_permutation"}


def world() -> tuple[int, int, int]:
    """(rank, world size, local rank) from torchrun's environment; (0, 1, 0) without it."""
    env = os.environ
    return int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0))


def _merge(values: list[Any], where: str) -> Any:
    first = values[0]
    if isinstance(first, np.ndarray):
        return np.concatenate([np.asarray(v) for v in values])
    if dataclasses.is_dataclass(first):
        merged = {
            f.name: _merge([getattr(v, f.name) for v in values], f"{where}.{f.name}")
            for f in dataclasses.fields(first)
        }
        return type(first)(**merged)
    if isinstance(first, dict):
        if any(list(v) != list(first) for v in values):
            raise ValueError(f"shards disagree on the keys of {where}")
        return {k: _merge([v[k] for v in values], f"{where}[{k!r}]") for k in first}
    if all(_same(v, first) for v in values):
        return first
    raise ValueError(f"shards disagree on {where}; cannot merge it")


def _same(a: Any, b: Any) -> bool:
    def text(x: Any) -> str:
        return json.dumps(x, sort_keys=True, default=repr)

    return text(a) == text(b)


def merge_shards(shards: list[ActivationCache]) -> ActivationCache:
    merged: dict[str, Any] = {}
    for f in dataclasses.fields(ActivationCache):
        values = [getattr(s, f.name) for s in shards]
        if f.name == "meta":
            meta = {k: v for k, v in values[0].items() if k != "store"}
            problems: list[Any] = []
            for v in values:
                problems += [p for p in v.get("problems", []) if p not in problems]
            meta["problems"] = problems
            merged[f.name] = meta
        elif f.name == "atom_crystal":
            offsets = np.cumsum([0] + [s.n_crystals for s in shards[:-1]])
            merged[f.name] = np.concatenate(
                [np.asarray(v) + np.int32(o) for v, o in zip(values, offsets, strict=True)]
            ).astype(np.int32)
        elif f.name in GLOBAL_ARRAYS:
            if any(not np.array_equal(np.asarray(v), np.asarray(values[0])) for v in values):
                raise ValueError(f"shards disagree on the global {f.name}")
            merged[f.name] = values[0]
        elif f.name in PER_CRYSTAL_LISTS:
            merged[f.name] = [x for v in values for x in v]
        else:
            merged[f.name] = _merge(values, f.name)
    return ActivationCache(**merged)


def sharded_extract(
    options: Any, inputs: StoreInputs, out: Path, *, force: bool, progress=None
) -> Path | None:
    """Run on every rank; returns the store path on rank 0, None elsewhere."""
    import torch
    import torch.distributed as dist

    from alpha_tui.capture.pipeline import run_pipeline

    rank, size, local = world()
    gpu = options.device.startswith("cuda")
    if gpu:
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if gpu else "gloo")
    try:
        out = Path(out).expanduser().resolve()
        shard_dir = out.parent / f".shards-{out.name}"
        cache = run_pipeline(replace(options, shard=(rank, size)), progress if rank == 0 else None)
        write_store(cache, shard_dir / f"rank-{rank:05d}", force=True, tables=False)
        dist.barrier()
        path = None
        if rank == 0:
            shards = [open_store(shard_dir / f"rank-{r:05d}") for r in range(size)]
            merged = merge_shards(shards)
            merged.meta["notes"] = list(merged.meta.get("notes", [])) + [
                f"extracted by {size} processes (torchrun), merged in rank order"
            ]
            path = write_store(merged, out, provenance={"key": key_document(inputs)}, force=force)
            shutil.rmtree(shard_dir, ignore_errors=True)
        dist.barrier()
        return path
    finally:
        dist.destroy_process_group()
