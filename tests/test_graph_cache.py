"""GraphCache: content-keyed hits, rebuilds of corrupt entries, degradation when unwritable."""

from __future__ import annotations

from pathlib import Path

import crystal_factory as cf
import numpy as np
import pytest

from alpha_tui.data.graph_cache import (
    GraphCache,
    default_graph_cache_dir,
    graph_key,
    savez_atomic,
)
from alpha_tui.data.graphs import build_graph
from alpha_tui.data.structures import read_structure


@pytest.fixture
def cif(tmp_path: Path) -> Path:
    return cf.write_cif(cf.wurtzite(), tmp_path / "data" / "WZ-1.cif")


class CountingLoader:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, path: Path):
        self.calls += 1
        return read_structure(path)


def _assert_same_graph(a, b) -> None:
    for key, value in a.arrays().items():
        np.testing.assert_array_equal(getattr(b, key), value, err_msg=key)


def test_second_request_is_a_hit_without_reading_the_structure(tmp_path: Path, cif: Path) -> None:
    cache = GraphCache(tmp_path / "cache")
    loader = CountingLoader()
    first = cache.get_or_build(cif, loader)
    second = cache.get_or_build(cif, loader)
    assert loader.calls == 1
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)
    _assert_same_graph(first, second)
    _assert_same_graph(build_graph(read_structure(cif)), second)


def test_key_follows_content_and_parameters(tmp_path: Path, cif: Path) -> None:
    data = cif.read_bytes()
    assert graph_key(data, 8.0, 12) == graph_key(data, 8, 12)
    assert graph_key(data, 8.0, 12) != graph_key(data, 8.0, 8)
    assert graph_key(data, 8.0, 12) != graph_key(data, 6.0, 12)
    assert graph_key(data, 8.0, 12) != graph_key(data + b"\n", 8.0, 12)

    cache = GraphCache(tmp_path / "cache")
    loader = CountingLoader()
    cache.get_or_build(cif, loader)
    copy = tmp_path / "elsewhere.cif"
    copy.write_bytes(data)
    cache.get_or_build(copy, loader)  # same bytes under another name: a hit
    assert loader.calls == 1
    small = cache.get_or_build(cif, loader, max_neighbors=4)  # other parameters: a miss
    assert loader.calls == 2
    assert small.num_edges < build_graph(read_structure(cif)).num_edges


def test_key_and_graph_follow_canonize(tmp_path: Path, cif: Path) -> None:
    data = cif.read_bytes()
    assert graph_key(data, 8.0, 12) == graph_key(data, 8.0, 12, True)
    assert graph_key(data, 8.0, 12, True) != graph_key(data, 8.0, 12, False)
    on, off = GraphCache(tmp_path / "cache"), GraphCache(tmp_path / "cache", canonize=False)
    loader = CountingLoader()
    with_canon = on.get_or_build(cif, loader)
    as_found = off.get_or_build(cif, loader)  # same directory, other key: a miss
    assert loader.calls == 2
    _assert_same_graph(build_graph(read_structure(cif), canonize=False), as_found)
    assert as_found.num_edges > with_canon.num_edges


def test_uncanonized_bonds_between_sites_appear_from_both_ends() -> None:
    """Rocksalt NaCl (2 sites): 6 Na-Cl bonds + 12 Na-Na + 12 Cl-Cl images.

    Canonized, a Na-Cl bond found from Na and from Cl is one bond: 30 bonds, 60 edges.
    As found (jarvis use_canonize=False) it is kept from each end: 36 bonds, 72 edges,
    each Na-Cl edge twice. Self-image bonds are the same either way.
    """
    atoms = cf.rocksalt()
    on, off = build_graph(atoms, canonize=True), build_graph(atoms, canonize=False)
    assert (on.num_edges, off.num_edges) == (60, 72)

    def multiset(graph, same_site: bool) -> list[tuple]:
        mask = (graph.src == graph.dst) == same_site
        rows = np.column_stack([graph.src, graph.dst, np.round(graph.r, 4)])[mask]
        return sorted(map(tuple, rows.tolist()))

    assert multiset(off, True) == multiset(on, True)
    hetero = multiset(on, False)
    assert len(hetero) == 12 and multiset(off, False) == sorted(hetero + hetero)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong_arrays", "pickled_object"])
