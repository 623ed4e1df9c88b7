"""Exports from the explorer: file naming, no overwrites, CSV contents per pane."""

from __future__ import annotations

import csv
import math
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("textual")

from synthetic import make_cache

from alpha_tui.analysis.session import AnalysisSession
from alpha_tui.tui.app import PANE_CLASSES, PANE_IDS, AlphaTuiApp
from alpha_tui.tui.screenshots import render_pane_screenshots
from alpha_tui.tui.snapshot import export_stem, save_csv, save_new, svg_text


@pytest.fixture(scope="module")
def session() -> AnalysisSession:
    return AnalysisSession(make_cache(seed=0))


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


# ------------------------------------------------------------------ naming


def test_export_stem_names_pane_reduction_and_time() -> None:
    when = datetime(2024, 5, 6, 7, 8, 9)
    assert export_stem("alpha", "quantile:0.9", when) == "alpha-quantile-0.9-20240506-070809"
    assert export_stem("elements", "weighted:/data/w v.npy", when) == (
        "elements-weighted-w-v-20240506-070809"
    )
    assert export_stem("alpha", "dim:5", when) == "alpha-dim-5-20240506-070809"


def _writer(text: str):
    return lambda p: p.write_text(text)


def test_save_new_never_reuses_a_name(tmp_path: Path) -> None:
    (tmp_path / "x.svg").write_text("old")
    (tmp_path / "x-1.txt").write_text("old")  # only one of the pair exists: still taken
    first = save_new(tmp_path, "x", {".svg": _writer("a"), ".txt": _writer("b")})
    assert [p.name for p in first] == ["x-2.svg", "x-2.txt"]
    assert [p.read_text() for p in first] == ["a", "b"]
    second = save_new(tmp_path, "x", {".svg": _writer("c"), ".txt": _writer("d")})
    assert [p.name for p in second] == ["x-3.svg", "x-3.txt"]
    assert (tmp_path / "x.svg").read_text() == "old"
    assert (tmp_path / "x-1.txt").read_text() == "old"
    # nothing but the files themselves: no temporaries left
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "x-1.txt", "x-2.svg", "x-2.txt", "x-3.svg", "x-3.txt", "x.svg"
    ]


def test_save_new_creates_missing_folders(tmp_path: Path) -> None:
    (path,) = save_new(tmp_path / "a" / "b", "stem", {".csv": _writer("1")})
    assert path == tmp_path / "a" / "b" / "stem.csv" and path.read_text() == "1"


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    def broken(p: Path) -> None:
        p.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space"):
        save_new(tmp_path, "y", {".svg": _writer("a"), ".txt": broken})
    assert list(tmp_path.iterdir()) == []


def test_save_csv_writes_missing_and_non_finite_values(tmp_path: Path) -> None:
    path = save_csv(tmp_path, "t", ["a", "b", "c"], [[1, None, float("nan")], [2.5, "x", math.inf]])
    header, rows = read_csv(path)
    assert header == ["a", "b", "c"]
    assert rows == [["1", "", "nan"], ["2.5", "x", "inf"]]
    again = save_csv(tmp_path, "t", ["a"], [[1]])
    assert again.name == "t-1.csv" and read_csv(path)[0] == ["a", "b", "c"]


def test_save_csv_to_a_file_path_raises_oserror(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OSError):
        save_csv(blocker / "sub", "t", ["a"], [[1]])


def test_svg_text_recovers_plain_text() -> None:
    svg = (
        '<svg><text class="r1" x="0" y="20" textLength="24">ab&#160;</text>'
        '<text x="24" y="20">c&lt;d</text><text x="0" y="44">next</text></svg>'
    )
    assert svg_text(svg) == "ab c<d\nnext"


# ------------------------------------------------------------------ per pane CSV


