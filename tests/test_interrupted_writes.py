"""A write stopped at the worst moment leaves neither a partial file nor its temporary.

Each case runs the write in a subprocess whose writer blocks half-way (after real
bytes are in the temporary), then stops it: SIGTERM and SIGINT must remove the
temporary on the way out; SIGKILL cannot, so the next write into the folder must
remove our stale temporary and nothing else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from alpha_tui.temp_files import (
    STALE_AFTER_S,
    TEMP_PREFIX,
    is_our_temp,
    sweep_stale,
    temp_name,
)

ROOT = Path(__file__).resolve().parent.parent

#: the child: install the handlers as the CLI does, then block inside a write
CHILD = """
import sys, time
from pathlib import Path
from alpha_tui.temp_files import install_signal_cleanup
install_signal_cleanup()
out, ready, kind = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

def blocking(tmp):
    tmp.write_bytes(b"x" * 65536)   # half a file, really on disk
    note = ready.with_name("ready.writing")
    note.write_text(str(tmp))
    note.replace(ready)               # the parent never reads a half-written note
    time.sleep(120)

if kind == "export":
    from alpha_tui.export.files import write_atomically
    write_atomically(out, blocking)
elif kind == "cache":
    import numpy as np
    from alpha_tui.data.graph_cache import savez_atomic

    def half_savez(handle, **arrays):
        handle.write(b"PK" * 1024)
        handle.flush()
        blocking(Path(handle.name))

    np.savez = half_savez
    savez_atomic(out, a=np.zeros(2))
else:
    from alpha_tui.tui.snapshot import save_new
    save_new(out.parent, out.stem, {".svg": lambda p: p.write_text("<svg/>"), ".txt": blocking})
"""


def start_child(tmp_path: Path, kind: str) -> tuple[subprocess.Popen, Path, Path]:
    dest = tmp_path / "dest"
    dest.mkdir()
    ready = tmp_path / "ready"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(dest / "out.npz"), str(ready), kind],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()[1].decode()
        assert time.monotonic() < deadline, "the child never reached the write"
        time.sleep(0.05)
    temp = Path(ready.read_text())
    assert temp.exists() and temp.parent == dest and is_our_temp(temp.name)
    return proc, dest, temp


@pytest.mark.parametrize("kind", ["export", "snapshot", "cache"])
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_mid_write_leaves_nothing(tmp_path: Path, kind: str, signum: int) -> None:
    proc, dest, temp = start_child(tmp_path, kind)
    proc.send_signal(signum)
    proc.wait(30)
    assert proc.returncode != 0
    if signum == signal.SIGTERM:
        assert proc.returncode == -signal.SIGTERM  # still dies of the signal, as before
    assert not temp.exists()
    assert sorted(p.name for p in dest.iterdir()) == [], "no partial file, no temporary"


def test_killed_write_is_swept_by_the_next_one(tmp_path: Path) -> None:
    proc, dest, temp = start_child(tmp_path, "export")
    proc.kill()  # SIGKILL: no handler runs
    proc.wait(30)
    assert temp.exists(), "SIGKILL cannot clean up; the sweep must"
    old = time.time() - STALE_AFTER_S - 60
    os.utime(temp, (old, old))
    fresh = dest / temp_name("live.npz")  # another session writing right now
    fresh.write_bytes(b"in progress")
    foreign = dest / ".someone-else.tmp"  # not ours: never touched, however old
    foreign.write_bytes(b"keep")
    os.utime(foreign, (old, old))

    from alpha_tui.export.files import write_atomically

    out = write_atomically(dest / "next.csv", lambda p: p.write_text("a,b\n"))
    assert out.read_text() == "a,b\n"
    assert not temp.exists()
    assert fresh.exists() and foreign.exists()
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        [".someone-else.tmp", fresh.name, "next.csv"]
    )


def test_killed_cache_write_is_swept_by_the_next_cache_write(tmp_path: Path) -> None:
    """The graph and text caches write through the same temporaries as exports."""
    proc, dest, temp = start_child(tmp_path, "cache")
    proc.kill()
    proc.wait(30)
    assert temp.exists()
    old = time.time() - STALE_AFTER_S - 60
    os.utime(temp, (old, old))

    import numpy as np

    from alpha_tui.data.graph_cache import savez_atomic

    savez_atomic(dest / "ab.npz", a=np.arange(3))
    with np.load(dest / "ab.npz") as data:
        np.testing.assert_array_equal(data["a"], [0, 1, 2])
    assert sorted(p.name for p in dest.iterdir()) == ["ab.npz"]


def test_sweep_only_takes_our_old_files(tmp_path: Path) -> None:
    now = time.time()
    ours_old = tmp_path / temp_name("a.csv")
    ours_new = tmp_path / temp_name("b.csv")
    lookalike = tmp_path / f"{TEMP_PREFIX}note.txt"  # our prefix, not our suffix
    for p in (ours_old, ours_new, lookalike):
        p.write_text("x")
    os.utime(ours_old, (now - 3600, now - 3600))
    os.utime(lookalike, (now - 3600, now - 3600))
    (tmp_path / temp_name("dir.csv")).mkdir()  # a folder with our name: left alone
    assert sweep_stale(tmp_path, now=now) == [ours_old]
    assert ours_new.exists() and lookalike.exists()
    assert sweep_stale(tmp_path / "missing", now=now) == []


def test_long_names_still_fit(tmp_path: Path) -> None:
    name = temp_name("x" * 250 + ".csv")
    assert len(name.encode()) <= 255 and is_our_temp(name)
    (tmp_path / name).write_text("ok")
