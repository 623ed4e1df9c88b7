"""Opening a store: schema, presence, size and shape checked at once; checksums before use.

Every failure is one line naming the file and what to do. Arrays are memory-mapped
read-only, so opening a gigabyte of gates costs page-table entries, not memory.

Checksums are lazy but sure (``verify.StoreChecks``): the small per-crystal and
per-atom index arrays that report, export and the panes read directly are hashed
before ``open_store`` returns; every other file (gates, text vectors, norms, flows,
precomputed reductions) is hashed by a background thread started here, and the
analysis session waits for a file's verdict before its first result from it.
``lazy=False`` hashes everything up front (shards before a merge or a resume).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from alpha_tui.capture.cache import ActivationCache
from alpha_tui.errors import UserError
from alpha_tui.paths import resolved
from alpha_tui.store.codec import decode_cache, field_files
from alpha_tui.store.layout import (
    INCOMPLETE,
    MANIFEST,
    SCHEMA_NAME,
    SCHEMA_VERSION,
    sha256_file,
)
from alpha_tui.store.verify import RECAPTURE, StoreChecks

#: Read outside the analysis session (report, export, panes index atoms and crystals
#: with them), small (bytes per atom or crystal): verified before open returns.
EAGER_FIELDS = (
    "targets",
    "atom_counts",
    "atom_crystal",
    "atomic_numbers",
    "predictions",
    "null_permutation",
    "counterfactuals",
)


def read_manifest(path: Path) -> dict[str, Any]:
    path = Path(path)
    if (path / INCOMPLETE).exists() and not (path / MANIFEST).is_file():
        raise UserError(f"{path} is an incomplete store (the write was interrupted); {RECAPTURE}")
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise UserError(f"{path} is not a store: no {MANIFEST}; {RECAPTURE}")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError) as exc:
        reason = exc.__class__.__name__
        raise UserError(f"{manifest_path}: unreadable ({reason}); {RECAPTURE}") from None
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA_NAME:
        raise UserError(f"{manifest_path} is not an alpha-tui store manifest; {RECAPTURE}")
    version = manifest.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise UserError(
            f"{manifest_path}: store schema {version} is newer than this alpha-tui reads "
            f"({SCHEMA_VERSION}); upgrade alpha-tui or {RECAPTURE}"
        )
    return manifest


def check_files(path: Path, manifest: dict[str, Any], *, checksums: bool) -> None:
    for name, info in manifest.get("files", {}).items():
        file = path / name
        if not file.is_file():
            raise UserError(f"store file {file} is missing; {RECAPTURE}")
        size = file.stat().st_size
        if size != info.get("bytes"):
            raise UserError(
                f"store file {file} has {size} bytes, the manifest says {info.get('bytes')} "
                f"(truncated or replaced); {RECAPTURE}"
            )
        if checksums and sha256_file(file) != info.get("sha256"):
            raise UserError(f"store file {file} fails its SHA-256 checksum; {RECAPTURE}")


def _loader(path: Path, manifest: dict[str, Any]):
    files = manifest.get("files", {})

    def load(name: str) -> np.ndarray:
        file = path / name
        info = files.get(name)
        if info is None:
            raise UserError(f"store manifest names {file} but has no checksum for it; {RECAPTURE}")
        shape = tuple(info["shape"])
        try:
            if 0 in shape:  # a zero-length mapping is not allowed; nothing to map anyway
                array = np.load(file, allow_pickle=False)
            else:
                array = np.load(file, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise UserError(f"store file {file} is unreadable ({exc}); {RECAPTURE}") from None
        if array.shape != shape or array.dtype.str != info["dtype"]:
            raise UserError(
                f"store file {file} holds {array.dtype.str}{list(array.shape)}, the manifest "
                f"says {info['dtype']}{list(shape)}; {RECAPTURE}"
            )
        return array

    return load


def _checks(path: Path, manifest: dict[str, Any], *, lazy: bool) -> StoreChecks:
    files = manifest.get("files", {})
    checks = StoreChecks(path, files, field_files(manifest.get("fields", {})))
    if not lazy:
        checks.require_all()
        return checks
    checks.require_fields(*EAGER_FIELDS)
    # an empty array is read whole, not mapped, so no later require() can name it
    checks.require_names(n for n, info in files.items() if 0 in info.get("shape", [1]))
    return checks.start()


def open_store(path: Path, *, checksums: bool = True, lazy: bool = True) -> ActivationCache:
    """The cache a store holds, memory-mapped; ``meta['store']`` says where and when.

    ``checksums=False`` checks sizes and shapes only; with checksums, ``lazy`` defers
    the large files' SHA-256 to their first use (module docstring).
    """
    path = resolved(path)
    manifest = read_manifest(path)
    check_files(path, manifest, checksums=False)
    checks = _checks(path, manifest, lazy=lazy) if checksums else None
    cache = decode_cache(manifest.get("fields", {}), _loader(path, manifest))
    cache.checks = checks
    cache.meta["store"] = {
        "path": str(path),
        "created": manifest.get("created"),
        "device": manifest.get("device"),
        "alpha_tui_version": manifest.get("alpha_tui_version"),
        "checksums_verified": checksums,
        "checksums": ("lazy: each file before its first use" if lazy else "all at open")
        if checksums
        else "off (sizes and shapes only)",
    }
    return cache