async def test_every_pane_exports_its_numbers(session: AnalysisSession, tmp_path: Path) -> None:
    fusion = session.fusion_modules[0]
    cache = session.cache
    app = AlphaTuiApp(session=session, snapshot_dir=tmp_path)
    app.animation_level = "none"
    async with app.run_test(size=(120, 40)) as pilot:
        for cls in PANE_CLASSES:
            await pilot.press(cls.key)
            for _ in range(3):
                await app.workers.wait_for_complete()
                await pilot.pause()
            await pilot.press("e")
            for _ in range(2):
                await app.workers.wait_for_complete()
                await pilot.pause()

    def one(prefix: str) -> Path:
        (path,) = sorted(tmp_path.glob(f"{prefix}-mean-*.csv"))
        return path

    header, rows = read_csv(one("overview"))
    assert header == ["section", "key", "value"]
    values = {(r[0], r[1]): r[2] for r in rows}
    assert values[("checkpoint", "sha256")] == cache.meta["checkpoint"]["sha256"]
    assert values[("data", "atoms")] == f"{cache.n_atoms:,}"
    assert any(r[0] == "problem" and "C9999" in r[2] for r in rows)

    header, rows = read_csv(one("alpha"))
    assert len(rows) == cache.n_atoms
    gates = np.asarray(cache.gates[fusion], dtype=np.float64)
    assert np.allclose([float(r[-1]) for r in rows], gates.mean(axis=1))
    assert [r[2] for r in rows[:3]] == [cache.crystal_ids[int(c)] for c in cache.atom_crystal[:3]]

    header, rows = read_csv(one("elements"))
    assert header[:3] == ["element", "z", "count"]
    z = np.asarray(cache.atomic_numbers)
    for row in rows:
        mask = z == int(row[1])
        assert int(row[2]) == int(mask.sum())
        assert float(row[3]) == pytest.approx(gates.mean(axis=1)[mask].mean())

    header, rows = read_csv(one("layers"))
    assert header == list(session.layer_flow()[0].to_dict())
    assert len(rows) == len(cache.layers) * len(cache.text_sources)
    skipped = [r for r in rows if r[header.index("status")] == "SKIPPED"]
    assert all(r[header.index("cos_mean")] == "" for r in skipped)
    assert {r[header.index("text_source")] for r in skipped} == {"text_projection"}

    header, rows = read_csv(one("crystals"))
    means = np.bincount(cache.atom_crystal, weights=gates.mean(axis=1)) / cache.atom_counts
    by_index = {int(r[0]): float(r[-1]) for r in rows}
    assert np.allclose([by_index[i] for i in range(cache.n_crystals)], means)

    header, rows = read_csv(one("correlations"))
    assert [int(r[2]) for r in rows] == [int(n) for n in cache.atom_counts]
    assert np.allclose([float(r[4]) for r in rows], means)
    r = np.corrcoef([float(x[4]) for x in rows], [float(x[5]) for x in rows])[0, 1]
    assert session.correlation(fusion, "mean").pearson_r == pytest.approx(r)

    header, rows = read_csv(one("dims"))
    assert header == ["dim", "rank_by_mean", "mean", "std", "open_share", "shut_share", "kind"]
    dims = [int(r[0]) for r in rows]
    assert dims == np.argsort(gates.mean(axis=0), kind="stable").tolist()
    assert np.allclose([float(r[2]) for r in rows], gates.mean(axis=0)[dims])
    assert np.allclose([float(r[3]) for r in rows], gates.std(axis=0)[dims])
    assert np.allclose([float(r[4]) for r in rows], (gates > 0.95).mean(axis=0)[dims])


def test_render_pane_screenshots_writes_one_svg_per_pane(
    session: AnalysisSession, tmp_path: Path
) -> None:
    paths = render_pane_screenshots(session, tmp_path / "shots", size=(100, 30))
    assert [p.name for p in paths] == [f"{cls.key}-{cls.pane_id}.svg" for cls in PANE_CLASSES]
    texts = [svg_text(p.read_text()) for p in paths]
    assert all(p.read_text().lstrip().startswith("<svg") for p in paths)
    assert "checkpoint" in texts[0]
    assert "variance collapse" in texts[1]
    assert "min count" in texts[2]
    assert "MATCH" in texts[3]
    assert "C0000" in texts[4]
    assert "Pearson r" in texts[5]
    assert "text scale that would equalise norms" in texts[PANE_IDS.index("dims")]
