"""A one-line progress bar on stderr, for the headless commands.

stderr so that ``report --json`` keeps stdout a clean JSON document.
"""

from __future__ import annotations

import sys


def print_progress(done: int, total: int, stage: str, width: int = 30) -> None:
    filled = int(width * done / max(total, 1))
    bar = "#" * filled + "-" * (width - filled)
    end = "\n" if done >= total else ""
    print(f"\r{stage[:40]:<24} [{bar}] {done}/{total}", end=end, file=sys.stderr, flush=True)


def tty_progress(done: int, total: int, stage: str) -> None:
    """Only on a terminal: a redirected stderr should not fill with carriage returns."""
    if sys.stderr.isatty():
        print_progress(done, total, stage)
