"""What a store folder holds, and the checks every reader and writer share.

A store is ``manifest.json`` plus one ``.npy`` per array and two Parquet tables. The
manifest is written last and renamed into place, so a folder without one is never
taken for a store; ``INCOMPLETE`` marks a write that did not finish.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

SCHEMA_NAME = "alpha-tui.store"
#: 2 adds arrays/precomputed.*.npy (reductions precomputed at write time); version 1
#: stores are still read (they lack them: reductions are computed from the gates).
SCHEMA_VERSION = 2
#: The schema part of the automatic cache key: bumped only when a reader can no longer
#: read older stores, so an upgrade does not recapture a cache that still opens.
KEY_SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
INCOMPLETE = "INCOMPLETE"
ARRAY_DIR = "arrays"
ATOM_TABLE = "atoms.parquet"
CRYSTAL_TABLE = "crystals.parquet"
PARTIAL_PREFIX = ".partial-"
_CHUNK = 1 << 22


def sha256_file(path: Path) -> str:
    """Streamed so a gigabyte of gates never sits in memory twice."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def safe_name(text: str) -> str:
    """A file-name fragment from a module or layer name (dots kept, they read well)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def is_store(path: Path) -> bool:
    return path.is_dir() and (path / MANIFEST).is_file()


def looks_incomplete(path: Path) -> bool:
    return path.is_dir() and (path / INCOMPLETE).exists() and not (path / MANIFEST).is_file()
