"""Saving what is on screen: SVG + plain text of the screen, CSV of the pane's data.

Files are named ``<pane>-<reduction>-<timestamp>`` and are never overwritten: a
name that exists gets ``-1``, ``-2``, ... Content is written to hidden temporaries
first (``alpha_tui.temp_files``: removed on SIGINT/SIGTERM or by a later
save) and hard-linked to a free name only when complete, so a save stopped midway
leaves neither a partial file nor its temporary, and two saves in the same second
(or two sessions) cannot clobber each other. Errors are ``OSError`` for the caller
to turn into a notification.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import os
import re
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.app import App

from alpha_tui.temp_files import temporary_file
from alpha_tui.tui.formatting import safe_token


def export_stem(pane: str, reduction: str, when: datetime | None = None) -> str:
    when = when or datetime.now()
    return f"{safe_token(pane)}-{safe_token(reduction)}-{when:%Y%m%d-%H%M%S}"


def screen_text(app: App[Any]) -> str:
    """The characters currently on screen (all layers, modal included), no styles."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    try:
        render = app.screen._compositor.render_update(  # noqa: SLF001 - no public text export
            full=True, screen_stack=app._background_screens, simplify=True
        )
        console.print(render)
        text = console.export_text(styles=False)
    except Exception:  # noqa: BLE001 - private API moved: fall back to the SVG's text
        text = svg_text(app.export_screenshot())
    return "\n".join(line.rstrip() for line in text.splitlines()).rstrip() + "\n"


def svg_text(svg: str) -> str:
    """Rough text of a Rich SVG export: one line per y coordinate."""
    lines: dict[float, list[tuple[float, str]]] = {}
    pattern = r'<text[^>]*x="([\d.]+)"[^>]*y="([\d.]+)"[^>]*>(.*?)</text>'
    for match in re.finditer(pattern, svg):
        x, y, body = float(match.group(1)), float(match.group(2)), match.group(3)
        body = re.sub(r"<[^>]+>", "", body).replace("&#160;", " ")
        body = body.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        lines.setdefault(y, []).append((x, body))
    return "\n".join("".join(t for _, t in sorted(parts)) for _, parts in sorted(lines.items()))


def save_screen(app: App[Any], folder: Path, stem: str) -> tuple[Path, Path]:
    svg = app.export_screenshot(title=app.title)
    text = screen_text(app)
    svg_path, txt_path = save_new(
        folder,
        stem,
        {
            ".svg": lambda p: p.write_text(svg, encoding="utf-8"),
            ".txt": lambda p: p.write_text(text, encoding="utf-8"),
        },
    )
    return svg_path, txt_path


def _publish(temps: dict[str, Path], folder: Path, stem: str) -> list[Path]:
    """Link every temporary to ``stem[-n]<suffix>`` for the first n free for all."""
    for n in itertools.count():
        name = stem if n == 0 else f"{stem}-{n}"
        finals = [folder / f"{name}{suffix}" for suffix in temps]
        if any(p.exists() for p in finals):
            continue
        linked: list[Path] = []
        try:
            for (_, tmp), final in zip(temps.items(), finals, strict=True):
                _link_new(tmp, final)
                linked.append(final)
        except FileExistsError:
            for path in linked:
                path.unlink(missing_ok=True)
            continue
        return finals
    raise AssertionError("unreachable")


def _link_new(tmp: Path, final: Path) -> None:
    """Create ``final`` with ``tmp``'s content, failing with FileExistsError if taken."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise
    except OSError:
        # no hard links here (some network/FUSE mounts): claim the name, then replace
        with open(final, "x", encoding="utf-8"):
            pass
        os.replace(tmp, final)


def save_new(folder: Path, stem: str, writers: dict[str, Callable[[Path], None]]) -> list[Path]:
    """Write one file per suffix under a fresh common name; nothing partial is left."""
    folder.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        temps = {
            suffix: stack.enter_context(temporary_file(folder, f"{stem}{suffix}"))
            for suffix in writers
        }
        for suffix, write in writers.items():
            write(temps[suffix])
        return _publish(temps, folder, stem)


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(list(header))
        for row in rows:
            writer.writerow([_cell(v) for v in row])


def save_csv(folder: Path, stem: str, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    (path,) = save_new(folder, stem, {".csv": lambda p: write_csv(p, header, rows)})
    return path
