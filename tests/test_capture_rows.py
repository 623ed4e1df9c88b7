"""Per-atom results written in place batch by batch equal the concatenation of the batches."""

from __future__ import annotations

import numpy as np
import pytest

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
