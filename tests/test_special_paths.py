"""Special files and symlink loops in place of inputs: one line each, never a hang.

Found by the fresh adversarial set: a FIFO given as --data blocked the read forever,
/dev/zero behind a symlink was read until memory ran out, and a symlink loop made
``Path.resolve`` raise RuntimeError (Python 3.11), which escaped as a traceback.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from alpha_tui.data.dataset import resolve_data_path
from alpha_tui.errors import UserError
from alpha_tui.paths import resolved
from alpha_tui.store.index import data_hash


def test_resolved_turns_a_symlink_loop_into_eloop(tmp_path: Path) -> None:
    loop = tmp_path / "loop"
    os.symlink(loop.name, loop)
    with pytest.raises(OSError) as info:
        resolved(loop / "inside")
    assert info.value.errno == errno.ELOOP
    assert str(loop) in str(info.value.filename)
    with pytest.raises(OSError):
        data_hash(loop)  # the store key of a looping --data: OSError, not RuntimeError
    assert resolved(tmp_path / "a" / ".." / "b") == tmp_path.resolve() / "b"


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_data_that_is_not_a_regular_file_is_refused_unread(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "description.csv"
    if kind == "fifo":
        os.mkfifo(path)  # opening it for reading would block with no writer
    else:
        os.symlink("/dev/zero", path)
    with pytest.raises(UserError, match="not a regular file or folder") as info:
        resolve_data_path(path)
    assert "\n" not in str(info.value)


def test_cli_one_line_for_a_looping_data_path(tmp_path: Path, capsys) -> None:
    from adversarial.base import write_checkpoint, write_embeddings

    from alpha_tui.cli import main

    loop = tmp_path / "data"
    os.symlink(loop.name, loop)
    ckpt = write_checkpoint(tmp_path / "m.pt")
    emb = write_embeddings(tmp_path / "e.npz")
    argv = ["report", str(ckpt), "--data", str(loop), "--text-embeddings", str(emb)]
    code = main([*argv, "--cache-dir", str(tmp_path / "cache"), "--json"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(err) == 1 and err[0].startswith("alpha-tui: error: ")
    assert str(loop) in err[0]
