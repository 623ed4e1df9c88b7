"""``alpha-tui extract``: capture once (on a GPU node, in a batch job) into a named store."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alpha_tui.store.index import StoreInputs, key_document


def rate_progress(stream: Any = None, clock: Callable[[], float] = time.monotonic):
    """Progress printer with rate and ETA per stage; one line per stage when not a tty."""
    stream = stream or sys.stderr
    started: dict[str, float] = {}

    def show(done: int, total: int, stage: str) -> None:
        now = clock()
        start = started.setdefault(stage, now)
        elapsed = now - start
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (total - done) / rate if rate > 0 else float("nan")
        finished = done >= total
        if not stream.isatty() and not finished:
            return
        rate_text = f"{rate:.1f}/s" if rate > 0 else "—/s"
        eta_text = f"ETA {eta:.0f} s" if eta == eta else "ETA —"
        line = f"{stage[:20]:<20} {done}/{total}  {rate_text}  {eta_text}"
        end = "\n" if finished else ""
        print(f"\r{line:<60}", end=end, file=stream, flush=True)

    return show


def extract(
    options: Any,
    inputs: StoreInputs,
    out: Path,
    *,
    force: bool,
    progress=None,
    shards: int = 1,
    resume: bool = False,
) -> Path | None:
    """Capture with the pipeline and write the store, key and inputs in its manifest."""
    from alpha_tui.capture.pipeline import run_pipeline
    from alpha_tui.store.writer import write_store

    if Path(out).exists() and not force:
        from alpha_tui.errors import UserError

        raise UserError(f"{out} exists; pass --force to replace it or choose another --out")
    from alpha_tui.store.shards import local_sharded_extract, sharded_extract, world

    if world()[1] > 1:
        return sharded_extract(options, inputs, out, force=force, resume=resume, progress=progress)
    if shards > 1 or resume:
        return local_sharded_extract(
            options, inputs, out, shards=shards, force=force, resume=resume, progress=progress
        )
    document = key_document(inputs)
    cache = run_pipeline(options, progress)
    return write_store(cache, out, provenance={"key": document}, force=force)
