"""The automatic store cache: ``<cache root>/stores/<key>``, and ``cache list|clear``.

The key hashes everything that changes a captured number: checkpoint bytes, data
bytes (the CSV and every structure file beside it), the text embeddings (file bytes,
or the encoder folder's files), graph and capture parameters and the store schema.
It is computed from files alone, without torch or jarvis, so a reopen that hits
imports neither. Hashing reads the whole data folder; for 10^5 CIFs that is seconds,
far below a capture.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alpha_tui.errors import UserError
from alpha_tui.paths import resolved
from alpha_tui.store.layout import (
    INCOMPLETE,
    KEY_SCHEMA_VERSION,
    MANIFEST,
    PARTIAL_PREFIX,
    is_store,
    sha256_file,
)

STORES = "stores"
GRAPH_PARAMS = {"cutoff": 8.0, "max_neighbors": 12}  # the users' atom_dgl_multigraph settings
SIDECAR_SUFFIX = ".json"  # same sidecar the pipeline reads: data and text_embeddings paths


def stores_dir(cache_dir: Path | None) -> Path:
    from alpha_tui.data.graph_cache import default_cache_root

    return (Path(cache_dir) if cache_dir else default_cache_root()) / STORES


def sidecar_inputs(checkpoint: Path) -> tuple[Path | None, Path | None]:
    """(data, text embeddings) from ``<ckpt>.json``, as ``capture.pipeline.bundled_inputs``."""
    sidecar = checkpoint.with_suffix(SIDECAR_SUFFIX)
    try:
        info = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return None, None
    data, emb = info.get("data"), info.get("text_embeddings")
    return (
        (sidecar.parent / data).resolve() if data else None,
        (sidecar.parent / emb).resolve() if emb else None,
    )


def folder_hash(folder: Path, digest: Any) -> None:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(folder)}\0{sha256_file(path)}\n".encode())


def data_hash(data: Path) -> str:
    """The CSV and the structure files it can name; a missing path hashes as its name."""
    digest = hashlib.sha256()
    data = resolved(data)
    if data.is_file():
        digest.update(f"csv {sha256_file(data)}\n".encode())
        root = data.parent
    else:
        csv = data / "description.csv"
        digest.update(f"csv {sha256_file(csv) if csv.is_file() else 'missing'}\n".encode())
        root = data
    structures = root / "cif"
    if structures.is_dir():
        folder_hash(structures, digest)
    return digest.hexdigest()


@dataclass(frozen=True)
class StoreInputs:
    """What a capture depends on, as the CLI was given it."""

    checkpoint: Path
    data: Path | None
    text_embeddings: Path | None
    text_encoder: Path | None
    limit: int | None
    max_atoms: int
    batch_size: int
    device: str
    backend: str
    layer_containers: str
    text_projection_name: str
    graph_canonize: bool = True
    text_tokens: Path | None = None
    vocab_mappings: Path | None = None
    text_normalize: str | None = None

    def resolved(self) -> StoreInputs:
        """Fill data/embeddings from the checkpoint's sidecar, as the pipeline does."""
        data, emb = self.data, self.text_embeddings
        if data is None:
            data, bundled = sidecar_inputs(self.checkpoint)
            if emb is None and self.text_encoder is None:
                emb = bundled
        return StoreInputs(**{**self.__dict__, "data": data, "text_embeddings": emb})


def input_digest(path: Path, what: str) -> str:
    """SHA-256 of an input file; a device or pipe (/dev/zero) would be read forever."""
    if not Path(path).is_file():
        raise UserError(f"{what} {path} is not a regular file; pass the file itself")
    return sha256_file(path)


def text_preprocessing_key(inputs: StoreInputs) -> str:
    """The same choice the pipeline makes, so raw and normalized captures never share a store."""
    from alpha_tui.data.dataset import resolve_data_path
    from alpha_tui.data.text_normalize import choose_preprocessing

    search = [Path(inputs.checkpoint).parent]
    if inputs.data is not None:
        search.append(resolve_data_path(Path(inputs.data))[0])
    return choose_preprocessing(inputs.text_normalize, inputs.vocab_mappings, search).key


def key_document(inputs: StoreInputs) -> dict[str, Any]:
    inputs = inputs.resolved()
    if inputs.text_embeddings is not None:
        text = {"file": input_digest(inputs.text_embeddings, "--text-embeddings")}
    elif inputs.text_encoder is not None:
        digest = hashlib.sha256()
        folder_hash(Path(inputs.text_encoder), digest)
        text = {
            "encoder": digest.hexdigest(),
            "pooling": "cls",
            "truncation": 512,
            "preprocessing": text_preprocessing_key(inputs),
        }
    else:
        text = {"none": True}
    if inputs.text_tokens is not None:
        text["tokens_file"] = input_digest(inputs.text_tokens, "--text-tokens")
    return {
        "schema_version": KEY_SCHEMA_VERSION,
        "checkpoint_sha256": input_digest(inputs.checkpoint, "checkpoint"),
        "data_sha256": data_hash(inputs.data) if inputs.data is not None else None,
        "text": text,
        "graph": {**GRAPH_PARAMS, "canonize": inputs.graph_canonize},
        "capture": {
            "limit": inputs.limit,
            "max_atoms": inputs.max_atoms,
            "batch_size": inputs.batch_size,
            "device": inputs.device,
            "backend": inputs.backend,
            "layer_containers": inputs.layer_containers,
            "text_projection": inputs.text_projection_name,
        },
    }


def store_key(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:32]


# --- cache list / clear ---------------------------------------------------------------


@dataclass(frozen=True)
class StoreEntry:
    path: Path
    bytes: int
    age_seconds: float
    complete: bool
    checkpoint: str
    crystals: int | None


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def list_stores(directory: Path, now: float | None = None) -> list[StoreEntry]:
    now = time.time() if now is None else now
    if not directory.is_dir():
        return []
    entries = []
    for path in sorted(p for p in directory.iterdir() if p.is_dir()):
        complete = is_store(path)
        checkpoint, crystals = "?", None
        if complete:
            try:
                manifest = json.loads((path / MANIFEST).read_text())
                checkpoint = Path(manifest.get("checkpoint", {}).get("path", "?")).name
                crystals = manifest.get("counts", {}).get("crystals")
            except (OSError, ValueError):
                complete = False
        elif not (path.name.startswith(PARTIAL_PREFIX) or (path / INCOMPLETE).exists()):
            continue  # not ours
        mtime = path.stat().st_mtime
        entries.append(StoreEntry(path, _size(path), now - mtime, complete, checkpoint, crystals))
    return entries


def clear_stores(
    directory: Path, *, older_than_days: float | None = None, now: float | None = None
) -> list[StoreEntry]:
    """Remove stores (all, or those older than the given age); returns what went."""
    removed = []
    for entry in list_stores(directory, now):
        if older_than_days is not None and entry.age_seconds < older_than_days * 86400:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(entry)
    return removed


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def human_age(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} d"
