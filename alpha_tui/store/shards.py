"""Sharded extract under ``torchrun``: each rank captures whole batches, rank 0 merges.

Ranks take disjoint contiguous slices of whole batches (``capture.run.shard_window``),
so every batch, and therefore every number, is the one a single process computes;
the text sources and the null derangement span the whole dataset on every rank.
Each rank writes its shard as a store under ``.shards-<name>/``; after a barrier rank 0
concatenates them in rank order and writes the one store. One process can do the same
with ``--shards K`` windows in turn; ``--resume`` keeps every finished shard whose
inputs match and whose checksums hold. Merging is by field: arrays
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
from alpha_tui.errors import UserError
from alpha_tui.paths import resolved
from alpha_tui.store.index import StoreInputs, key_document
from alpha_tui.store.layout import is_store
from alpha_tui.store.reader import open_store, read_manifest
from alpha_tui.store.writer import write_store

PER_CRYSTAL_LISTS = {"crystal_ids", "formulas"}
GLOBAL_ARRAYS = {"null_permutation"}
TRANSIENT_OR_RECOMPUTED = {"precomputed", "checks"}


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
        elif f.name in TRANSIENT_OR_RECOMPUTED:
            merged[f.name] = None  # the merged write recomputes precomputed reductions
        elif f.name in PER_CRYSTAL_LISTS:
            merged[f.name] = [x for v in values for x in v]
        else:
            merged[f.name] = _merge(values, f.name)
    return ActivationCache(**merged)


def shard_path(shard_dir: Path, k: int, count: int) -> Path:
    return shard_dir / f"shard-{k:05d}-of-{count:05d}"


def finished_shard(path: Path, document: dict[str, Any]) -> bool:
    """A shard is kept only if complete, of the same inputs, and every checksum holds."""
    if not is_store(path):
        return False
    try:
        if read_manifest(path).get("provenance", {}).get("key") != document:
            return False
        open_store(path, lazy=False)  # verifies every file's SHA-256
    except UserError:
        return False
    return True


def capture_shard(
    options: Any, document: dict[str, Any], shard_dir: Path, k: int, count: int, *,
    resume: bool, progress=None,
) -> bool:  # fmt: skip
    """Capture shard k of count unless ``resume`` finds it finished; True if it ran."""
    from alpha_tui.capture.pipeline import run_pipeline

    path = shard_path(shard_dir, k, count)
    if resume and finished_shard(path, document):
        return False
    cache = run_pipeline(replace(options, shard=(k, count)), progress)
    provenance = {"key": document, "shard": [k, count]}
    write_store(cache, path, provenance=provenance, force=True, tables=False, precompute=False)
    return True


def merge_into(
    out: Path, shard_dir: Path, count: int, document: dict[str, Any], *, force: bool, note: str
) -> Path:
    shards = [open_store(shard_path(shard_dir, k, count), lazy=False) for k in range(count)]
    merged = merge_shards(shards)
    merged.meta["notes"] = [*merged.meta.get("notes", []), note]
    path = write_store(merged, out, provenance={"key": document}, force=force)
    shutil.rmtree(shard_dir, ignore_errors=True)
    return path


def shard_dir_for(out: Path) -> Path:
    out = resolved(out)
    return out.parent / f".shards-{out.name}"


def local_sharded_extract(
    options: Any, inputs: StoreInputs, out: Path, *, shards: int, force: bool, resume: bool,
    progress=None,
) -> Path:  # fmt: skip
    """One process, ``shards`` windows in turn: an interrupted run resumes where it stopped.

    Each shard reloads the checkpoint and dataset (graph and text caches make that
    seconds) and captures its window, so the store equals a single pass bit for bit.
    """
    document = key_document(inputs)
    shard_dir = shard_dir_for(out)
    for k in range(shards):
        capture_shard(options, document, shard_dir, k, shards, resume=resume, progress=progress)
    note = f"extracted in {shards} shards, merged in order"
    return merge_into(out, shard_dir, shards, document, force=force, note=note)


def sharded_extract(
    options: Any, inputs: StoreInputs, out: Path, *, force: bool, resume: bool = False,
    progress=None,
) -> Path | None:  # fmt: skip
    """Run on every torchrun rank; returns the store path on rank 0, None elsewhere."""
    import torch
    import torch.distributed as dist

    rank, size, local = world()
    gpu = options.device.startswith("cuda")
    if gpu:
        torch.cuda.set_device(local)
    dist.init_process_group("nccl" if gpu else "gloo")
    try:
        document = key_document(inputs)
        shard_dir = shard_dir_for(out)
        show = progress if rank == 0 else None
        capture_shard(options, document, shard_dir, rank, size, resume=resume, progress=show)
        dist.barrier()
        path = None
        if rank == 0:
            note = f"extracted by {size} processes (torchrun), merged in rank order"
            path = merge_into(out, shard_dir, size, document, force=force, note=note)
        dist.barrier()
        return path
    finally:
        dist.destroy_process_group()
