"""The graphs of a capture, loaded from the graph cache batch by batch and never retained.

A crystal's graph (edges, line-graph triplets, angle cosines) is 10^4-10^6 bytes; the
users' datasets hold 10^4-10^5 crystals, so holding every graph for the whole pass is
gigabytes before the first batch runs. A ``GraphSource`` keeps only each crystal's
cache key, structure path and atom count (known up front, so the capture can size its
per-atom arrays) and reads a slice's graphs from the cache when the slice is asked
for; the caller drops them with the batch.

A graph that could not be stored (the cache is disabled or its folder unwritable) is
held in memory instead: without a cache there is nothing to reload it from short of
parsing the structure again. ``held_note`` says so, with the bytes held, for the notes
the Overview and the report show. An entry that vanished or went bad between reading
the dataset and the pass is rebuilt from its structure file (and must still have the
atom count the dataset reader saw).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import overload

import numpy as np

from alpha_tui.data.graph_cache import GraphCache
from alpha_tui.data.graphs import CrystalGraph, build_graph
from alpha_tui.errors import UserError

MIB = 2**20


class GraphSource(Sequence[CrystalGraph]):
    """Graphs by index; ``atom_counts`` without loading any of them."""

    def __init__(self, cache: GraphCache) -> None:
        self.cache = cache
        self._keys: list[str | None] = []
        self._paths: list[Path] = []
        self._counts: list[int] = []
        self._held: dict[int, CrystalGraph] = {}

    def add_cached(self, key: str, path: Path, n_atoms: int) -> None:
        """A crystal whose graph is in the cache under ``key``."""
        self._keys.append(key)
        self._paths.append(Path(path))
        self._counts.append(int(n_atoms))

    def add_built(self, key: str | None, path: Path, graph: CrystalGraph) -> None:
        """A crystal whose graph was just built: stored in the cache, else held here."""
        stored = key is not None and self.cache.store(key, graph)
        if not stored:
            self._held[len(self._keys)] = graph
        self._keys.append(key if stored else None)
        self._paths.append(Path(path))
        self._counts.append(graph.num_nodes)

    @property
    def atom_counts(self) -> np.ndarray:
        return np.asarray(self._counts, dtype=np.int64)

    @property
    def held_count(self) -> int:
        return len(self._held)

    def held_bytes(self) -> int:
        return sum(a.nbytes for g in self._held.values() for a in g.arrays().values())

    def held_note(self) -> str | None:
        """One line for the notes when graphs stay in memory, else None."""
        if not self._held:
            return None
        mib = self.held_bytes() / MIB
        why = f"graph cache disabled ({self.cache.disabled_reason or 'an entry was not stored'})"
        if self.held_count == len(self):
            return f"{why}: the {len(self)} graphs are held in memory ({mib:.1f} MiB)"
        return (
            f"{why}: {self.held_count} of {len(self)} graphs are held in memory "
            f"({mib:.1f} MiB); the others stream from the cache"
        )

    def __len__(self) -> int:
        return len(self._counts)

    @overload
    def __getitem__(self, index: int) -> CrystalGraph: ...

    @overload
    def __getitem__(self, index: slice) -> list[CrystalGraph]: ...

    def __getitem__(self, index: int | slice) -> CrystalGraph | list[CrystalGraph]:
        if isinstance(index, slice):
            return [self._load(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"graph {index} of {len(self)}")
        return self._load(index)

    def _load(self, i: int) -> CrystalGraph:
        held = self._held.get(i)
        if held is not None:
            return held
        key = self._keys[i]
        graph = self.cache.read_entry(key) if key is not None else None
        if graph is None:
            graph = self._rebuild(i)
        return graph

    def _rebuild(self, i: int) -> CrystalGraph:
        """The entry went missing during the run: parse and build again, as a miss would."""
        from alpha_tui.data.structures import StructureError, read_structure

        path = self._paths[i]
        try:
            graph = build_graph(read_structure(path), canonize=self.cache.canonize)
        except (StructureError, OSError, ValueError) as exc:
            raise UserError(
                f"graph of {path} left the cache during the run and cannot be rebuilt "
                f"({exc}); run again"
            ) from exc
        if graph.num_nodes != self._counts[i]:
            raise UserError(
                f"{path} changed during the run ({self._counts[i]} atoms when read, "
                f"{graph.num_nodes} now); run again"
            )
        key = self._keys[i]
        if key is not None:
            self.cache.store(key, graph)
        return graph


def atom_counts(graphs: Sequence[CrystalGraph]) -> np.ndarray:
    """Atoms per crystal; a ``GraphSource`` answers without loading its graphs."""
    if isinstance(graphs, GraphSource):
        return graphs.atom_counts
    return np.array([g.num_nodes for g in graphs], dtype=np.int64)
