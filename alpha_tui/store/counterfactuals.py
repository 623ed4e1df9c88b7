"""Adding text-effect re-runs to a finished store, so a reopen shows them without a model.

The re-runs are computed on demand, after the store was written, so they are appended
in place rather than rewriting the store: the new arrays go under fresh names (never
over a file the current manifest names), each through a temporary name and a rename,
and the manifest is replaced last. A crash at any point leaves the old manifest, whose
every file is untouched, so the store reads as before; files no manifest names are
removed after the swap (or left as harmless strays if that fails).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from alpha_tui.capture.cache import ActivationCache, CounterfactualRun
from alpha_tui.store.codec import MAPPING, _Encoder
from alpha_tui.store.layout import is_store
from alpha_tui.store.reader import read_manifest
from alpha_tui.store.writer import _save_array, write_manifest

FIELD = "counterfactuals"


def store_path_of(cache: ActivationCache) -> Path | None:
    """The store this cache was read from or written to this session, if any."""
    meta = cache.meta or {}
    path = (meta.get("store") or {}).get("path") or meta.get("store_written")
    return Path(path) if path else None


def save_counterfactual(store: Path, run: CounterfactualRun) -> None:
    """Add (or replace) ``run`` under its fusion module in the store at ``store``."""
    store = Path(store)
    manifest = read_manifest(store)
    files: dict[str, Any] = dict(manifest.get("files", {}))
    encoder = _Encoder()
    taken = {name: np.empty(0) for name in files}
    encoder.arrays.update(taken)  # so file_for never picks a name the manifest uses
    node = encoder.encode(run, [FIELD, run.fusion])
    written = {name: a for name, a in encoder.arrays.items() if name not in taken}
    for name, array in written.items():
        staged = store / f"{name}.tmp"
        files[name] = _save_array(staged, array)
        os.replace(staged, store / name)
    fields = dict(manifest.get("fields", {}))
    entries = [e for e in fields.get(FIELD, {MAPPING: []})[MAPPING] if e[0] != run.fusion]
    fields[FIELD] = {MAPPING: [*entries, [run.fusion, node]]}
    referenced = _array_names(fields)
    stale = [name for name in files if name not in referenced and name.startswith("arrays/")]
    for name in stale:
        files.pop(name)
    write_manifest(store, {**manifest, "fields": fields, "files": files})
    for name in stale:
        with contextlib.suppress(OSError):
            (store / name).unlink()


def stored_fusions(store: Path) -> set[str]:
    """Fusion modules whose re-runs the store at ``store`` already holds."""
    fields = read_manifest(Path(store)).get("fields", {})
    return {entry[0] for entry in fields.get(FIELD, {MAPPING: []})[MAPPING]}


def save_all_counterfactuals(cache: ActivationCache) -> str | None:
    """Persist every run of ``cache`` into its store; a note when that is not possible."""
    store = store_path_of(cache)
    if store is None or not cache.counterfactuals:
        return None
    if not is_store(store):
        return f"text-effect results not kept: {store} is no longer a store"
    try:
        kept = stored_fusions(store)
        for run in cache.counterfactuals.values():
            if run.fusion not in kept:  # re-runs are deterministic: one copy is enough
                save_counterfactual(store, run)
    except OSError as exc:
        return f"text-effect results not kept in {store}: {exc}"
    return None


def _array_names(node: Any) -> set[str]:
    """Every array file a manifest field tree points at."""
    if isinstance(node, dict):
        if set(node) == {"$npy"}:
            return {node["$npy"]}
        return set().union(*(_array_names(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_array_names(v) for v in node)) if node else set()
    return set()
