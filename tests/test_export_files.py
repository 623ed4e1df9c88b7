"""Atomic no-clobber writes: the exporter must never lose an existing file."""

from __future__ import annotations

import os

import pytest

from alpha_tui.errors import UserError
from alpha_tui.export.files import write_atomically


def test_writes_new_file_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "out.csv"
    write_atomically(target, lambda p: p.write_text("a,b\n1,2\n"))
    assert target.read_text() == "a,b\n1,2\n"
    assert sorted(os.listdir(tmp_path)) == ["out.csv"]


def test_refuses_to_overwrite_without_force(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("precious")
    with pytest.raises(UserError, match="--force"):
        write_atomically(target, lambda p: p.write_text("new"))
    assert target.read_text() == "precious"


def test_force_replaces(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")
    write_atomically(target, lambda p: p.write_text("new"), force=True)
    assert target.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["out.csv"]


def test_failed_write_keeps_old_file_and_cleans_up(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("old")

    def boom(path):
        path.write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomically(target, boom, force=True)
    assert target.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["out.csv"]


def test_missing_folder_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        write_atomically(tmp_path / "nope" / "x.npz", lambda p: p.write_text(""))
