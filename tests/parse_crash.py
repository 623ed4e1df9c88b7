"""Parsers that really crash their process, for the crash-isolation tests.

They run inside parse_pool workers (pickled by reference, imported there), so the file
name picks the way to die: a real signal or exit, not a raised exception.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from alpha_tui.data.structures import read_structure

DEATHS = {"SEGV": signal.SIGSEGV, "ABRT": signal.SIGABRT, "KILL": signal.SIGKILL}


def crash_by_name(path: Path):
    """read_structure, except that a file named ``*-SEGV.cif`` (ABRT, KILL) kills us."""
    for word, number in DEATHS.items():
        if Path(path).stem.endswith(f"-{word}"):
            os.kill(os.getpid(), number)
    if Path(path).stem.endswith("-EXIT"):
        os._exit(3)
    return read_structure(path)


def only_in_a_worker(path: Path):
    """read_structure, but refuses to run in the main process: proves the pool parsed."""
    import multiprocessing

    if multiprocessing.parent_process() is None:
        raise AssertionError(f"{path} parsed in the main process")
    return read_structure(path)
