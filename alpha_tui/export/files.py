"""Atomic, no-clobber file writing shared by every exporter."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from alpha_tui.errors import UserError
from alpha_tui.temp_files import temporary_file


def write_atomically(path: Path, write: Callable[[Path], None], *, force: bool = False) -> Path:
    """Write through a temporary file in the same folder, then move it into place.

    Without ``force`` the final step is a hard link, which fails if the name exists,
    so a concurrent writer can never be clobbered either. The temporary is named and
    cleaned up by ``temp_files`` (also on SIGINT/SIGTERM, or by a later write).
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise UserError(f"folder {folder} does not exist; create it or choose another --out")
    if path.exists() and not force:
        raise UserError(f"{path} exists; pass --force to overwrite or choose another --out")
    try:
        with temporary_file(folder, path.name) as tmp:
            write(tmp)
            if force:
                os.replace(tmp, path)
            else:
                try:
                    os.link(tmp, path)
                except FileExistsError as exc:
                    raise UserError(f"{path} appeared while writing; pass --force") from exc
                except OSError:
                    # Filesystems without hard links: best effort, still atomic.
                    os.replace(tmp, path)
    except PermissionError as exc:
        raise UserError(f"cannot write {path}: permission denied") from exc
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path
