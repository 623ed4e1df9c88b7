"""Graphs stream from the graph cache per batch: same numbers, nothing retained."""

from __future__ import annotations

import dataclasses
import gc
import weakref
from pathlib import Path

import crystal_factory as cf
import numpy as np
import pytest
from model_factory import built_random_model, small_config
from test_capture_patching import make_input
from test_store import assert_same

from alpha_tui.capture import run as capture_run
from alpha_tui.capture.pipeline import stream_graphs
from alpha_tui.capture.run import capture
from alpha_tui.data.dataset import CrystalRecord
from alpha_tui.data.graph_cache import GraphCache
from alpha_tui.data.graph_source import GraphSource, atom_counts
from alpha_tui.data.graphs import build_graph

pytestmark = pytest.mark.both_lanes

ATOMS = [cf.rocksalt, cf.zincblende, cf.perovskite, cf.fcc_primitive, cf.wurtzite, cf.hcp]


@pytest.fixture(scope="module")
def graphs():
    return [build_graph(make()) for make in ATOMS]


def cached_source(graphs, directory: Path) -> GraphSource:
    cache = GraphCache(directory)
    source = GraphSource(cache)
    for i, graph in enumerate(graphs):
        source.add_built(f"{i:02d}" + "0" * 62, directory / f"{i}.cif", graph)
    return source


def test_streamed_capture_equals_the_in_memory_one(graphs, tmp_path: Path) -> None:
    built = built_random_model()
    width = small_config().text_input_features
    source = cached_source(graphs, tmp_path / "graphs")
    assert source.held_count == 0  # everything went to the cache
    in_memory = capture(built.model, make_input(graphs, width, seed=3), batch_size=4)
    streamed = capture(built.model, make_input(source, width, seed=3), batch_size=4)
    assert in_memory.gates and in_memory.predictions is not None
    for f in dataclasses.fields(in_memory):
        assert_same(getattr(in_memory, f.name), getattr(streamed, f.name), f.name)
    expected = np.concatenate([g.atomic_numbers for g in graphs]).astype(np.int16)
    np.testing.assert_array_equal(streamed.atomic_numbers, expected)


def test_a_window_streams_only_its_own_batches(graphs, tmp_path: Path, monkeypatch) -> None:
    built = built_random_model()
    source = cached_source(graphs, tmp_path / "graphs")
    loaded: list[int] = []
    real_load = source._load
    monkeypatch.setattr(source, "_load", lambda i: loaded.append(i) or real_load(i))
    data = make_input(source, small_config().text_input_features, seed=3)
    cache = capture(built.model, data, batch_size=2, window=(2, 6))
    assert sorted(loaded) == [2, 3, 4, 5]  # counts came from the source, not from loads
    np.testing.assert_array_equal(cache.atom_counts, [g.num_nodes for g in graphs[2:6]])


def test_batch_graphs_are_released_after_their_batch(graphs, tmp_path: Path, monkeypatch):
    built = built_random_model()
    source = cached_source(graphs, tmp_path / "graphs")
    refs: list[weakref.ref] = []
    alive_per_batch: list[int] = []
    real_collate = capture_run.collate

    def watching_collate(batch_graphs, *args):
        gc.collect()
        alive_per_batch.append(sum(r() is not None for r in refs))  # earlier batches' graphs
        refs.extend(weakref.ref(g) for g in batch_graphs)
        return real_collate(batch_graphs, *args)

    monkeypatch.setattr(capture_run, "collate", watching_collate)
    capture(built.model, make_input(source, small_config().text_input_features, seed=3),
            batch_size=2)  # fmt: skip
    gc.collect()
    assert len(refs) == len(graphs)
    assert alive_per_batch == [0, 0, 0]
    assert all(r() is None for r in refs)


def test_counts_are_known_without_loading(graphs, tmp_path: Path) -> None:
    source = cached_source(graphs, tmp_path / "graphs")
    for entry in (tmp_path / "graphs").rglob("*.npz"):
        entry.unlink()  # would force a rebuild if anything loaded
    np.testing.assert_array_equal(atom_counts(source), [g.num_nodes for g in graphs])
    np.testing.assert_array_equal(atom_counts(graphs), [g.num_nodes for g in graphs])


