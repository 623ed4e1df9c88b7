"""Crash-safe writing: everything under a temporary folder, the manifest last, one rename.

An interrupted write leaves a ``.partial-*`` folder holding an ``INCOMPLETE`` marker
and no manifest, which no reader mistakes for a store and ``cache list`` reports;
the target path only ever holds a complete store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from alpha_tui import __version__
from alpha_tui.capture.cache import ActivationCache
from alpha_tui.capture.memory import give_back_heap
from alpha_tui.errors import UserError
from alpha_tui.paths import resolved
from alpha_tui.store.codec import encode_cache
from alpha_tui.store.layout import (
    INCOMPLETE,
    MANIFEST,
    PARTIAL_PREFIX,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    is_store,
    sha256_file,
)


class _HashingWriter:
    """File wrapper that hashes what np.save writes, so big arrays are not re-read."""

    def __init__(self, handle) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        self.digest.update(view)
        self.size += len(view)
        return self.handle.write(view)

    def flush(self) -> None:
        self.handle.flush()


def _save_array(path: Path, array: np.ndarray) -> dict[str, Any]:
    if array.dtype.hasobject:
        raise TypeError(f"{path.name}: object arrays cannot be memory-mapped")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        writer = _HashingWriter(handle)
        np.save(writer, np.ascontiguousarray(array), allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())
    return {
        "sha256": writer.digest.hexdigest(),
        "bytes": writer.size,
        "shape": list(array.shape),
        "dtype": array.dtype.str,
    }


def _summary(cache: ActivationCache) -> dict[str, Any]:
    meta = cache.meta
    return {
        "checkpoint": meta.get("checkpoint", {}),
        "device": meta.get("device"),
        "backend": meta.get("backend"),
        "data": meta.get("data", {}),
        "counts": {
            "crystals": cache.n_crystals,
            "atoms": cache.n_atoms,
            "fusion_modules": len(cache.fusion_modules),
            "layers": len(cache.layers),
        },
        "notes": meta.get("notes", []),
        "problems": meta.get("problems", []),
    }


def write_store(
    cache: ActivationCache,
    out: Path,
    *,
    provenance: dict[str, Any] | None = None,
    force: bool = False,
    tables: bool = True,
    precompute: bool = True,
) -> Path:
    """Write ``cache`` as a store at ``out``; ``provenance`` (inputs, key) goes in the manifest.

    ``precompute`` keeps the default cycle's reductions (``store.precompute``); shards
    skip it and the tables, since their merge recomputes both over the whole dataset.
    """
    out = resolved(out)
    if out.exists() and not force:
        raise UserError(f"{out} exists; pass --force to replace it or choose another --out")
    if out.exists() and not is_store(out) and any(out.iterdir()):
        raise UserError(f"{out} is a non-empty folder that is not a store; choose another --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f"{PARTIAL_PREFIX}{out.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    (tmp / INCOMPLETE).write_text(json.dumps({"target": str(out), "pid": os.getpid()}) + "\n")
    try:
        _write_contents(cache, tmp, provenance, tables, precompute)
    except Exception:
        # a failed write (disk full, unwritable) is cleaned up; an interrupt or a killed
        # job cannot be, and leaves the folder marked INCOMPLETE for cache clear
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _swap_into_place(tmp, out)
    return out


def _write_contents(
    cache: ActivationCache,
    tmp: Path,
    provenance: dict[str, Any] | None,
    tables: bool,
    precompute: bool,
) -> None:
    session = None
    if precompute:
        from alpha_tui.store.precompute import precompute as compute_reductions

        values, session = compute_reductions(cache)
        cache = replace(cache, precomputed=values)
        give_back_heap()  # the reductions' row chunks: 110 MiB at 10,000 crystals
    else:
        cache = replace(cache, precomputed=None)
    fields, arrays = encode_cache(cache)
    files = {name: _save_array(tmp / name, array) for name, array in arrays.items()}
    notes = []
    if tables:
        from alpha_tui.store.tables import write_tables

        written, note = write_tables(cache, tmp, session)
        for name in written:
            files[name] = {"sha256": sha256_file(tmp / name), "bytes": (tmp / name).stat().st_size}
        if note:
            notes.append(note)
    manifest = {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "alpha_tui_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **_summary(cache),
        "provenance": provenance or {},
        "store_notes": notes,
        "fields": fields,
        "files": files,
    }
    write_manifest(tmp, manifest)
    (tmp / INCOMPLETE).unlink()


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """The manifest goes in last and whole (fsync, then rename): it is what marks a store."""
    staged = folder / f"{MANIFEST}.tmp"
    with open(staged, "w") as handle:
        json.dump(manifest, handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(staged, folder / MANIFEST)


def _swap_into_place(tmp: Path, out: Path) -> None:
    """A replaced store is moved aside first, so ``out`` is never half old, half new."""
    old = None
    if out.exists():
        old = out.parent / f"{PARTIAL_PREFIX}old-{out.name}-{os.getpid()}"
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        with contextlib.suppress(OSError):
            shutil.rmtree(old)
