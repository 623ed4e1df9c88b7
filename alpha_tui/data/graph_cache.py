"""On-disk cache of built crystal graphs.

Reading a CIF (primitive-cell reduction through spglib) and building its graph costs
milliseconds to a second per crystal; a dataset of thousands of crystals is re-opened
many times while a model is inspected. Entries are keyed by the SHA-256 of the file's
bytes plus every parameter that changes the graph, so an edited CIF or a new graph
convention (``GRAPH_FORMAT_VERSION``) can never be served a stale graph, and a
renamed or copied file still hits. Entries are plain ``.npz`` arrays loaded with
``allow_pickle=False``: a cache directory must never be a code-execution vector.

The cache is an optimisation only: a corrupt entry is rebuilt and an unwritable
directory turns caching off (``disabled_reason`` says why) instead of failing the run.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from alpha_tui.array_files import check_npz
from alpha_tui.data.graphs import GRAPH_FORMAT_VERSION, CrystalGraph, build_graph
from alpha_tui.temp_files import temporary_file

if TYPE_CHECKING:
    from jarvis.core.atoms import Atoms


GRAPH_CUTOFF = 8.0  # the users' graphs: jarvis atom_dgl_multigraph(cutoff=8, max_neighbors=12)
GRAPH_MAX_NEIGHBORS = 12


T = TypeVar("T")


def default_cache_root(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_CACHE_HOME/alpha-tui`` (``~/.cache/alpha-tui`` when unset), per XDG."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "alpha-tui"


def default_graph_cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    return default_cache_root(environ) / "graphs"


def graph_key(data: bytes, cutoff: float, max_neighbors: int, canonize: bool = True) -> str:
    """Content hash of a structure file and the graph parameters."""
    params = f"v{GRAPH_FORMAT_VERSION} cutoff={float(cutoff)!r} k={int(max_neighbors)}"
    params += f" canonize={bool(canonize)}"
    header = f"alpha-tui graph {params}\n"
    return hashlib.sha256(header.encode() + data).hexdigest()


def savez_atomic(path: str | Path, /, **arrays: np.ndarray) -> None:
    """``np.savez`` through a temp file and a rename in the same folder.

    Readers (another alpha-tui, a second pane) see the old file or the whole new one,
    never half of one. The temporary is named and registered like an export's
    (``alpha_tui.temp_files``): a failed write or SIGINT/SIGTERM removes it, and one left
    by a killed process is swept by the next write into the folder, so a cache
    directory never piles them up. The folder must exist; errors propagate.
    """
    path = Path(path)
    with temporary_file(path.parent, path.name) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    write_errors: int = 0


class GraphCache:
    """``get_or_build`` a structure file's graph; ``directory=None`` means the XDG default.

    ``canonize`` (jarvis ``use_canonize``) is fixed per cache object: every key it
    computes and every graph it builds use it, so the two cannot disagree.
    """

    def __init__(
        self, directory: str | Path | None = None, *, enabled: bool = True, canonize: bool = True
    ) -> None:
        self.directory = Path(directory) if directory is not None else default_graph_cache_dir()
        self.canonize = canonize
        self.stats = CacheStats()
        self.disabled_reason: str | None = None if enabled else "caching turned off"

    @property
    def enabled(self) -> bool:
        return self.disabled_reason is None

    def entry_path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npz"

    def lookup(
        self,
        path: str | Path,
        cutoff: float = GRAPH_CUTOFF,
        max_neighbors: int = GRAPH_MAX_NEIGHBORS,
    ) -> tuple[str | None, CrystalGraph | None]:
        """(key, cached graph or None); the key lets a caller ``store`` what it builds.

        The file is read and hashed once here, so a reader that parses the structure
        on a miss never reads it a third time.
        """
        key = self._key_of(path, cutoff, max_neighbors)
        if key is None:
            return None, None
        return key, self._counted(self.load(key))

    def _key_of(self, path: str | Path, cutoff: float, max_neighbors: int) -> str | None:
        """The entry key of ``path``'s bytes; None when caching is off or it is unreadable."""
        if not self.enabled:
            return None
        try:
            return graph_key(Path(path).read_bytes(), cutoff, max_neighbors, self.canonize)
        except OSError:
            return None

    def _counted(self, found: T) -> T:
        """``found`` as is, counted as a hit or (None) a miss."""
        if found is not None:
            self.stats.hits += 1
        else:
            self.stats.misses += 1
        return found

    def get_or_build(
        self,
        path: str | Path,
        atoms_loader: Callable[[Path], Atoms] | Atoms,
        cutoff: float = GRAPH_CUTOFF,
        max_neighbors: int = GRAPH_MAX_NEIGHBORS,
    ) -> CrystalGraph:
        """The cached graph of ``path``, else ``build_graph(atoms_loader(path))``, stored.

        ``atoms_loader`` may also be the already-read ``Atoms`` of ``path`` (the dataset
        reader has them); a loader avoids parsing the file at all on a cache hit.
        """
        path = Path(path)
        key, graph = self.lookup(path, cutoff, max_neighbors)
        if graph is not None:
            return graph
        # key None: file gone since its Atoms were read: build, just don't cache
        atoms = atoms_loader(path) if callable(atoms_loader) else atoms_loader
        graph = build_graph(
            atoms, cutoff=cutoff, max_neighbors=max_neighbors, canonize=self.canonize
        )
        if key is not None:
            self.store(key, graph)
        return graph

    def lookup_count(
        self,
        path: str | Path,
        cutoff: float = GRAPH_CUTOFF,
        max_neighbors: int = GRAPH_MAX_NEIGHBORS,
    ) -> tuple[str | None, int | None]:
        """(key, atom count of the cached graph or None), reading no edge array.

        What a dataset reader needs up front (the count decides ``--max-atoms`` and sizes
        the capture's arrays); the graph itself is read when its batch runs.
        """
        key = self._key_of(path, cutoff, max_neighbors)
        if key is None:
            return None, None
        return key, self._counted(self._atom_count(key))

    def _atom_count(self, key: str) -> int | None:
        entry = self.entry_path(key)
        if not entry.is_file():
            return None
        try:
            check_npz(entry)
            with np.load(entry, allow_pickle=False) as arrays:
                numbers = arrays["atomic_numbers"]  # one member of the zip is read
            if numbers.ndim != 1 or numbers.dtype != np.int64 or numbers.size < 1:
                raise ValueError("atomic_numbers is not one int64 row")
            return int(numbers.shape[0])
        except Exception:  # same rule as load: a bad entry is removed and rebuilt
            self._discard(entry)
            return None

    def load(self, key: str) -> CrystalGraph | None:
        if not self.enabled:
            return None
        return self.read_entry(key)

    def read_entry(self, key: str) -> CrystalGraph | None:
        """The stored graph even after a write error turned caching off (it is still
        readable, and a streamed capture reads back what it stored earlier in the run)."""
        entry = self.entry_path(key)
        if not entry.is_file():
            return None
        try:
            check_npz(entry)  # a forged entry must not allocate what its header claims
            with np.load(entry, allow_pickle=False) as arrays:
                return CrystalGraph.from_arrays(arrays)
        except Exception:  # truncated write, foreign file, old layout: rebuild it
            self._discard(entry)
            return None

    def _discard(self, entry: Path) -> None:
        self.stats.corrupt += 1
        try:
            entry.unlink()
        except OSError:
            pass

    def store(self, key: str, graph: CrystalGraph) -> bool:
        """Write atomically (temp file + rename) so readers never see half an entry."""
        if not self.enabled:
            return False
        entry = self.entry_path(key)
        try:
            entry.parent.mkdir(parents=True, exist_ok=True)
            savez_atomic(entry, **graph.arrays())
            return True
        except OSError as exc:
            self.stats.write_errors += 1
            reason = exc.strerror or str(exc)
            self.disabled_reason = f"graph cache {self.directory} not writable: {reason}"
            return False