def test_disabled_cache_holds_the_graphs_and_says_so(graphs, tmp_path: Path) -> None:
    source = GraphSource(GraphCache(tmp_path / "off", enabled=False))
    for i, graph in enumerate(graphs):
        source.add_built("ab" * 32, tmp_path / f"{i}.cif", graph)
    assert source.held_count == len(graphs)
    assert source[1] is graphs[1]
    mib = sum(a.nbytes for g in graphs for a in g.arrays().values()) / 2**20
    assert source.held_note() == (
        f"graph cache disabled (caching turned off): the {len(graphs)} graphs are held in "
        f"memory ({mib:.1f} MiB)"
    )
    assert cached_source(graphs, tmp_path / "on").held_note() is None


def test_a_vanished_entry_is_rebuilt_from_its_structure(tmp_path: Path) -> None:
    from jarvis.core.atoms import Atoms  # noqa: F401  (jarvis writes the POSCAR)
    from jarvis.io.vasp.inputs import Poscar

    atoms = cf.zincblende()
    path = tmp_path / "ZnS.vasp"
    Poscar(atoms).write_file(str(path))
    cache = GraphCache(tmp_path / "graphs")
    key, count = cache.lookup_count(path)
    assert count is None and key is not None
    from alpha_tui.data.structures import read_structure

    built = build_graph(read_structure(path))
    source = GraphSource(cache)
    source.add_built(key, path, built)
    cache.entry_path(key).unlink()
    again = source[0]
    np.testing.assert_array_equal(again.src, built.src)
    np.testing.assert_array_equal(again.r, built.r)
    assert cache.lookup_count(path) == (key, built.num_nodes)  # stored again


def test_stream_graphs_drops_atoms_and_stores_graphs(tmp_path: Path) -> None:
    cache = GraphCache(tmp_path / "graphs")
    records = [
        CrystalRecord(f"c{i}", "F", 0.0, "t", tmp_path / f"{i}.cif", make(), 0,
                      cache_key=f"{i:02d}" + "1" * 62)
        for i, make in enumerate(ATOMS[:3])
    ]  # fmt: skip
    expected = [build_graph(r.atoms) for r in records]
    problems: list[dict] = []
    source, kept = stream_graphs(records, cache, problems, lambda *_: None)
    assert kept == records and problems == []
    assert all(r.atoms is None for r in records) and source.held_count == 0
    for graph, want in zip(source, expected, strict=True):
        np.testing.assert_array_equal(graph.lg_src, want.lg_src)
        np.testing.assert_array_equal(graph.angle_cos, want.angle_cos)


def test_pipeline_without_a_writable_cache_holds_graphs_and_says_so(tmp_path: Path) -> None:
    from alpha_tui.capture.pipeline import RunOptions, run_pipeline

    checkpoint = Path(__file__).resolve().parents[1] / "sample_checkpoints" / "gap_fusion2.pt"
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    common = {"checkpoint": checkpoint, "limit": 5, "batch_size": 2, "backend": "native",
              "device": "cpu", "workers": 1}  # fmt: skip
    held = run_pipeline(RunOptions(cache_dir=blocked, **common))
    streamed = run_pipeline(RunOptions(cache_dir=tmp_path / "cache", **common))
    again = run_pipeline(RunOptions(cache_dir=tmp_path / "cache", **common))  # all cached
    notes = [n for n in held.meta["notes"] if n.startswith("graph cache disabled")]
    assert len(notes) == 1 and "the 5 graphs are held in memory (" in notes[0]
    later = streamed.meta["notes"] + again.meta["notes"]
    assert not any("graph cache disabled" in n for n in later)
    for f in dataclasses.fields(held):
        if f.name != "meta":
            assert_same(getattr(held, f.name), getattr(streamed, f.name), f.name)
            assert_same(getattr(held, f.name), getattr(again, f.name), f.name)
