"""Temporary files that never outlive the write they belong to.

Every file alpha-tui writes for the user (exports, screenshots, CSV snapshots) is
written to a hidden temporary in the destination folder and moved into place when
complete, so the destination is never partial. What is left to guard is the
temporary itself when the process is stopped mid-write:

- SIGINT / SIGTERM: ``install_signal_cleanup`` (called once by the CLI) removes the
  temporaries in flight, then lets the signal do what it would have done.
- SIGKILL, power loss: nothing can run, so temporaries carry a prefix of their own
  and the next write into the same folder removes ours that are older than
  ``STALE_AFTER_S`` (a live write keeps touching its file, so it always looks fresh).
  Files without the prefix are never touched.
"""

from __future__ import annotations

import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

TEMP_PREFIX = ".alpha-tui-tmp-"
TEMP_SUFFIX = ".part"
#: a temporary untouched for this long belongs to a write that died
STALE_AFTER_S = 10 * 60
#: room left for the prefix, pid and token inside the usual 255-byte name limit
MAX_NAME_PART = 120
CLEANUP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class LiveTemps:
    """The temporaries being written right now, by any thread of this process.

    This is process state on purpose: a signal handler is process-wide, and it must
    find the files of writes running in worker threads too.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._paths: set[Path] = set()

    def add(self, path: Path) -> None:
        with self._lock:
            self._paths.add(path)

    def discard(self, path: Path) -> None:
        with self._lock:
            self._paths.discard(path)

    def remove_all(self) -> list[Path]:
        """Delete every live temporary (from a signal handler: no lock, no raise)."""
        removed = []
        for path in list(self._paths):
            try:
                path.unlink(missing_ok=True)
                removed.append(path)
            except OSError:
                pass
        return removed


LIVE = LiveTemps()


def is_our_temp(name: str) -> bool:
    return name.startswith(TEMP_PREFIX) and name.endswith(TEMP_SUFFIX)


def temp_name(final_name: str) -> str:
    part = final_name[-MAX_NAME_PART:]
    return f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{part}{TEMP_SUFFIX}"


def sweep_stale(
    folder: Path, *, max_age: float = STALE_AFTER_S, now: float | None = None
) -> list[Path]:
    """Remove our own temporaries older than ``max_age`` seconds; returns what went."""
    now = time.time() if now is None else now
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if not is_our_temp(entry.name):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if now - entry.stat(follow_symlinks=False).st_mtime > max_age:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # someone else's race or a read-only folder: leave it
    return removed


@contextmanager
def temporary_file(folder: Path, final_name: str, *, live: LiveTemps = LIVE) -> Iterator[Path]:
    """An empty, exclusively created temporary in ``folder``, removed on the way out.

    The path is registered before the file exists, so a signal arriving between the
    two still finds it. OSError (folder not writable, name too long) propagates.
    """
    folder = Path(folder)
    sweep_stale(folder)
    path = folder / temp_name(final_name)
    live.add(path)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        os.close(fd)
        yield path
    finally:
        try:
            path.unlink(missing_ok=True)
        finally:
            live.discard(path)


Handler = Callable[[int, FrameType | None], Any] | int | None


def _chained(previous: Handler, live: LiveTemps) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        live.remove_all()
        if callable(previous):
            previous(signum, frame)  # e.g. SIGINT's KeyboardInterrupt
        elif previous == signal.SIG_IGN:
            return
        else:  # SIG_DFL: die the way the signal would have killed us
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    handler.alpha_tui_cleanup = True  # type: ignore[attr-defined]
    return handler


def install_signal_cleanup(live: LiveTemps = LIVE) -> bool:
    """Chain a temp-file cleanup in front of the SIGINT/SIGTERM handlers.

    Only the main thread may set handlers; elsewhere this does nothing and returns
    False (the stale sweep still covers a killed write). Idempotent.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    for signum in CLEANUP_SIGNALS:
        previous = signal.getsignal(signum)
        if getattr(previous, "alpha_tui_cleanup", False):
            continue
        signal.signal(signum, _chained(previous, live))
    return True
