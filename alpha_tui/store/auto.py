"""Open an activation store, or capture and keep one: the single entry of every command.

A STORE path opens directly. A checkpoint goes through the automatic cache: the key
of its inputs names ``<cache>/stores/<key>``; a complete store there is opened and no
model runs, otherwise the pipeline captures and the result is written there for next
time. A store that cannot be written (read-only cache, full disk) is a note, not a
failure: the capture in memory is still good.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alpha_tui.capture.cache import ActivationCache
from alpha_tui.errors import UserError
from alpha_tui.store.index import StoreInputs, key_document, store_key, stores_dir
from alpha_tui.store.layout import is_store, looks_incomplete
from alpha_tui.store.reader import open_store

Progress = Callable[[int, int, str], None]


def is_store_path(path: Path | None) -> bool:
    return path is not None and Path(path).is_dir()


def open_store_path(path: Path) -> ActivationCache:
    if not (is_store(path) or looks_incomplete(path)):
        raise UserError(
            f"{path} is a directory but not an alpha-tui store (no manifest.json); give a "
            "checkpoint file or a store folder written by alpha-tui extract"
        )
    return open_store(path)


def capture_with_store(
    make_options: Callable[[], Any],
    inputs: StoreInputs,
    *,
    cache_dir: Path | None = None,
    recapture: bool = False,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    on_model: Callable[[Any], None] | None = None,
) -> ActivationCache:
    """``make_options`` builds the pipeline's RunOptions only on a miss: it imports torch.

    ``on_model`` is called with the live model only on a miss (a store holds none).
    """
    document = key_document(inputs)
    target = stores_dir(cache_dir) / store_key(document)
    note = None
    if is_store(target) and not recapture:
        try:
            return open_store(target)
        except UserError as exc:  # a damaged cache entry is replaced, and said so
            note = f"cached store was unusable and was recaptured: {exc.message}"
    from alpha_tui.capture.pipeline import run_pipeline

    cache = run_pipeline(make_options(), progress, cancel, on_model=on_model)
    if note:
        cache.meta.setdefault("notes", []).append(note)
    try:
        from alpha_tui.store.writer import write_store

        write_store(cache, target, provenance={"key": document}, force=True)
        cache.meta["store_written"] = str(target)
    except OSError as exc:
        cache.meta.setdefault("notes", []).append(f"store not kept in {target.parent}: {exc}")
    return cache

