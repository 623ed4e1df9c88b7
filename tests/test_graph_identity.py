"""The check fig_graphs.py runs on every graph it times: it passes, and it can fail.

DGL lane (jarvis.core.graphs imports dgl). Also extends the jarvis comparison to a
54-atom supercell of a bundled sample crystal, read as alpha-tui reads it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.dgl

pytest.importorskip("dgl")
pytest.importorskip("jarvis.core.graphs")

from benchmarks.graph_identity import graph_difference, reference_graph  # noqa: E402

from alpha_tui.data.graphs import build_graph  # noqa: E402
from alpha_tui.data.structures import read_structure  # noqa: E402

SAMPLE_CIF = Path(__file__).resolve().parents[1] / "sample_checkpoints/sample_data/bandgap/cif"


@pytest.fixture(scope="module")
def supercell():
    """C-diamond from the sample, 3x3x3: 54 atoms, many exact distance ties."""
    atoms = read_structure(SAMPLE_CIF / "C-diamond.cif")
    big = atoms.make_supercell_matrix(np.diag([3, 3, 3]).tolist())
    assert big.num_atoms == 54
    g, lg = reference_graph(big)
    return big, build_graph(big), g, lg


def test_sample_supercell_graph_is_jarvis_graph(supercell) -> None:
    atoms, ours, g, lg = supercell
    assert graph_difference(atoms, ours, g, lg) is None
    assert ours.num_edges == g.num_edges() and ours.num_line_edges == lg.num_edges()


def test_rattled_sample_supercell_graph_is_jarvis_graph() -> None:
    atoms = read_structure(SAMPLE_CIF / "Cu-fcc-rattle-1.cif")  # 8 atoms, no ties
    big = atoms.make_supercell_matrix(np.diag([2, 2, 2]).tolist())
    g, lg = reference_graph(big)
    assert graph_difference(big, build_graph(big), g, lg) is None


def _moved_image(ours, atoms):
    """Edge 0 now points at another periodic image of its destination."""
    r = ours.r.copy()
    r[0] += np.asarray(atoms.lattice.matrix[0], dtype=np.float32)
    return replace(ours, r=r)


def _nudged_vector(ours, atoms):
    r = ours.r.copy()
    r[0, 2] += 5e-5
    return replace(ours, r=r)


def _swapped_triplet(ours, atoms):
    """Triplet 0 joins bond a to a different bond leaving the same atom (count unchanged)."""
    lg_dst = ours.lg_dst.copy()
    a, b = int(ours.lg_src[0]), int(lg_dst[0])
    options = np.flatnonzero((ours.src == ours.src[b]) & (np.arange(ours.num_edges) != b))
    lg_dst[0] = next(int(c) for c in options if ours.r[c].tolist() != ours.r[b].tolist())
    assert ours.dst[a] == ours.src[lg_dst[0]]
    return replace(ours, lg_dst=lg_dst)


def _nudged_cosine(ours, atoms):
    cos = ours.angle_cos.copy()
    cos[0] -= 1e-4
    return replace(ours, angle_cos=cos)


def _dropped_triplet(ours, atoms):
    return replace(
        ours, lg_src=ours.lg_src[1:], lg_dst=ours.lg_dst[1:], angle_cos=ours.angle_cos[1:]
    )


def _other_element(ours, atoms):
    feats = ours.atom_features.copy()
    feats[0] = feats[0][::-1]
    return replace(ours, atom_features=feats)


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (_moved_image, "edge multisets"),
        (_nudged_vector, "edge vectors differ"),
        (_swapped_triplet, "triplets (bond pairs) differ"),
        (_nudged_cosine, "angle cosines differ"),
        (_dropped_triplet, "triplets, jarvis"),
        (_other_element, "atom features"),
    ],
)
def test_check_names_each_kind_of_difference(supercell, corrupt, message: str) -> None:
    atoms, ours, g, lg = supercell
    difference = graph_difference(atoms, corrupt(ours, atoms), g, lg)
    assert difference is not None and message in difference