def test_corrupt_entry_is_rebuilt(tmp_path: Path, cif: Path, damage: str) -> None:
    cache = GraphCache(tmp_path / "cache")
    good = cache.get_or_build(cif, read_structure)
    entry = cache.entry_path(graph_key(cif.read_bytes(), 8.0, 12))
    assert entry.is_file()
    if damage == "garbage":
        entry.write_bytes(b"not an npz file")
    elif damage == "truncated":
        entry.write_bytes(entry.read_bytes()[:200])
    elif damage == "wrong_arrays":
        np.savez(entry, src=np.zeros(3))
    else:
        # a pickled object array: np.load(allow_pickle=False) must refuse, not unpickle
        arrays = dict(good.arrays(), atomic_numbers=np.array([{"x": 1}], dtype=object))
        with entry.open("wb") as handle:
            np.savez(handle, **arrays)
        assert b"pickle" in entry.read_bytes() or b"x" in entry.read_bytes()

    loader = CountingLoader()
    rebuilt = cache.get_or_build(cif, loader)
    assert loader.calls == 1 and cache.stats.corrupt == 1
    _assert_same_graph(good, rebuilt)
    # the rebuilt entry is valid again
    again = GraphCache(tmp_path / "cache").get_or_build(cif, CountingLoader())
    _assert_same_graph(good, again)


def test_unwritable_directory_degrades_to_no_caching(tmp_path: Path, cif: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("a file where the cache directory should be")
    cache = GraphCache(blocker / "graphs")
    loader = CountingLoader()
    graph = cache.get_or_build(cif, loader)
    assert graph.num_nodes == 4
    assert not cache.enabled and "not writable" in (cache.disabled_reason or "")
    cache.get_or_build(cif, loader)
    assert loader.calls == 2  # no cache, but no crash either


def test_disabled_cache_never_touches_disk(tmp_path: Path, cif: Path) -> None:
    cache = GraphCache(tmp_path / "cache", enabled=False)
    cache.get_or_build(cif, read_structure)
    assert not (tmp_path / "cache").exists()


def test_atoms_may_be_passed_instead_of_a_loader(tmp_path: Path, cif: Path) -> None:
    atoms = read_structure(cif)
    graph = GraphCache(tmp_path / "cache").get_or_build(cif, atoms)
    _assert_same_graph(build_graph(atoms), graph)


def test_default_directory_follows_xdg(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    assert default_graph_cache_dir({"XDG_CACHE_HOME": str(xdg)}) == xdg / "alpha-tui" / "graphs"
    fallback = Path.home() / ".cache" / "alpha-tui" / "graphs"
    assert default_graph_cache_dir({}) == fallback
    assert default_graph_cache_dir({"XDG_CACHE_HOME": "relative/dir"}) == fallback


def test_structure_file_gone_after_reading_still_builds(tmp_path: Path, cif: Path) -> None:
    atoms = read_structure(cif)
    cif.unlink()
    cache = GraphCache(tmp_path / "cache")
    graph = cache.get_or_build(cif, atoms)
    _assert_same_graph(build_graph(atoms), graph)
    assert not (tmp_path / "cache").exists()


def _disk_full(handle, **arrays) -> None:
    handle.write(b"PK\x03\x04 half an npz")  # some bytes reach the temp file first
    raise OSError(28, "No space left on device")


def test_savez_atomic_round_trip_and_no_temp_file_left_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "x.npz"
    savez_atomic(target, a=np.arange(4), path=np.array([1.5]))  # "path" is just a name
    with np.load(target, allow_pickle=False) as data:
        np.testing.assert_array_equal(data["a"], [0, 1, 2, 3])
        np.testing.assert_array_equal(data["path"], [1.5])
    before = target.read_bytes()

    monkeypatch.setattr(np, "savez", _disk_full)
    with pytest.raises(OSError, match="No space left"):
        savez_atomic(target, a=np.zeros(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.npz"]
    assert target.read_bytes() == before  # the old file is untouched


def test_failed_store_disables_cache_and_leaves_no_temp_file(
    tmp_path: Path, cif: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = GraphCache(tmp_path / "cache")
    monkeypatch.setattr(np, "savez", _disk_full)
    loader = CountingLoader()
    graph = cache.get_or_build(cif, loader)
    _assert_same_graph(build_graph(read_structure(cif)), graph)
    assert cache.stats.write_errors == 1
    assert "No space left" in (cache.disabled_reason or "")
    assert [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []
