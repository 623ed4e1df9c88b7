"""Saving what is on screen: SVG + plain text of the screen, CSV of the pane's data.

Files are named ``<pane>-<reduction>-<timestamp>`` and are never overwritten: a
name that exists gets ``-1``, ``-2``, ... and every file is created exclusively, so
two saves in the same second (or two sessions) cannot clobber each other. Errors
are ``OSError`` for the caller to turn into a notification.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.app import App

from alpha_tui.tui.formatting import safe_token


def export_stem(pane: str, reduction: str, when: datetime | None = None) -> str:
    when = when or datetime.now()
    return f"{safe_token(pane)}-{safe_token(reduction)}-{when:%Y%m%d-%H%M%S}"


def reserve_paths(folder: Path, stem: str, suffixes: Sequence[str]) -> list[Path]:
    """Create empty files ``stem[-n]<suffix>`` for the first n where none exists."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in itertools.count():
        name = stem if n == 0 else f"{stem}-{n}"
        paths = [folder / f"{name}{suffix}" for suffix in suffixes]
        if any(p.exists() for p in paths):
            continue
        created: list[Path] = []
        try:
            for path in paths:
                with open(path, "x", encoding="utf-8"):
                    pass
                created.append(path)
        except FileExistsError:
            for path in created:
                path.unlink(missing_ok=True)
            continue
        return paths
    raise AssertionError("unreachable")


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
    svg_path, txt_path = reserve_paths(folder, stem, (".svg", ".txt"))
    try:
        svg_path.write_text(app.export_screenshot(title=app.title), encoding="utf-8")
        txt_path.write_text(screen_text(app), encoding="utf-8")
    except BaseException:
        _discard(svg_path, txt_path)
        raise
    return svg_path, txt_path


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
    (path,) = reserve_paths(folder, stem, (".csv",))
    try:
        write_csv(path, header, rows)
    except BaseException:
        _discard(path)
        raise
    return path


def _discard(*paths: Path) -> None:
    """Remove files reserved for a save that failed, so no empty file is left."""
    for path in paths:
        path.unlink(missing_ok=True)
