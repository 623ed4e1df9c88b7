"""Per-atom results written in place batch by batch equal the concatenation of the batches."""

from __future__ import annotations

import mmap

import numpy as np
import pytest

from alpha_tui.capture import rows
from alpha_tui.capture.rows import RowTable

pytestmark = pytest.mark.both_lanes


def fill(table: RowTable, blocks: list[np.ndarray], key="gate") -> None:
    for block in blocks:
        table.put(key, block)
        table.offset += block.shape[0]


def test_batches_land_where_concatenation_puts_them():
    rng = np.random.default_rng(0)
    blocks = [rng.normal(size=(n, 3)) for n in (4, 1, 7, 2)]
    vectors = [rng.normal(size=n) for n in (4, 1, 7, 2)]
    table = RowTable(14)
    for block, vector in zip(blocks, vectors, strict=True):
        table.put("gate", block)
        table.put("norm", vector)
        table.offset += block.shape[0]
    np.testing.assert_array_equal(table.get("gate"), np.concatenate(blocks).astype(np.float32))
    np.testing.assert_array_equal(table.get("norm"), np.concatenate(vectors).astype(np.float32))
    assert table.get("gate").dtype == np.float32 and table.get("gate").flags.c_contiguous


def test_rows_no_batch_wrote_are_an_error_not_garbage():
    table = RowTable(10)
    fill(table, [np.ones((4, 2)), np.ones((3, 2))])
    with pytest.raises(RuntimeError, match="7 of 10 rows"):
        table.get("gate")


def test_a_block_past_the_end_or_of_another_width_is_refused():
    table = RowTable(5)
    fill(table, [np.ones((4, 2))])
    with pytest.raises(ValueError, match="does not fit"):
        table.put("gate", np.ones((2, 2)))
    with pytest.raises(ValueError, match="does not fit"):
        table.put("gate", np.ones((1, 3)))


def test_a_module_firing_twice_per_batch_is_caught():
    table = RowTable(4)
    table.put("gate", np.ones((2, 2)))
    table.put("gate", np.zeros((2, 2)))  # same rows again: the count no longer matches
    table.offset = 2
    table.put("gate", np.ones((2, 2)))
    with pytest.raises(RuntimeError, match="6 of 4 rows"):
        table.get("gate")


def test_spilled_rows_released_page_by_page_read_back_as_written(monkeypatch):
    """Rows dropped from the process after each batch (MADV_DONTNEED on the shared
    file mapping) come back from the file exactly; each release covers whole pages of
    finished rows only, so a page the next batch still writes is kept."""
    rng = np.random.default_rng(1)
    sizes = [700, 1, 333, 1000, 2966]  # 5,000 rows of 256 float32: 1 KiB per row
    blocks = [rng.normal(size=(n, 256)).astype(np.float32) for n in sizes]
    table = RowTable(sum(sizes), spill=True)
    released = []
    for block in blocks:
        table.put("gate", block)
        table.offset += block.shape[0]
        table.release()
        released.append(table._maps["gate"][1])
    page = rows.PAGE
    assert released == [int(n) * 1024 // page * page for n in np.cumsum(sizes)]
    gate = table.get("gate")
    base = gate
    while isinstance(base, np.ndarray | memoryview):
        base = base.obj if isinstance(base, memoryview) else base.base
    assert isinstance(base, mmap.mmap)  # in the file, not in the process's heap
    np.testing.assert_array_equal(gate, np.concatenate(blocks))
    assert table.held_note() is None


def test_without_room_for_the_file_the_rows_stay_in_memory_and_say_so(monkeypatch):
    def full(fd, offset, length):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(rows.os, "posix_fallocate", full)
    table = RowTable(1024, spill=True)
    block = np.arange(1024 * 256, dtype=np.float32).reshape(1024, 256)
    table.put("gate", block)
    table.offset = 1024
    table.release()  # nothing spilled: nothing to release
    np.testing.assert_array_equal(table.get("gate"), block)
    note = table.held_note()
    assert note is not None
    assert note.startswith("the per-atom results are held in memory (1.0 MiB): no temporary file")
    assert note.endswith("(No space left on device)")
