"""Issue 11 figure 3: graph building, alpha-tui's build_graph vs jarvis' DGL builder.

    .venv-dgl/bin/python tests/benchmarks/fig_graphs.py [--quick]

The reference is what the users' data code runs, ``Graph.atom_dgl_multigraph(atoms,
cutoff=8.0, max_neighbors=12, atom_features="cgcnn", use_canonize=True,
compute_line_graph=True)``, against ``build_graph(atoms)`` (atom graph, CGCNN rows,
line graph, angle cosines) on the same jarvis ``Atoms``: the 455 bundled sample
crystals as alpha-tui reads them (primitive cells), and supercells of ~50, ~100 and
~200 atoms of sample crystals. Every graph either side builds while timed is compared
(graph_identity.py) and the run fails on the first difference.

The sample costs jarvis ~40 ms a crystal, too long to time all 455 five times, so
round k times crystals k, k+R, k+2R, ... on both sides (R rounds): each side builds
each crystal once, each round's ratio is of the same crystals, and the overall ratio
(total jarvis time / total alpha-tui time) is kept in ``extra``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import harness
import numpy as np
from graph_identity import graph_difference, reference_graph

from alpha_tui.capture.pipeline import bundled_inputs  # noqa: E402
from alpha_tui.data.dataset import read_dataset  # noqa: E402
from alpha_tui.data.graphs import build_graph  # noqa: E402
from alpha_tui.data.structures import read_structure  # noqa: E402

LANE = "dgl"
TARGET = 10.0
SAMPLE_CHECKPOINT = harness.ROOT / "sample_checkpoints" / "gap_fusion2.pt"
# supercell figure -> (sample crystal repeated, target atom count): a high-symmetry cell
# full of exact distance ties, a hexagonal one, and a rattled one without ties
SUPERCELLS = {
    "50atoms": ("C-diamond", 50),
    "100atoms": ("ZnO-wz", 100),
    "200atoms": ("Cu-fcc-rattle-1", 200),
}
QUICK_SAMPLE = 60  # crystals read in --quick mode


def sample_crystals(limit: int | None = None) -> list[tuple[str, Any]]:
    """(id, Atoms) of the bundled sample, read as alpha-tui reads it."""
    data, _ = bundled_inputs(SAMPLE_CHECKPOINT)
    if data is None:
        raise SystemExit(f"no bundled data next to {SAMPLE_CHECKPOINT}")
    dataset = read_dataset(data, limit=limit)
    return [(r.id, r.atoms) for r in dataset.records]


def supercell_dims(atoms: Any, target: int) -> tuple[int, int, int]:
    """The most nearly cubic repeat of ``atoms`` with atom count within 10 % of ``target``."""
    n = int(atoms.num_atoms)
    lengths = np.asarray(atoms.lattice.abc, dtype=np.float64)
    best: tuple[float, tuple[int, int, int]] | None = None
    for dims in np.ndindex(8, 8, 8):
        d = tuple(int(x) + 1 for x in dims)
        if abs(n * d[0] * d[1] * d[2] - target) > 0.1 * target:
            continue
        sides = lengths * np.asarray(d)
        score = float(sides.max() / sides.min())
        if best is None or score < best[0]:
            best = (score, d)  # type: ignore[assignment]
    if best is None:
        raise SystemExit(f"no supercell of a {n}-atom cell has ~{target} atoms")
    return best[1]


def make_supercell(crystal_id: str, target: int) -> tuple[str, Any]:
    """(description, supercell Atoms) of one sample crystal, read as alpha-tui reads it."""
    data, _ = bundled_inputs(SAMPLE_CHECKPOINT)
    atoms = read_structure(Path(data or ".") / "cif" / f"{crystal_id}.cif")
    dims = supercell_dims(atoms, target)
    big = atoms.make_supercell_matrix(np.diag(dims).tolist())
    return f"{crystal_id} x{dims}: {big.num_atoms} atoms", big


def _builders(
    batches: Sequence[Sequence[tuple[str, Any]]],
) -> tuple[Callable[[], object], Callable[[], object], dict[str, list]]:
    """(jarvis, ours) callables; the i-th call of each builds batch i and keeps the graphs."""
    built: dict[str, list] = {"jarvis": [], "ours": []}

    def jarvis() -> None:
        batch = batches[len(built["jarvis"]) % len(batches)]
        built["jarvis"].append([reference_graph(atoms) for _, atoms in batch])

    def ours() -> None:
        batch = batches[len(built["ours"]) % len(batches)]
        built["ours"].append([build_graph(atoms) for _, atoms in batch])

    return jarvis, ours, built


def _check_identical(batches: Sequence[Sequence[tuple[str, Any]]], built: dict[str, list]) -> int:
    """Compare every graph built while timed; SystemExit naming the first difference."""
    checked = 0
    for i, (refs, mine) in enumerate(zip(built["jarvis"], built["ours"], strict=True)):
        batch = batches[i % len(batches)]
        for (cid, atoms), (g, lg), graph in zip(batch, refs, mine, strict=True):
            difference = graph_difference(atoms, graph, g, lg)
            if difference is not None:
                raise SystemExit(f"graph of {cid} differs from jarvis: {difference}")
            checked += 1
    return checked


def speedup(
    name: str, batches: Sequence[Sequence[tuple[str, Any]]], note: str
) -> tuple[harness.Figure, list[float]]:
    """jarvis time / alpha-tui time, batch i in round i, graphs checked identical."""
    jarvis, ours, built = _builders(batches)
    times_j, times_o = harness.alternate(jarvis, ours, repeat=len(batches), warmup=0)
    checked = _check_identical(batches, built)
    extra = {
        "overall_ratio": sum(times_j) / sum(times_o),
        "jarvis_s": sum(times_j),
        "alpha_tui_s": sum(times_o),
        "graphs_checked": checked,
    }
    figure = harness.Figure(
        name=name,
        unit="x",
        samples=harness.ratios(times_j, times_o),
        target=TARGET,
        direction=">=",
        note=f"{note}; {checked} graphs identical to jarvis",
        extra=extra,
    )
    return figure, times_o


def _warm_up(crystals: Sequence[tuple[str, Any]]) -> None:
    """Imports, jarvis' tables and numpy's first calls, outside every timed round."""
    for _, atoms in crystals[:4]:
        reference_graph(atoms)
        build_graph(atoms)


def figures(quick: bool) -> list[harness.Figure]:
    rounds = 3 if quick else 5
    crystals = sample_crystals(QUICK_SAMPLE if quick else None)
    _warm_up(crystals)
    batches = [crystals[k::rounds] for k in range(rounds)]
    label = f"{len(crystals)} sample crystals, {rounds} interleaved subsets"
    sample_fig, sample_times = speedup("graph_speedup_sample", batches, label)
    out = [sample_fig]
    for suffix, (crystal_id, target) in SUPERCELLS.items():
        description, big = make_supercell(crystal_id, target)
        fig, _ = speedup(f"graph_speedup_{suffix}", [[(description, big)]] * rounds, description)
        out.append(fig)
    rates = [len(b) / t for b, t in zip(batches, sample_times, strict=True)]
    out.append(
        harness.Figure(
            name="graph_build_crystals_per_s",
            unit="crystals/s",
            samples=rates,
            note=f"build_graph on the sample ({len(crystals)} crystals), one process",
        )
    )
    return out


if __name__ == "__main__":
    harness.main(figures)
