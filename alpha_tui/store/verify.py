"""Lazy but sure SHA-256 checks: no store data is used for a result before its file passed.

Hashing a gigabyte of gates costs seconds (7 s on a loaded 2-core machine), so
opening a store does not wait for it. Instead a background thread, started at open,
hashes every file smallest first, and every reader asks for the verdict of the files
it is about to use (``require``): a file already checked answers at once, a file the
thread is hashing is waited for, a file not reached yet is hashed right there by the
caller (one lock per file, so no file is hashed twice). A mismatch is the same one
line naming the file as before, raised at the first use of the damaged data.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from alpha_tui.errors import UserError
from alpha_tui.store.layout import sha256_file

RECAPTURE = "rerun alpha-tui extract (or open the checkpoint with --recapture)"


class StoreChecks:
    """Per-file SHA-256 verdicts of one opened store (implements ``ArrayChecks``)."""

    def __init__(
        self, root: Path, files: dict[str, dict[str, Any]], field_files: dict[str, list[str]]
    ) -> None:
        self.root = Path(root)
        self._files = files
        self._field_files = field_files
        self._locks = {name: threading.Lock() for name in files}
        self._verdicts: dict[str, str | None] = {}  # name -> None (passed) or the error line
        self._by_path = {os.path.abspath(self.root / name): name for name in files}
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ checking
    def _verdict(self, name: str) -> str | None:
        with self._locks[name]:
            if name in self._verdicts:
                return self._verdicts[name]
            file = self.root / name
            try:
                passed = sha256_file(file) == self._files[name].get("sha256")
                verdict = None if passed else f"store file {file} fails its SHA-256 checksum"
            except OSError as exc:
                verdict = f"store file {file} became unreadable ({exc.strerror or exc})"
            self._verdicts[name] = verdict if verdict is None else f"{verdict}; {RECAPTURE}"
            return self._verdicts[name]

    def require_names(self, names: Iterable[str]) -> None:
        for name in names:
            if name in self._locks and (verdict := self._verdict(name)) is not None:
                raise UserError(verdict)

    def require(self, *arrays: np.ndarray | None) -> None:
        """Verify the files the given memory-mapped arrays are read from."""
        names = []
        for array in arrays:
            filename = getattr(array, "filename", None)
            if filename is not None and (name := self._by_path.get(str(filename))) is not None:
                names.append(name)
        self.require_names(names)

    def require_fields(self, *fields: str) -> None:
        """Verify every file under the named top-level cache fields."""
        self.require_names(n for f in fields for n in self._field_files.get(f, []))

    def require_all(self) -> None:
        self.require_names(sorted(self._files, key=self._size))

    # ------------------------------------------------------------------ background
    def _size(self, name: str) -> int:
        return int(self._files[name].get("bytes") or 0)

    def start(self) -> StoreChecks:
        """Hash every file in a daemon thread, smallest first (they are needed first)."""
        order = sorted(self._files, key=self._size)
        self._thread = threading.Thread(
            target=lambda: [self._verdict(n) for n in order], name="store-sha256", daemon=True
        )
        self._thread.start()
        return self

    def progress(self) -> tuple[int, int, list[str]]:
        """(files checked, files in the store, error lines so far): for a status line."""
        verdicts = dict(self._verdicts)
        failed = [v for v in verdicts.values() if v is not None]
        return len(verdicts), len(self._files), failed

    def wait(self, timeout: float | None = None) -> bool:
        """True once the background pass is over (every file has a verdict)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return len(self._verdicts) == len(self._files)
