"""Text vectors and results on disk: the same numbers as in memory, nothing left behind."""

from __future__ import annotations

import crystal_factory as cf
import numpy as np
import pytest
import torch
from model_factory import built_random_model, small_config

from alpha_tui.capture.hooks import HookNames
from alpha_tui.capture.patching import ModelHandle, run_text_effect
from alpha_tui.capture.run import CaptureInput, capture, compute_text_sources
from alpha_tui.data import row_file
from alpha_tui.data.graphs import build_graph
from alpha_tui.data.row_file import RowFile, spill_rows

pytestmark = pytest.mark.both_lanes


def test_slices_read_back_the_bytes_written(tmp_path) -> None:
    array = np.random.default_rng(3).normal(size=(7, 5)).astype(np.float32)
    rows = RowFile.spill(array, directory=str(tmp_path))
    assert (len(rows), rows.shape, rows.dtype, rows.nbytes) == (7, (7, 5), np.float32, 140)
    for index in (slice(0, 3), slice(5, 100), slice(-2, None), slice(None), slice(3, 3)):
        got = rows[index]
        assert got.dtype == np.float32 and got.flags.writeable
        np.testing.assert_array_equal(got, array[index])
    assert rows[3:3].shape == (0, 5)
    np.testing.assert_array_equal(np.asarray(rows), array)
    assert np.asarray(rows, dtype=np.float64).dtype == np.float64
    # unnamed: the folder holds nothing while the rows are open, nor after
    assert list(tmp_path.iterdir()) == []
    rows.close()
    assert list(tmp_path.iterdir()) == []


def test_only_contiguous_slices_are_read() -> None:
    rows = RowFile.spill(np.zeros((4, 2), dtype=np.float32))
    with pytest.raises(TypeError, match="contiguous"):
        rows[1]
    with pytest.raises(TypeError, match="step 1"):
        rows[::2]
    with pytest.raises(ValueError, match="2-D"):
        RowFile.spill(np.zeros(3, dtype=np.float32))


def test_without_a_temporary_file_the_rows_stay_in_memory_and_say_so(monkeypatch) -> None:
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(row_file.tempfile, "TemporaryFile", full)
    array = np.ones((2048, 128), dtype=np.float32)  # 1 MiB
    kept, note = spill_rows(array, "the text vectors are")
    assert kept is array
    assert note is not None
    assert note.startswith("the text vectors are held in memory (1.0 MiB): no temporary file")
    assert note.endswith("(No space left on device)")


@pytest.fixture(scope="module")
def crystals():
    atoms = [cf.rocksalt(), cf.zincblende(), cf.perovskite(), cf.fcc_primitive(), cf.wurtzite()]
    return [build_graph(a) for a in atoms]


def inputs(graphs, text) -> CaptureInput:
    return CaptureInput(
        ids=[f"X{i}" for i in range(len(graphs))],
        formulas=["F"] * len(graphs),
        targets=np.arange(len(graphs), dtype=float),
        graphs=graphs,
        text=text,
    )


def test_capture_and_text_effect_give_the_same_numbers_through_files(crystals) -> None:
    """Text read from a RowFile and per-atom results spilled to files (capture/rows.py)
    against the all-in-memory pass: bit for bit."""
    config = small_config(middle_fusion_layers=(1, 2))
    model = built_random_model(config, seed=7).model
    text = np.random.default_rng(1).normal(size=(5, config.text_input_features))
    text = text.astype(np.float32)
    in_memory = capture(model, inputs(crystals, text), batch_size=2)
    on_disk_input = inputs(crystals, RowFile.spill(text))
    notes: list[str] = []
    on_disk = capture(model, on_disk_input, batch_size=2, spill_results=True, notes=notes)
    assert notes == []  # the results went to their files
    np.testing.assert_array_equal(on_disk.predictions, in_memory.predictions)
    np.testing.assert_array_equal(on_disk.text_projection, in_memory.text_projection)
    for fusion, gate in in_memory.gates.items():
        np.testing.assert_array_equal(on_disk.gates[fusion], gate)
    compared = 0
    for key, flow in in_memory.flows.items():
        if flow.cos is not None:
            np.testing.assert_array_equal(on_disk.flows[key].cos, flow.cos)
            compared += 1
    assert compared > 0
    fusion = "middle_fusion_modules.layer_1"
    cpu = torch.device("cpu")
    want = run_text_effect(ModelHandle(model, inputs(crystals, text), cpu, 2), in_memory, fusion)
    got = run_text_effect(ModelHandle(model, on_disk_input, cpu, 2), on_disk, fusion)
    for condition, values in want.outputs.items():
        np.testing.assert_allclose(got.outputs[condition], values, rtol=0, atol=1e-7)


def test_text_sources_in_chunks_equal_one_pass(crystals) -> None:
    config = small_config()
    model = built_random_model(config, seed=2).model
    text = np.random.default_rng(4).normal(size=(5, config.text_input_features))
    rows = RowFile.spill(text.astype(np.float32))
    fusions = ["middle_fusion_modules.layer_2"]
    with torch.no_grad():
        chunked = compute_text_sources(model, rows, fusions, HookNames(), "cpu", chunk=2)
        whole = model.text_projection(torch.as_tensor(text, dtype=torch.float32))
    np.testing.assert_allclose(chunked["text_projection"].numpy(), whole.numpy(), atol=1e-6)
    assert chunked["text_projection"].shape == (5, whole.shape[1])


def test_pipeline_without_temporary_space_keeps_everything_in_memory_and_says_so(
    tmp_path, monkeypatch
) -> None:
    """The same numbers either way; the notes name what stayed in memory and why."""
    import dataclasses
    from pathlib import Path

    from test_store import assert_same

    from alpha_tui.capture import rows
    from alpha_tui.capture.pipeline import RunOptions, run_pipeline

    checkpoint = Path(__file__).resolve().parents[1] / "sample_checkpoints" / "gap_fusion2.pt"
    options = RunOptions(checkpoint=checkpoint, limit=5, batch_size=2, backend="native",
                         device="cpu", workers=1, cache_dir=tmp_path / "cache")  # fmt: skip
    spilled = run_pipeline(options)
    assert not any("held in memory" in n for n in spilled.meta["notes"])

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(row_file.tempfile, "TemporaryFile", no_space)
    monkeypatch.setattr(rows.tempfile, "TemporaryFile", no_space)
    held = run_pipeline(options)
    notes = [n for n in held.meta["notes"] if "held in memory" in n]
    assert [n.split(" (")[0] for n in notes] == [
        "the text vectors are held in memory",
        "the per-atom results are held in memory",
    ]
    assert all(n.endswith("(No space left on device)") for n in notes)
    for f in dataclasses.fields(held):
        if f.name != "meta":
            assert_same(getattr(held, f.name), getattr(spilled, f.name), f.name)
