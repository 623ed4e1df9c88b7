"""``Path.resolve`` whose every failure is an OSError naming the path.

Python 3.11 raises RuntimeError (not OSError) for a symlink loop, so a looping
``--data`` or ``--cache-dir`` escaped the CLI's one-line OSError report as a
traceback. Here it becomes ``OSError(ELOOP)`` for that path, which the CLI words
like any other OS refusal.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


def resolved(path: str | os.PathLike[str]) -> Path:
    """``Path(path).expanduser().resolve()``; a symlink loop raises OSError(ELOOP)."""
    given = Path(path).expanduser()
    try:
        return given.resolve()
    except RuntimeError:  # "Symlink loop from ..." before Python 3.13
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), str(given)) from None
